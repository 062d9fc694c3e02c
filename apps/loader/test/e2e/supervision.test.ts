/**
 * Effect notices to the local supervisor (src/supervision/effects.ts): before a supervised
 * request's first side effect the loader POSTs its token to `${DWL_SUPERVISOR_URL}/effects` and
 * waits for a 2xx; reads send nothing; a refused notice means the effect does not happen.
 * vitest.config.ts points DWL_SUPERVISOR_URL at the echo upstream; `fetch` is watched here (the
 * test shares the loader's isolate) to count notices and, for the failure cases, to refuse them.
 */
import {
  ExecuteResponseSchema,
  SUPERVISED_REQUEST_HEADER,
  THREAD_USE_HEADER,
  type ExecuteResponse,
} from "@dwl/protocol";
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../../src/app-env.ts";
import * as main from "../../src/index.ts";
import { scopePrefix } from "../../src/bindings/keys.ts";
import { beforeSideEffect, trackSupervisedRequest } from "../../src/supervision/effects.ts";
import { TOOLS } from "../../src/tools/registry.ts";
import { ToolEntrypoint } from "../../src/tools/tool-entrypoint.ts";
import { call, expectFailure, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

const upstream = env.DWL_TEST_UPSTREAM as string;
const upstreamHost = new URL(upstream).host;
const EFFECTS_URL = `${env.DWL_SUPERVISOR_URL}/effects`;
const unique = () => crypto.randomUUID().replaceAll("-", "").slice(0, 16);
const realFetch = globalThis.fetch;

interface Notice {
  requests: string[];
  /** What `probe` returned when the notice arrived (before the effect, it must not show it). */
  probed: unknown;
}

/** Records notices (passed on to the echo upstream, or refused with `status`); other fetches pass. */
function watchNotices(options: { status?: number; probe?: () => Promise<unknown> } = {}): Notice[] {
  const notices: Notice[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url !== EFFECTS_URL) return realFetch(input, init);
    const body = JSON.parse(String(init?.body)) as { requests: string[] };
    notices.push({ requests: body.requests, probed: await options.probe?.() });
    if (options.status !== undefined) return new Response("refused", { status: options.status });
    return realFetch(input, init);
  });
  return notices;
}

async function supervisedExecute(token: string | null, body: object, key?: string): Promise<ExecuteResponse> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers[SUPERVISED_REQUEST_HEADER] = token;
  const res = await call("/execute", { method: "POST", body: JSON.stringify(body), headers, ...(key ? { key } : {}) });
  expect(res.status, await res.clone().text()).toBe(200);
  return ExecuteResponseSchema.parse(await res.json());
}

const kvValue = (namespace: string, key: string, tenant = "local") => env.KV.get(scopePrefix(tenant, namespace) + key);

afterEach(() => vi.restoreAllMocks());

describe("effect notices", () => {
  it("sends none for a run that only reads", async () => {
    const notices = watchNotices();
    const namespace = `sup-${unique()}`;
    const code =
      "export default async (_, env) => [await env.KV.get('k'), (await env.KV.list()).keys.length, await env.FILES.head('f'), (await env.FILES.list()).objects.length]";
    expect(expectOk(await supervisedExecute(unique(), { code, storage: { namespace } })).result).toEqual([
      null,
      0,
      null,
      0,
    ]);
    expect(notices).toEqual([]);
  });

  it("reports a KV put exactly once, naming the request, before the value is written", async () => {
    const namespace = `sup-${unique()}`;
    const notices = watchNotices({ probe: () => kvValue(namespace, "a") });
    const token = unique();
    const code =
      "export default async (_, env) => { await env.KV.put('a', '1'); await env.KV.put('b', '2'); await env.KV.delete('b'); return 'done'; }";
    expect(expectOk(await supervisedExecute(token, { code, storage: { namespace } })).result).toBe("done");
    expect(notices).toEqual([{ requests: [token], probed: null }]);
    expect(await kvValue(namespace, "a")).toBe("1");
    // The real wire: the echo upstream received the notice as JSON.
    const seen = (await (
      await realFetch(`${upstream}/__seen?path=${encodeURIComponent(new URL(EFFECTS_URL).pathname)}`)
    ).json()) as { method: string; body: string };
    expect(seen.method).toBe("POST");
    expect(JSON.parse(seen.body)).toEqual({ requests: [token] });
  });

  it("does not perform the write when the supervisor refuses the notice", async () => {
    const namespace = `sup-${unique()}`;
    const notices = watchNotices({ status: 500 });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const token = unique();
    const res = expectFailure(
      await supervisedExecute(token, {
        code: "export default async (_, env) => env.KV.put('a', '1')",
        storage: { namespace },
      }),
    );
    expect(res.error).toMatchObject({ type: "runtime", name: "EffectNoticeError" });
    expect(res.error.message).toContain("the local supervisor could not record this side effect; it was not performed");
    expect(notices).toEqual([{ requests: [token], probed: undefined }]);
    expect(await kvValue(namespace, "a")).toBeNull();
  });

  it("does not write a file either when the notice fails", async () => {
    const namespace = `sup-${unique()}`;
    watchNotices({ status: 503 });
    const code =
      "export default async (_, env) => { try { await env.FILES.put('f.txt', 'x'); } catch (e) { return e.name; } }";
    expect(expectOk(await supervisedExecute(unique(), { code, storage: { namespace } })).result).toBe(
      "EffectNoticeError",
    );
    expect(await env.FILES.head(`${scopePrefix("local", namespace)}f.txt`)).toBeNull();
  });

  it("reports file writes", async () => {
    const namespace = `sup-${unique()}`;
    const notices = watchNotices({ probe: () => env.FILES.head(`${scopePrefix("local", namespace)}f.txt`) });
    const token = unique();
    expectOk(
      await supervisedExecute(token, {
        code: "export default async (_, env) => { await env.FILES.put('f.txt', 'x'); await env.FILES.delete('g'); }",
        storage: { namespace },
      }),
    );
    expect(notices).toEqual([{ requests: [token], probed: null }]);
  });

  it("reports an outbound request before it leaves, and not a denied one", async () => {
    const path = `/sup-${unique()}`;
    const notices = watchNotices({ probe: async () => (await realFetch(`${upstream}/__seen?path=${path}`)).json() });
    const token = unique();
    const denied = expectOk(
      await supervisedExecute(token, {
        code: `export default async () => { try { await fetch("${upstream}${path}"); } catch (e) { return e.name; } }`,
      }),
    );
    expect(denied.result).toBe("EgressDeniedError");
    expect(notices).toEqual([]);
    const allowed = expectOk(
      await supervisedExecute(token, {
        code: `export default async () => (await fetch("${upstream}${path}")).status`,
        egress: { allow: [upstreamHost] },
      }),
    );
    expect(allowed.result).toBe(200);
    expect(notices).toEqual([{ requests: [token], probed: null }]);
  });

  it("refuses an outbound request the supervisor could not record", async () => {
    const path = `/sup-${unique()}`;
    watchNotices({ status: 500 });
    const res = expectFailure(
      await supervisedExecute(unique(), {
        code: `export default () => fetch("${upstream}${path}")`,
        egress: { allow: [upstreamHost] },
      }),
    );
    expect(res.error).toMatchObject({ type: "egress_denied" });
    expect(res.error.message).toContain("the local supervisor could not record this side effect");
    expect(await (await realFetch(`${upstream}/__seen?path=${path}`)).json()).toBeNull();
  });

  it("treats every operator tool call as an effect, read or not", async () => {
    const notices = watchNotices();
    const token = unique();
    expectOk(
      await supervisedExecute(token, {
        code: "export default async (_, env) => env.NOTES.list()",
        tools: ["notes"],
        storage: { namespace: `sup-${unique()}` },
      }),
    );
    expect(notices).toEqual([{ requests: [token], probed: undefined }]);
    for (const tool of Object.values(TOOLS)) {
      // biome-ignore lint/performance/noDynamicNamespaceImportAccess: every tool's entrypoint must be exported
      expect(main[tool.entrypoint].prototype, tool.entrypoint).toBeInstanceOf(ToolEntrypoint);
    }
  });

  it("sends nothing for requests without a valid supervisor token", async () => {
    const notices = watchNotices();
    const namespace = `sup-${unique()}`;
    expectOk(
      await supervisedExecute(null, {
        code: "export default (_, env) => env.KV.put('a', '1')",
        storage: { namespace },
      }),
    );
    expectOk(
      await supervisedExecute("bad token!", {
        code: "export default (_, env) => env.KV.put('b', '1')",
        storage: { namespace },
      }),
    );
    expect(notices).toEqual([]);
    expect(await kvValue(namespace, "b")).toBe("1");
  });

  it("marks every supervised request of the writing tenant in flight, and none of another tenant", async () => {
    const notices = watchNotices();
    const namespace = `sup-${unique()}`;
    const [waiting, writer, otherTenant] = [unique(), unique(), unique()];
    // Reads until `go` appears: in flight, without effects of its own, until the writer has written.
    const waitForGo =
      "export default async (_, env) => { while (!(await env.KV.get('go'))) await new Promise((r) => setTimeout(r, 20)); return 'released'; }";
    const limits = { cpuMs: 1000, timeoutMs: 20_000 };
    const first = supervisedExecute(waiting, { code: waitForGo, storage: { namespace }, limits });
    const other = supervisedExecute(otherTenant, { code: waitForGo, storage: { namespace }, limits }, OTHER_TENANT_KEY);
    // Both are registered as soon as they are dispatched; leave them time to get there.
    await new Promise((r) => setTimeout(r, 500));
    expectOk(
      await supervisedExecute(writer, {
        code: "export default (_, env) => env.KV.put('go', '1')",
        storage: { namespace },
      }),
    );
    expect(expectOk(await first).result).toBe("released");
    await env.KV.put(`${scopePrefix("other", namespace)}go`, "1");
    expect(expectOk(await other).result).toBe("released");
    expect(notices).toHaveLength(1);
    expect(notices[0]?.requests.sort()).toEqual([waiting, writer].sort());
  });
});

describe("DWL_SUPERVISOR_URL", () => {
  /** One supervised request through the middleware whose handler attempts an effect. */
  async function effectUnder(supervisorUrl: string): Promise<string> {
    const app = new Hono<AppEnv>()
      .use("*", async (c, next) => {
        c.set("tenant", `t-${unique()}`);
        await next();
      })
      .use("*", trackSupervisedRequest)
      .get("/", async (c) => {
        try {
          await beforeSideEffect(c.env, c.get("tenant"));
          return c.text("performed");
        } catch (err) {
          return c.text(`${(err as Error).name}: ${(err as Error).message}`);
        }
      });
    const res = await app.request("/", { headers: { [SUPERVISED_REQUEST_HEADER]: unique() } }, {
      DWL_SUPERVISOR_URL: supervisorUrl,
    } as Env);
    return res.text();
  }

  it.each(["http://example.com:8080", "https://127.0.0.1:1", "http://127.0.0.1:1/x?y=1", "not a url"])(
    "fails every effect when it is %j (not a loopback http URL)",
    async (url) => {
      const notices = watchNotices();
      const error = vi.spyOn(console, "error").mockImplementation(() => {});
      const outcome = await effectUnder(url);
      expect(outcome).toMatch(
        /^EffectNoticeError: the local supervisor could not record this side effect; it was not performed \(DWL_SUPERVISOR_URL must be/,
      );
      expect(notices).toEqual([]);
      expect(error).toHaveBeenCalledOnce();
    },
  );

  it("keeps a base path: notices go to <url>/effects", async () => {
    const calls: string[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input) => {
      calls.push(input instanceof Request ? input.url : String(input));
      return new Response(null, { status: 204 });
    });
    expect(await effectUnder("http://localhost:9/base/")).toBe("performed");
    expect(calls).toEqual(["http://localhost:9/base/effects"]);
  });
});

describe("thread use", () => {
  /** The thread time the loader reports on a supervised answer (absent: null). */
  async function threadMsOf(token: string | null, path: string, init: RequestInit = {}): Promise<number | null> {
    const headers = new Headers(init.headers);
    if (token !== null) headers.set(SUPERVISED_REQUEST_HEADER, token);
    const res = await call(path, { ...init, headers });
    await res.arrayBuffer();
    const value = res.headers.get(THREAD_USE_HEADER);
    return value === null ? null : Number(value);
  }
  const executing = (code: string, extra: object = {}): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, ...extra }),
  });
  const COMPUTE_40_MS =
    "export default () => { const end = Date.now() + 40; let n = 0; while (Date.now() < end) n++; return n > 0; }";

  it("reports what a run computed, not what it waited for, on supervised answers only", async () => {
    const compute = executing(COMPUTE_40_MS, { limits: { cpuMs: 200 } });
    // Warm first: the first run of a program also bundles it.
    await threadMsOf(unique(), "/execute", compute);
    expect(await threadMsOf(unique(), "/execute", compute)).toBeGreaterThanOrEqual(35);
    const waiting = executing("export default async () => { await new Promise((r) => setTimeout(r, 200)); return 1; }");
    await threadMsOf(unique(), "/execute", waiting);
    expect(await threadMsOf(unique(), "/execute", waiting)).toBeLessThan(20);
    expect(await threadMsOf(null, "/execute", compute)).toBeNull();
  });

  it("counts the start of an isolate started for the run: its modules' evaluation too", async () => {
    // Work at a module's top level runs as the isolate starts, before the harness's clock can run
    // (and with the clock standing still: a count, not a time, bounds this loop).
    const topLevel = (count: number) =>
      executing(
        `let n = 0; for (let i = 0; i < ${count}; i++) n += i % 7;\nexport default () => n >= 0 && ${Math.random()};`,
        {
          limits: { cpuMs: 5_000 },
        },
      );
    const light = await threadMsOf(unique(), "/execute", topLevel(1));
    const heavy = await threadMsOf(unique(), "/execute", topLevel(3e7));
    expect((heavy as number) - (light as number)).toBeGreaterThanOrEqual(30);
  });

  it("counts the bundling of a program not cached yet", async () => {
    const files = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [
        `m${i}.ts`,
        `export const v${i}: number = ${i};\nexport function f${i}(x: number): number { return x * ${i} + v${i}; }\n`,
      ]),
    );
    const entry = `${Object.keys(files)
      .map((name, i) => `import { f${i} } from "./${name}";`)
      .join("\n")}\nexport default (): number => ${Object.keys(files)
      .map((_, i) => `f${i}(1)`)
      .join(" + ")} + ${Date.now()};`;
    const init: RequestInit = {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ files: { "index.ts": entry, ...files } }),
    };
    const first = await threadMsOf(unique(), "/execute", init);
    const cached = await threadMsOf(unique(), "/execute", init);
    expect(first).toBeGreaterThan(cached as number);
  });

  it("reports what a sandbox's handler computed before it answered", async () => {
    const created = await call("/sandboxes", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        code: `export default { fetch() { const end = Date.now() + 40; let n = 0; while (Date.now() < end) n++; return new Response(String(n > 0)); } }`,
        limits: { cpuMs: 200 },
      }),
    });
    const { id } = (await created.json()) as { id: string };
    await threadMsOf(unique(), `/sandboxes/${id}/http/`);
    expect(await threadMsOf(unique(), `/sandboxes/${id}/http/`)).toBeGreaterThanOrEqual(35);
  });
});
