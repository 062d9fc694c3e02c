import { SandboxInfoSchema, SandboxListSchema, SandboxLogsSchema, type SandboxInfo } from "@dwl/protocol";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readServerLimits } from "../../src/limits.ts";
import { bundleObjectKey, forgetLoadedBundles, loadBundle } from "../../src/sandboxes/bundle-store.ts";
import { createSandbox, deleteSandbox, getSandbox, updateSandbox } from "../../src/sandboxes/service.ts";
import { call, execute, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";
import { ExecuteResponseSchema } from "@dwl/protocol";

const app = `
let hits = 0;
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    hits++;
    if (url.pathname === "/echo") return new Response(request.body, { headers: { "content-type": request.headers.get("content-type") ?? "application/octet-stream" } });
    if (url.pathname === "/stream") {
      const body = new ReadableStream({ async start(c) { for (const part of ["a", "b", "c"]) { c.enqueue(new TextEncoder().encode(part)); await new Promise((r) => setTimeout(r, 5)); } c.close(); } });
      return new Response(body);
    }
    if (url.pathname === "/boom") throw new Error("handler exploded");
    console.log("served", url.pathname, url.search);
    return Response.json({ path: url.pathname, query: url.search, method: request.method, hits, auth: request.headers.get("authorization"), prefix: request.headers.get("x-forwarded-prefix") });
  },
};`;

async function create(body: object, key?: string): Promise<SandboxInfo> {
  const res = await call("/sandboxes", { method: "POST", body: JSON.stringify(body), ...(key ? { key } : {}) });
  expect(res.status, await res.clone().text()).toBe(201);
  return SandboxInfoSchema.parse(await res.json());
}

const http = (id: string, path: string, init: RequestInit & { key?: string } = {}) =>
  call(`/sandboxes/${id}/http${path}`, init);

describe("sandboxes", () => {
  it("serves several paths with method, query and state kept between requests", async () => {
    const sandbox = await create({ code: app, name: "demo app" });
    expect(sandbox).toMatchObject({
      name: "demo app",
      version: 1,
      url: expect.stringMatching(new RegExp(`/sandboxes/${sandbox.id}/http/$`)),
    });
    const first = await (await http(sandbox.id, "/hello?x=1")).json();
    expect(first).toEqual({
      path: "/hello",
      query: "?x=1",
      method: "GET",
      hits: 1,
      auth: null,
      prefix: `/sandboxes/${sandbox.id}/http`,
    });
    const second = await (await http(sandbox.id, "/other", { method: "DELETE" })).json();
    expect(second).toMatchObject({ path: "/other", method: "DELETE", hits: 2 });
  });

  it("keeps the loader's origin and the path as sent, even when the path starts with //", async () => {
    const sandbox = await create({ code: "export default { fetch: (req) => new Response(req.url) }" });
    for (const [path, seen] of [
      ["//evil.com/x", "http://loader.test//evil.com/x"],
      ["//double", "http://loader.test//double"],
      ["///a//b?q=//c", "http://loader.test///a//b?q=//c"],
      ["/", "http://loader.test/"],
    ]) {
      expect(await (await http(sandbox.id, path ?? "")).text(), path).toBe(seen);
    }
  });

  it("hands the program's redirects to the client as they are, running the program once per request", async () => {
    const sandbox = await create({
      code: `let runs = 0;
export default {
  fetch(request) {
    runs++;
    const { pathname } = new URL(request.url);
    if (pathname === "/login") return new Response(null, { status: 303, headers: { location: "/home", "set-cookie": "session=abc; Path=/" } });
    if (pathname === "/form") return new Response(null, { status: 307, headers: { location: "/elsewhere" } });
    if (pathname === "/away") return Response.redirect("https://example.com/x", 302);
    if (pathname === "/loop") return new Response(null, { status: 302, headers: { location: "/loop?" + runs } });
    return new Response("runs " + runs);
  },
};`,
    });
    const login = await http(sandbox.id, "/login", { method: "POST", body: "user=ada", redirect: "manual" });
    expect([login.status, login.headers.get("location"), login.headers.get("set-cookie")]).toEqual([
      303,
      "/home",
      "session=abc; Path=/",
    ]);
    const form = await http(sandbox.id, "/form", { method: "POST", body: "abcdef", redirect: "manual" });
    expect([form.status, form.headers.get("location")]).toEqual([307, "/elsewhere"]);
    const away = await http(sandbox.id, "/away", { redirect: "manual" });
    expect([away.status, away.headers.get("location")]).toEqual([302, "https://example.com/x"]);
    const loop = await http(sandbox.id, "/loop", { redirect: "manual" });
    expect([loop.status, loop.headers.get("location")]).toEqual([302, "/loop?4"]);
    expect(await (await http(sandbox.id, "/count")).text()).toBe("runs 5");
  });

  it("keeps each sandbox's module state its own, even for two sandboxes of the same program", async () => {
    const code =
      "const seen = [];\nexport default { fetch(req) { const s = new URL(req.url).searchParams.get('s'); if (s) seen.push(s); return Response.json(seen); } }";
    const [first, second] = [await create({ code }), await create({ code })];
    expect(await (await http(first.id, "/?s=secret-of-first")).json()).toEqual(["secret-of-first"]);
    expect(await (await http(second.id, "/")).json()).toEqual([]);
    expect(await (await http(first.id, "/")).json()).toEqual(["secret-of-first"]);
  });

  it("answers Response.error() as the program's runtime error (500 with its type), not the loader's", async () => {
    const sandbox = await create({ code: "export default { fetch: () => Response.error() }" });
    const res = await http(sandbox.id, "/");
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: { type: "runtime", name: "TypeError" } });
  });

  it("round-trips binary and streamed bodies", async () => {
    const sandbox = await create({ code: app });
    const bytes = new Uint8Array(256).map((_, i) => i);
    const echoed = await http(sandbox.id, "/echo", {
      method: "POST",
      body: bytes,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(new Uint8Array(await echoed.arrayBuffer())).toEqual(bytes);
    expect(await (await http(sandbox.id, "/stream")).text()).toBe("abc");
  });

  it("runs the new version right after an update, and answers 404 right after a delete", async () => {
    const sandbox = await create({ code: "export default { fetch: () => new Response('v1') }" });
    expect(await (await http(sandbox.id, "/")).text()).toBe("v1");
    const updated = await call(`/sandboxes/${sandbox.id}`, {
      method: "PUT",
      body: JSON.stringify({ code: "export default { fetch: () => new Response('v2') }" }),
    });
    expect(SandboxInfoSchema.parse(await updated.json()).version).toBe(2);
    expect(await (await http(sandbox.id, "/")).text()).toBe("v2");
    expect((await call(`/sandboxes/${sandbox.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await http(sandbox.id, "/")).status).toBe(404);
    expect((await call(`/sandboxes/${sandbox.id}`)).status).toBe(404);
  });

  it("keeps the settings an update does not name: new code for an app keeps its namespace, limits and name", async () => {
    const namespace = `kept-${crypto.randomUUID().slice(0, 8)}`;
    const sandbox = await create({
      name: "app",
      code: "export default async (_, env) => { await env.KV.put('k', 'data'); return 'v1'; }",
      storage: { namespace },
      limits: { cpuMs: 100 },
    });
    const first = await (await call(`/sandboxes/${sandbox.id}/execute`, { method: "POST", body: "{}" })).json();
    expect(first).toMatchObject({ ok: true, result: "v1" });
    const updated = await call(`/sandboxes/${sandbox.id}`, {
      method: "PUT",
      body: JSON.stringify({ code: "export default async (_, env) => env.KV.get('k')" }),
    });
    const info = SandboxInfoSchema.parse(await updated.json());
    expect(info).toMatchObject({ version: 2, name: "app", storage: { namespace }, limits: { cpuMs: 100 } });
    const read = await (await call(`/sandboxes/${sandbox.id}/execute`, { method: "POST", body: "{}" })).json();
    expect(read).toMatchObject({ ok: true, result: "data" });
    // A setting the update names replaces the stored one.
    const moved = await call(`/sandboxes/${sandbox.id}`, {
      method: "PUT",
      body: JSON.stringify({
        code: "export default async (_, env) => env.KV.get('k')",
        storage: { namespace: "elsewhere" },
      }),
    });
    expect(SandboxInfoSchema.parse(await moved.json()).storage).toEqual({ namespace: "elsewhere" });
    // An empty setting clears the stored one.
    const cleared = await call(`/sandboxes/${sandbox.id}`, {
      method: "PUT",
      body: JSON.stringify({ code: "export default () => 1", limits: {} }),
    });
    expect(SandboxInfoSchema.parse(await cleared.json()).limits?.cpuMs).not.toBe(100);
  });

  it("changes settings alone when an update has no code, keeping the program; refuses program fields without it", async () => {
    const namespace = `set-${crypto.randomUUID().slice(0, 8)}`;
    const sandbox = await create({
      name: "app",
      files: { "main.ts": "export default async (_: unknown, env: any) => (await env.KV.get('k')) ?? 'none'" },
      entry: "main.ts",
      limits: { cpuMs: 100 },
    });
    expectOk(await execute({ code: "export default (_, env) => env.KV.put('k', 'moved')", storage: { namespace } }));
    const put = (body: object, id = sandbox.id) =>
      call(`/sandboxes/${id}`, { method: "PUT", body: JSON.stringify(body) });
    const updated = await put({ storage: { namespace }, name: "renamed" });
    expect(updated.status).toBe(200);
    const info = SandboxInfoSchema.parse(await updated.json());
    expect(info).toMatchObject({
      version: 2,
      name: "renamed",
      entry: "main.ts",
      storage: { namespace },
      limits: { cpuMs: 100 },
    });
    const run = await (await call(`/sandboxes/${sandbox.id}/execute`, { method: "POST", body: "{}" })).json();
    expect(run).toMatchObject({ ok: true, result: "moved" });
    for (const field of ["entry", "dependencies", "language"] as const) {
      const value = { entry: "main.ts", dependencies: { zod: "*" }, language: "javascript" }[field];
      const res = await put({ [field]: value });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { issues: { path: unknown[] }[] } }).error.issues[0]?.path).toEqual([
        field,
      ]);
    }
    const bad = await put({ egress: { allow: ["not a host"] } });
    expect(bad.status).toBe(400);
    expect((await put({ name: "x" }, "sb_00000000000000000000")).status).toBe(404);
    expect(SandboxInfoSchema.parse(await (await call(`/sandboxes/${sandbox.id}`)).json()).version).toBe(2);
  });

  it("keeps a settings update that lands while a code update compiles: the registry merges what each names", async () => {
    const sandbox = await create({
      code: "export default () => 1",
      limits: { cpuMs: 100 },
      egress: { allow: ["a.example.com"] },
    });
    const registry = env.SANDBOXES.get(env.SANDBOXES.idFromName("local"));
    const before = await getSandbox(sandbox.id, { env, tenant: "local" } as never);
    // The settings update lands first; the code update, which named no settings, writes after it.
    await registry.updateSettings(sandbox.id, { settings: { limits: { cpuMs: 777 }, egress: {} } });
    await registry.update(sandbox.id, { entry: before.entry, bundleKey: before.bundleKey, settings: {} });
    const info = SandboxInfoSchema.parse(await (await call(`/sandboxes/${sandbox.id}`)).json());
    expect(info).toMatchObject({ version: 3, limits: { cpuMs: 777 }, egress: {} });
  });

  it("answers another tenant's sandbox with 404, never 403", async () => {
    const sandbox = await create({ code: app });
    for (const res of [
      await http(sandbox.id, "/", { key: OTHER_TENANT_KEY }),
      await call(`/sandboxes/${sandbox.id}`, { key: OTHER_TENANT_KEY }),
      await call(`/sandboxes/${sandbox.id}`, { method: "DELETE", key: OTHER_TENANT_KEY }),
    ]) {
      expect(res.status).toBe(404);
    }
    const list = SandboxListSchema.parse(await (await call("/sandboxes", { key: OTHER_TENANT_KEY })).json());
    expect(list.sandboxes.map((s) => s.id)).not.toContain(sandbox.id);
  });

  it("lists the tenant's sandboxes with pagination", async () => {
    const ids = [(await create({ code: app, name: "p1" })).id, (await create({ code: app, name: "p2" })).id];
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = SandboxListSchema.parse(
        await (await call(`/sandboxes?limit=2${cursor ? `&cursor=${cursor}` : ""}`)).json(),
      );
      expect(page.sandboxes.length).toBeLessThanOrEqual(2);
      seen.push(...page.sandboxes.map((s) => s.id));
      cursor = page.cursor;
    } while (cursor);
    for (const id of ids) expect(seen).toContain(id);
  });

  it("goes on past a page whose last sandbox was deleted, and refuses a cursor it did not hand out", async () => {
    const key = OTHER_TENANT_KEY;
    const ids: string[] = [];
    for (const name of ["c1", "c2", "c3"]) ids.push((await create({ code: app, name }, key)).id);
    const page = async (cursor?: string) => {
      const res = await call(`/sandboxes?limit=1${cursor ? `&cursor=${cursor}` : ""}`, { key });
      return { status: res.status, body: (await res.json()) as { sandboxes?: { id: string }[]; cursor?: string } };
    };
    // One sandbox a page, up to the page that ends with c2.
    let { body } = await page();
    while (body.sandboxes?.[0]?.id !== ids[1] && body.cursor) body = (await page(body.cursor)).body;
    expect(body.sandboxes?.[0]?.id).toBe(ids[1]);
    expect((await call(`/sandboxes/${ids[1]}`, { method: "DELETE", key })).status).toBe(204);
    expect((await page(body.cursor)).body.sandboxes?.map((s) => s.id)).toEqual([ids[2]]);
    const bad = await page("garbage");
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('"path":["cursor"]');
  });

  it("calls the default function with POST /sandboxes/:id/execute", async () => {
    const sandbox = await create({
      code: "let calls = 0; export default (input) => ({ doubled: input * 2, calls: ++calls })",
    });
    const run = async (input: number) =>
      ExecuteResponseSchema.parse(
        await (
          await call(`/sandboxes/${sandbox.id}/execute`, { method: "POST", body: JSON.stringify({ input }) })
        ).json(),
      );
    expect(expectOk(await run(21)).result).toEqual({ doubled: 42, calls: 1 });
    expect(expectOk(await run(1)).result).toEqual({ doubled: 2, calls: 2 });
  });

  it("reports handler errors with the user's line and keeps them in the logs", async () => {
    const sandbox = await create({ code: app });
    await http(sandbox.id, "/logged?q=1");
    const failed = await http(sandbox.id, "/boom");
    expect(failed.status).toBe(500);
    const body = (await failed.json()) as { error: { type: string; message: string; stack: string } };
    expect(body.error).toMatchObject({ type: "runtime", message: "handler exploded" });
    expect(body.error.stack).toMatch(/index\.ts:\d+:\d+/);
    const logs = SandboxLogsSchema.parse(await (await call(`/sandboxes/${sandbox.id}/logs`)).json());
    expect(logs.entries.map((e) => e.message)).toEqual(
      expect.arrayContaining(["served /logged ?q=1", "Error: handler exploded"]),
    );
  });

  it("recreates the isolate from the stored bundle (a fresh loader instance)", async () => {
    const sandbox = await create({ code: "export default { fetch: () => new Response('from storage') }" });
    forgetLoadedBundles();
    expect(await (await http(sandbox.id, "/")).text()).toBe("from storage");
    const stored = await env.FILES.list({ prefix: "__dwl/bundles/" });
    expect(stored.objects.length).toBeGreaterThan(0);
  });

  it("refuses a program that does not compile with 400 naming the source", async () => {
    const res = await call("/sandboxes", { method: "POST", body: JSON.stringify({ code: "export default {" }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { issues: { path: string[] }[] } }).error.issues[0]?.path).toEqual(["code"]);
  });

  it("streams a body past the sandbox's timeoutMs, computing as it goes: the deadline is for the answer", async () => {
    const sandbox = await create({
      code: `export default { fetch() {
        let n = 0;
        return new Response(new ReadableStream({
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 250));
            let s = 0; for (let i = 0; i < 2e4; i++) s += i;
            controller.enqueue(new TextEncoder().encode("chunk " + n + " " + s + "\\n"));
            if (++n === 8) controller.close();
          },
        }));
      } };`,
      limits: { cpuMs: 50, timeoutMs: 1_000 },
    });
    const res = await http(sandbox.id, "/");
    expect(res.status).toBe(200);
    // 8 chunks 250 ms apart: the last ones come well after the 1,000 ms deadline.
    expect((await res.text()).trim().split("\n")).toHaveLength(8);
  });

  it("answers WebSocket messages past the handshake's timeoutMs, computing for each", async () => {
    const sandbox = await create({
      code: `export default { fetch() {
        const [client, server] = Object.values(new WebSocketPair());
        server.accept();
        server.addEventListener("message", (event) => {
          let s = 0; for (let i = 0; i < 2e4; i++) s += i;
          server.send(event.data + " " + s);
        });
        return new Response(null, { status: 101, webSocket: client });
      } };`,
      limits: { cpuMs: 50, timeoutMs: 1_000 },
    });
    const res = await http(sandbox.id, "/", { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const socket = res.webSocket as WebSocket;
    socket.accept();
    const replies: string[] = [];
    socket.addEventListener("message", (event) => replies.push(String(event.data)));
    for (const word of ["early", "late"]) {
      // "late" is sent 1,500 ms after the handshake: past its 1,000 ms deadline.
      await new Promise((r) => setTimeout(r, word === "late" ? 1_500 : 0));
      socket.send(word);
      for (let wait = 0; wait < 50 && replies.length < (word === "late" ? 2 : 1); wait++)
        await new Promise((r) => setTimeout(r, 20));
    }
    socket.close();
    expect(replies).toEqual(["early 199990000", "late 199990000"]);
  });

  it("refuses a bad name with one issue that says what is wrong with it", async () => {
    for (const [name, message] of [
      ["", /Too small/],
      ["a\u0007b", /control characters/],
    ] as const) {
      const res = await call("/sandboxes", { method: "POST", body: JSON.stringify({ code: app, name }) });
      expect(res.status).toBe(400);
      const issues = ((await res.json()) as { error: { issues: { path: string[]; message: string }[] } }).error.issues;
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toEqual(["name"]);
      expect(issues[0]?.message).toMatch(message);
    }
  });

  it("applies its limits to HTTP requests (cpu_limit as a 500 with the error type)", async () => {
    const sandbox = await create({ code: "export default { fetch() { for (;;) {} } }", limits: { cpuMs: 20 } });
    const res = await http(sandbox.id, "/");
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("cpu_limit");
  });

  it("gives its program the sandbox's storage namespace", async () => {
    const namespace = `sb-${crypto.randomUUID().slice(0, 8)}`;
    const sandbox = await create({
      code: "export default { async fetch(_, env) { await env.KV.put('k', 'v'); return new Response(await env.KV.get('k')); } }",
      storage: { namespace },
    });
    expect(await (await http(sandbox.id, "/")).text()).toBe("v");
    expect(await env.KV.get(`t/local/${namespace}/k`)).toBe("v");
  });

  it("treats a script without a fetch handler as a clear error", async () => {
    const sandbox = await create({ code: "export default () => 1" });
    const res = await http(sandbox.id, "/");
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("no fetch handler");
  });
});

describe("sandbox limits", () => {
  const program = (marker: string, pad = 0) => ({
    code: `export default { fetch: () => new Response(${JSON.stringify(marker)}) }; // ${"x".repeat(pad)}`,
  });

  /** A fresh tenant with these quota vars, driving the service as the routes do. */
  function tenantWith(vars: Partial<Env> = {}) {
    const tenant = `quota-${crypto.randomUUID()}`;
    const context = { env, tenant, server: readServerLimits(vars) };
    const prefix = `__dwl/bundles/t/${encodeURIComponent(tenant)}/`;
    return {
      context,
      create: (body: object) => createSandbox(body, context, "http://x"),
      update: (id: string, body: object) => updateSandbox(id, body, context, "http://x"),
      remove: (id: string) => deleteSandbox(id, context),
      bundles: async () => (await env.FILES.list({ prefix })).objects,
    };
  }

  it("refuses a sandbox past the tenant's limit with 409, storing nothing; exactly the limit passes", async () => {
    const t = tenantWith({ DWL_MAX_SANDBOXES: "2" });
    await t.create(program("one"));
    await t.create(program("two"));
    const before = (await env.FILES.list({ prefix: "__dwl/bundles/" })).objects.length;
    const err = await t.create(program(crypto.randomUUID())).catch((e: unknown) => e);
    expect(err).toMatchObject({
      status: 409,
      type: "invalid_request",
      message: expect.stringContaining("DWL_MAX_SANDBOXES"),
    });
    expect((await env.FILES.list({ prefix: "__dwl/bundles/" })).objects.length).toBe(before);
  });

  it("deletes the bundles of replaced versions and of a deleted sandbox (8 updates of ~400 KB, then a delete)", async () => {
    const t = tenantWith();
    const sandbox = await t.create(program("v0", 400_000));
    for (let v = 1; v <= 8; v++) {
      await t.update(sandbox.id, program(`v${v}`, 400_000));
      const stored = await t.bundles();
      expect(stored).toHaveLength(1);
      expect(stored[0]?.size).toBeGreaterThan(400_000);
    }
    const res = await call(`/sandboxes/${sandbox.id}`, { method: "DELETE" });
    expect(res.status).toBe(404); // another tenant (the dev key's) cannot reach it
    await t.remove(sandbox.id);
    expect(await t.bundles()).toEqual([]);
  });

  it("keeps a bundle two sandboxes share until the last of them is deleted, and never another tenant's", async () => {
    const t = tenantWith();
    const other = tenantWith();
    const shared = program(`shared ${crypto.randomUUID()}`);
    const a = await t.create(shared);
    const b = await t.create(shared);
    const theirs = await other.create(shared);
    expect(await t.bundles()).toHaveLength(1);
    await t.remove(a.id);
    expect(await t.bundles()).toHaveLength(1);
    forgetLoadedBundles();
    expect(await loadBundle(env.FILES, t.context.tenant, (await getSandbox(b.id, t.context)).bundleKey)).not.toBeNull();
    await t.remove(b.id);
    expect(await t.bundles()).toEqual([]);
    expect(await other.bundles()).toHaveLength(1);
    await other.remove(theirs.id);
    expect(await other.bundles()).toEqual([]);
  });

  it("never collects a bundle a write has reserved but not yet committed", async () => {
    const t = tenantWith();
    const registry = env.SANDBOXES.get(env.SANDBOXES.idFromName(t.context.tenant));
    const key = `reserved-${crypto.randomUUID()}`;
    const object = bundleObjectKey(t.context.tenant, key);
    expect(await registry.reserveBundle(key, object, 2, 100)).toBeNull();
    await env.FILES.put(object, "{}");
    expect(await registry.collect()).toBe(0);
    expect(await env.FILES.head(object)).not.toBeNull();
    // A failed write gives its reservation back; the next sweep takes the bundle.
    await registry.releaseBundle(key);
    expect(await registry.collect()).toBe(1);
    expect(await env.FILES.head(object)).toBeNull();
  });

  it("still loads a bundle stored before bundles were per tenant", async () => {
    const key = `legacy-${crypto.randomUUID()}`;
    await env.FILES.put(`__dwl/bundles/${key}.json`, JSON.stringify({ legacy: true }));
    forgetLoadedBundles();
    expect(await loadBundle(env.FILES, "any-tenant", key)).toEqual({ legacy: true });
  });

  it("refuses a bundle past the tenant's storage quota with 413; exactly the quota passes, and an update may reuse its own bytes", async () => {
    const scratch = tenantWith();
    const [p1, p2, p3] = [program("first", 1000), program("second", 2000), program("third", 1000)];
    const sizes: number[] = [];
    for (const p of [p1, p2]) {
      const s = await scratch.create(p);
      sizes.push((await scratch.bundles())[0]?.size ?? 0);
      await scratch.remove(s.id);
    }
    const t = tenantWith({ DWL_MAX_SANDBOX_STORAGE_BYTES: String(sizes[0]! + sizes[1]!) });
    const first = await t.create(p1);
    await t.create(p2);
    const err = await t.create(p3).catch((e: unknown) => e);
    expect(err).toMatchObject({
      status: 413,
      type: "payload_too_large",
      message: expect.stringContaining("DWL_MAX_SANDBOX_STORAGE_BYTES"),
    });
    expect(await t.bundles()).toHaveLength(2);
    // The update frees the first bundle, so the same-size third fits in its place.
    await t.update(first.id, p3);
    expect(await t.bundles()).toHaveLength(2);
  });

  it("answers 429 with Retry-After past the tenant's writes per minute; exactly the rate passes", async () => {
    const t = tenantWith({ DWL_SANDBOX_WRITES_PER_MINUTE: "3" });
    const sandbox = await t.create(program("r0"));
    await t.update(sandbox.id, program("r1"));
    await t.update(sandbox.id, program("r2"));
    const err = await t.update(sandbox.id, program("r3")).catch((e: unknown) => e);
    expect(err).toMatchObject({
      status: 429,
      type: "rate_limited",
      headers: { "retry-after": expect.stringMatching(/^[1-9]\d*$/) },
    });
    expect((await getSandbox(sandbox.id, t.context)).version).toBe(3);
    // A delete is not a write of this quota: it frees storage.
    await t.remove(sandbox.id);
    expect(await t.bundles()).toEqual([]);
  });
});
