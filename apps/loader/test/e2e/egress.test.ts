import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CredentialStore } from "../../src/egress/credential-store.ts";
import { call, execute, executeRejected, expectFailure, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

const upstream = env.DWL_TEST_UPSTREAM as string;
const upstreamHost = new URL(upstream).host; // 127.0.0.1:<port>
const otherHost = `localhost:${new URL(upstream).port}`; // same server, another host name
const unique = () => crypto.randomUUID().slice(0, 8);

async function seen(path: string): Promise<{ headers: Record<string, string>; body: string } | null> {
  return (await fetch(`${upstream}/__seen?path=${encodeURIComponent(path)}`)).json();
}

async function putCredential(name: string, body: object, key?: string): Promise<Response> {
  return call(`/credentials/${name}`, { method: "PUT", body: JSON.stringify(body), ...(key ? { key } : {}) });
}

describe("egress policy", () => {
  it("denies by default, naming the host and the rule", async () => {
    const res = expectFailure(await execute({ code: `export default () => fetch("${upstream}/x")` }));
    expect(res.error).toMatchObject({ type: "egress_denied", name: "EgressDeniedError" });
    expect(res.error.message).toContain("127.0.0.1");
    expect(res.error.message).toContain("egress.allow");
    expect(res.egress).toEqual([
      expect.objectContaining({ method: "GET", url: `${upstream}/x`, denied: res.error.message }),
    ]);
  });

  it("lets the program catch a denial and go on", async () => {
    const res = expectOk(
      await execute({
        code: `export default async () => { try { await fetch("https://api.example.com/"); } catch (e) { return e.name; } }`,
      }),
    );
    expect(res.result).toBe("EgressDeniedError");
  });

  it("allows a listed host and audits the call", async () => {
    const path = `/allowed-${unique()}`;
    const res = expectOk(
      await execute({
        code: `export default async () => { const r = await fetch("${upstream}${path}", { method: "POST", body: "hi" }); return [r.status, (await r.json()).body, r.headers.get("x-dwl-egress")]; }`,
        egress: { allow: [upstreamHost] },
      }),
    );
    expect(res.result).toEqual([200, "hi", null]); // the upstream's forged x-dwl-egress header is stripped
    expect(res.egress).toEqual([expect.objectContaining({ method: "POST", url: `${upstream}${path}`, status: 200 })]);
  });

  it("rejects with a TypeError, as fetch does, when an allowed host gives no answer", async () => {
    // A port nothing listens on: the connection is refused.
    const closed = "127.0.0.1:9";
    const res = expectOk(
      await execute({
        code: `export default async () => { try { await fetch("http://${closed}/x"); return "answered"; } catch (err) { return [err.name, err.message]; } }`,
        egress: { allow: [closed] },
      }),
    );
    expect(res.result).toEqual([
      "TypeError",
      expect.stringMatching(
        /^fetch failed: the request to 127\.0\.0\.1 got no answer \(DNS, connection or TLS failed: /,
      ),
    ]);
    expect(res.egress).toEqual([
      expect.objectContaining({
        url: `http://${closed}/x`,
        status: 0,
        error: expect.stringContaining("got no answer"),
      }),
    ]);
  });

  it("refuses a port the rule does not name", async () => {
    const res = expectFailure(
      await execute({ code: `export default () => fetch("${upstream}/")`, egress: { allow: ["127.0.0.1"] } }),
    );
    expect(res.error.type).toBe("egress_denied");
    expect(res.error.message).toContain("port");
  });

  const ssrf = [
    "http://167772161/",
    "http://0x0a000001/",
    "http://012.0.0.1/",
    "http://10.1/",
    "http://10.0.0.1./",
    "http://a@10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://0.0.0.0/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://metadata.google.internal/",
  ];
  it.each(ssrf)("refuses %s even when * is allowed", async (url) => {
    const res = expectFailure(
      await execute({ code: `export default () => fetch(${JSON.stringify(url)})`, egress: { allow: ["*"] } }),
    );
    expect(res.error.type).toBe("egress_denied");
  });

  it("refuses schemes other than http and https", async () => {
    const res = expectOk(
      await execute({
        code: `export default async () => { try { await fetch("ftp://example.com/x"); } catch (e) { return e.message; } }`,
        egress: { allow: ["*"] },
      }),
    );
    expect(String(res.result)).toMatch(/ftp|scheme|http/i);
  });

  it("answers an invalid allow rule with 400 naming the entry", async () => {
    const { status, body } = await executeRejected({
      code: "1",
      egress: { allow: ["ok.example.com", "https://bad/path"] },
    });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["egress", "allow", 1]);
  });

  it.each(["*.*", "*.com", "-bad-.com"])("refuses the allow rule %j with 400 naming the entry", async (rule) => {
    const { status, body } = await executeRejected({ code: "1", egress: { allow: ["ok.example.com", rule] } });
    expect(status).toBe(400);
    expect(body.error.type).toBe("invalid_request");
    expect(body.error.issues?.[0]?.path).toEqual(["egress", "allow", 1]);
  });
});

describe("credentials", () => {
  it("stores, lists (without values) and deletes credentials per tenant", async () => {
    const name = `c${unique()}`;
    expect((await putCredential(name, { value: "top-secret-value", hosts: ["api.example.com"] })).status).toBe(200);
    const list = await (await call("/credentials")).text();
    expect(list).toContain(name);
    expect(list).not.toContain("top-secret-value");
    expect(JSON.parse(list).credentials.find((c: { name: string }) => c.name === name)).toMatchObject({
      hosts: ["api.example.com"],
      header: "authorization",
    });
    expect(await (await call("/credentials", { key: OTHER_TENANT_KEY })).text()).not.toContain(name);
    expect((await call(`/credentials/${name}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(`/credentials/${name}`, { method: "DELETE" })).status).toBe(404);
  });

  it("answers a sandbox whose stored credential was deleted with 409 not_configured, naming the setting", async () => {
    const name = `c${unique()}`;
    expect((await putCredential(name, { value: "v", hosts: ["api.example.com"] })).status).toBe(200);
    const created = await call("/sandboxes", {
      method: "POST",
      body: JSON.stringify({
        code: "export default { fetch: () => new Response('hi'), }",
        egress: { credentials: [name] },
      }),
    });
    const { id } = (await created.json()) as { id: string };
    expect((await call(`/credentials/${name}`, { method: "DELETE" })).status).toBe(204);
    for (const res of [
      await call(`/sandboxes/${id}/http/`),
      await call(`/sandboxes/${id}/execute`, { method: "POST", body: JSON.stringify({ input: 1 }) }),
    ]) {
      expect(res.status).toBe(409);
      const body = (await res.json()) as { error: { type: string; message: string; issues: { path: unknown[] }[] } };
      expect(body.error.type).toBe("not_configured");
      expect(body.error.message).toContain(`sandbox "${id}" cannot run as stored: `);
      expect(body.error.message).toContain(`update it (PUT /sandboxes/${id})`);
      expect(body.error.issues[0]?.path).toEqual(["egress", "credentials", 0]);
    }
    // Repaired as the answer says, without the code (GET does not give it back): settings alone.
    const repaired = await call(`/sandboxes/${id}`, { method: "PUT", body: JSON.stringify({ egress: {} }) });
    expect(repaired.status).toBe(200);
    expect(await (await call(`/sandboxes/${id}/http/`)).text()).toBe("hi");
  });

  it("rejects bad credential requests naming the field", async () => {
    const res = await putCredential("x", { value: "v", hosts: ["*"] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { issues: { path: unknown[] }[] } }).error.issues[0]?.path).toEqual([
      "hosts",
      0,
    ]);
    // The entry at fault, by its index, for a rule that does not parse as for one too wide.
    const third = await putCredential("x", { value: "v", hosts: ["a.com", "b.com", "https://c.com/path"] });
    expect(((await third.json()) as { error: { issues: { path: unknown[] }[] } }).error.issues[0]?.path).toEqual([
      "hosts",
      2,
    ]);
    expect((await putCredential("bad name", { value: "v", hosts: ["a.com"] })).status).toBe(400);
    expect((await putCredential("x", { value: "line\nbreak", hosts: ["a.com"] })).status).toBe(400);
  });

  it("answers an unknown credential name with 400", async () => {
    const { status, body } = await executeRejected({ code: "1", egress: { credentials: ["does-not-exist"] } });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["egress", "credentials", 0]);
  });

  it("injects the credential upstream, where the program cannot see it", async () => {
    const name = `gh${unique()}`;
    await putCredential(name, { value: "s3cret-token-value", hosts: [upstreamHost] });
    const path = `/inject-${unique()}`;
    const res = expectOk(
      await execute({
        code: `export default async (_, env) => {
          const req = new Request("${upstream}${path}", { headers: { authorization: "Bearer forged-by-program" } });
          const r = await fetch(req);
          return { status: r.status, requestHeaders: [...req.headers], env: JSON.stringify(env), secrets: env.SECRETS };
        }`,
        egress: { credentials: [name] },
      }),
    );
    expect((await seen(path))?.headers.authorization).toBe("Bearer s3cret-token-value");
    const observable = JSON.stringify(res);
    expect(observable).not.toContain("s3cret-token-value");
    expect(res.egress).toEqual([expect.objectContaining({ status: 200, credentials: [name] })]);
  });

  it("hands back the placeholder, not the value, when the host echoes the credential (issue 20)", async () => {
    const name = `echo${unique()}`;
    await putCredential(name, { value: "echoed-secret-value", hosts: [upstreamHost] });
    const res = expectOk(
      await execute({
        code: `export default async (_, env) => { const r = await fetch("${upstream}/echo-${unique()}"); return { header: r.headers.get("x-echoed-authorization"), body: await r.text(), placeholder: env.SECRETS["${name}"] }; }`,
        egress: { credentials: [name] },
      }),
    );
    const { header, body, placeholder } = res.result as { header: string; body: string; placeholder: string };
    expect(JSON.stringify(res)).not.toContain("echoed-secret-value");
    expect(header).toBe(`Bearer ${placeholder}`);
    expect(JSON.parse(body).headers.authorization).toBe(`Bearer ${placeholder}`);
  });

  it("hands back the placeholder in every body the host echoes into: binary types, compressed answers, split chunks", async () => {
    const name = `echobin${unique()}`;
    await putCredential(name, { value: "binary-echoed-secret", hosts: [upstreamHost] });
    for (const query of [
      "type=application/octet-stream",
      "gzip=1",
      "type=image/png&gzip=1",
      "type=text/plain&gzip=1",
    ]) {
      const res = expectOk(
        await execute({
          code: `export default async (_, env) => { const r = await fetch("${upstream}/echo-${unique()}?${query}"); return { body: new TextDecoder().decode(await r.arrayBuffer()), placeholder: env.SECRETS["${name}"] }; }`,
          egress: { credentials: [name] },
        }),
      );
      const { body, placeholder } = res.result as { body: string; placeholder: string };
      expect(JSON.stringify(res), query).not.toContain("binary-echoed-secret");
      expect(JSON.parse(body).headers.authorization, query).toBe(`Bearer ${placeholder}`);
    }
  });

  it("swaps a placeholder for the value only on the credential's hosts", async () => {
    const name = `ph${unique()}`;
    await putCredential(name, {
      value: "placeholder-backed-secret",
      hosts: [upstreamHost],
      header: "x-api-key",
      format: "{value}",
    });
    const path = `/placeholder-${unique()}`;
    const ok = expectOk(
      await execute({
        code: `export default async (_, env) => (await fetch("${upstream}${path}", { headers: { "x-token": "token " + env.SECRETS["${name}"] } })).status`,
        egress: { credentials: [name] },
      }),
    );
    expect(ok.result).toBe(200);
    expect((await seen(path))?.headers["x-token"]).toBe("token placeholder-backed-secret");

    // The placeholder stands for the value alone, whatever the credential's own header format.
    const formatted = `ph${unique()}`;
    await putCredential(formatted, { value: "raw-secret", hosts: [upstreamHost] });
    const formattedPath = `/placeholder-${unique()}`;
    expectOk(
      await execute({
        code: `export default async (_, env) => (await fetch("${upstream}${formattedPath}", { headers: { "x-api-key": env.SECRETS["${formatted}"] } })).status`,
        egress: { credentials: [formatted] },
      }),
    );
    const formattedHeaders = (await seen(formattedPath))?.headers;
    expect([formattedHeaders?.["x-api-key"], formattedHeaders?.authorization]).toEqual([
      "raw-secret",
      "Bearer raw-secret",
    ]);

    const smuggle = expectFailure(
      await execute({
        code: `export default async (_, env) => fetch("http://${otherHost}/steal", { headers: { "x-token": env.SECRETS["${name}"] } })`,
        egress: { credentials: [name], allow: [otherHost] },
      }),
    );
    expect(smuggle.error.type).toBe("egress_denied");
    expect(await seen("/steal")).toBeNull();
  });

  it("sends a credential over plain http only to loopback, even with DWL_EGRESS_ALLOW_LOOPBACK (issue 20)", async () => {
    // The test loader runs with DWL_EGRESS_ALLOW_LOOPBACK=true; the host below is not loopback
    // and never resolves, so the audit alone shows whether the credential went with the request.
    const host = `cred-${unique()}.invalid`;
    const name = `hp${unique()}`;
    await putCredential(name, { value: "plain-http-secret", hosts: [host] });
    const injected = expectOk(
      await execute({
        code: `export default async () => { try { return (await fetch("http://${host}/x")).status; } catch (e) { return e.name; } }`,
        egress: { credentials: [name] },
        limits: { timeoutMs: 5_000 },
      }),
    );
    expect(injected.egress[0]?.credentials).toBeUndefined();
    const placeholder = expectFailure(
      await execute({
        code: `export default async (_, env) => fetch("http://${host}/x", { headers: { authorization: env.SECRETS["${name}"] } })`,
        egress: { credentials: [name] },
        limits: { timeoutMs: 5_000 },
      }),
    );
    expect(placeholder.error.type).toBe("egress_denied");
    expect(placeholder.error.message).toContain("over https");
  });

  it("gives a response its url and redirected, as fetch does", async () => {
    const final = `/final-${unique()}`;
    const res = expectOk(
      await execute({
        code: `export default async () => {
          const direct = await fetch("${upstream}${final}?q=1");
          const moved = await fetch("${upstream}/redirect?to=${encodeURIComponent(final)}");
          return [direct.url, direct.redirected, moved.url, moved.redirected];
        }`,
        egress: { allow: [upstreamHost] },
      }),
    );
    expect(res.result).toEqual([`${upstream}${final}?q=1`, false, `${upstream}${final}`, true]);
  });

  it("drops the credential when a redirect leads to another host", async () => {
    const name = `rd${unique()}`;
    await putCredential(name, { value: "redirect-secret", hosts: [upstreamHost] });
    const final = `/final-${unique()}`;
    const res = expectOk(
      await execute({
        code: `export default async () => (await fetch("${upstream}/redirect?to=${encodeURIComponent(`http://${otherHost}${final}`)}")).status`,
        egress: { credentials: [name], allow: [otherHost] },
      }),
    );
    expect(res.result).toBe(200);
    const arrived = await seen(final);
    expect(arrived).not.toBeNull();
    expect(arrived?.headers.authorization).toBeUndefined();
    // The audit names the first hop, which carried the credential, as well as the last, which did not.
    expect(res.egress).toEqual([
      expect.objectContaining({
        url: `http://${otherHost}${final}`,
        status: 200,
        redirects: [
          { url: expect.stringMatching(new RegExp(`^${upstream}/redirect`)), status: 302, credentials: [name] },
        ],
      }),
    ]);
    expect(res.egress[0]?.credentials).toBeUndefined();
  });

  it("honours the program's redirect mode: manual hands it the 3xx, error rejects, follow follows", async () => {
    const target = encodeURIComponent(`${upstream}/final-${unique()}`);
    const code = `export default async () => {
      const manual = await fetch("${upstream}/redirect?to=${target}", { redirect: "manual" });
      let error = null;
      try { await fetch("${upstream}/redirect?to=${target}", { redirect: "error" }); } catch (e) { error = e.name; }
      const follow = await fetch("${upstream}/redirect?to=${target}");
      return [manual.status, manual.headers.get("location"), error, follow.status];
    }`;
    const res = expectOk(await execute({ code, egress: { allow: [upstreamHost] } }));
    expect(res.result).toEqual([302, decodeURIComponent(target), "TypeError", 200]);
  });

  it("refuses a redirect to a host outside the policy", async () => {
    const res = expectFailure(
      await execute({
        code: `export default () => fetch("${upstream}/redirect?to=${encodeURIComponent("http://169.254.169.254/")}")`,
        egress: { allow: [upstreamHost] },
      }),
    );
    expect(res.error.type).toBe("egress_denied");
  });

  it("does not decrypt a ciphertext copied to another tenant", async () => {
    const name = `mv${unique()}`;
    await putCredential(name, { value: "tenant-bound-secret", hosts: [upstreamHost] });
    const stored = await env.KV.get(`__dwl/credentials/local/${name}`);
    await env.KV.put(`__dwl/credentials/other/${name}`, stored ?? "");
    const path = `/moved-${unique()}`;
    // The copy does not open, so the credential (and the hosts it would grant) is not there.
    const res = expectFailure(
      await execute(
        {
          code: `export default async () => (await fetch("${upstream}${path}")).status`,
          egress: { credentials: [name] },
        },
        OTHER_TENANT_KEY,
      ),
    );
    expect(res.error.type).toBe("egress_denied");
    expect(res.error.message).toContain(
      `credential "${name}" could not be opened (it does not decrypt with this loader's encryption key`,
    );
    expect(await seen(path)).toBeNull();
  });

  it("redacts query values of credential-bearing requests in the audit", async () => {
    const name = `q${unique()}`;
    await putCredential(name, { value: "v-for-query", hosts: [upstreamHost] });
    const res = expectOk(
      await execute({
        code: `export default async () => (await fetch("${upstream}/q?token=abc&x=1")).status`,
        egress: { credentials: [name] },
      }),
    );
    expect(res.egress[0]?.url).toBe(`${upstream}/q?token=REDACTED&x=REDACTED`);
  });

  describe("with the credential store failing during the run", () => {
    afterEach(() => vi.restoreAllMocks());

    it("refuses the request with a clear reason instead of sending it without the credential", async () => {
      const name = `down${unique()}`;
      await putCredential(name, { value: "never-sent-value", hosts: [upstreamHost] });
      // The run is admitted (the credential exists); opening it in the gateway then fails.
      vi.spyOn(CredentialStore.prototype, "open").mockRejectedValue(new Error("injected: KV get failed"));
      const path = `/down-${unique()}`;
      const res = expectFailure(
        await execute({
          code: `export default async () => (await fetch("${upstream}${path}")).status`,
          egress: { credentials: [name] },
        }),
      );
      expect(res.error.message).toContain(
        `credential "${name}" could not be opened (the credential store is unavailable`,
      );
      expect(JSON.stringify(res)).not.toContain("injected: KV get failed");
      expect(res.egress).toEqual([
        expect.objectContaining({
          url: `${upstream}${path}`,
          denied: expect.stringContaining("credential store is unavailable"),
        }),
      ]);
      expect(await seen(path)).toBeNull();
      vi.restoreAllMocks();
      expect(
        expectOk(
          await execute({
            code: `export default async () => (await fetch("${upstream}${path}")).status`,
            egress: { credentials: [name] },
          }),
        ).result,
      ).toBe(200);
    });
  });
});
