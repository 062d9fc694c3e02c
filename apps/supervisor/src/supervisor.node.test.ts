/**
 * The supervised local runtime (`npm run dev`) under memory bombs and native hangs: the guilty
 * execution gets a structured verdict, innocent executions in flight at the same time complete
 * when they had done nothing yet, are never run twice when they had, and the loader serves
 * again right after.
 */
import { createHash } from "node:crypto";
import { ExecuteResponseSchema, type ExecuteResponse } from "@dwl/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../../test-support/dev-server.ts";
import { openEchoWebSocket } from "../../../test-support/echo-websocket.ts";

let server: DevServer;
/** Two more tenants' keys, for the order of resends across keys. */
const BUSY_KEY = "supervisor-test-busy-tenant";
const QUIET_KEY = "supervisor-test-quiet-tenant";

beforeAll(async () => {
  // The watchdog stays far above the seconds a bomb needs to reach V8's heap limit (it then
  // aborts by itself, with a heap message: memory_limit). Map growth is the slowest: garbage
  // collection near a 256 MB limit took ~4 s at load 3 and 24 s at load 6, past a 9 s watchdog
  // that then took it for a hang (cpu_limit). A 128 MB heap shortens every heap bomb (Map
  // growth's verdict: 2.1 s against 4.0 s, quiet). The frozen runtime below gets a server of its own.
  // The bombs share the dev key with the runs they crash, and ask for far more CPU than those:
  // a CPU share as large as the budgets lets them in beside those runs (admission.ts).
  const sha256 = (key: string) => createHash("sha256").update(key).digest("hex");
  const keys = JSON.stringify({ [sha256(BUSY_KEY)]: "busy", [sha256(QUIET_KEY)]: "quiet" });
  server = await startDevServer(
    {
      DWL_WATCHDOG_MS: "60000",
      DWL_MAX_RSS_MB: "1024",
      DWL_HEAP_MB: "128",
      DWL_KEY_CPU_MS: "1000000",
    },
    ["--var", `DWL_API_KEYS:${keys}`],
  );
});
afterAll(() => server?.stop());

async function execute(body: unknown): Promise<ExecuteResponse> {
  const res = await server.post("/execute", body);
  expect(res.status).toBe(200);
  return ExecuteResponseSchema.parse(await res.json());
}

const generous = { cpuMs: 30_000, timeoutMs: 30_000 };
const innocent = (n: number) =>
  execute({ code: `export default async () => { await new Promise((r) => setTimeout(r, 300)); return ${n}; }` });

async function expectVerdict(code: string, type: "memory_limit" | "cpu_limit"): Promise<void> {
  const guilty = execute({ code, limits: generous });
  const innocents = [innocent(1), innocent(2)];
  const res = await guilty;
  expect(res.ok).toBe(false);
  if (!res.ok) expect(res.error.type).toBe(type);
  // A verdict of the supervisor (not a limit the isolate caught): the run's logs went down with
  // the runtime, and the answer says so rather than showing none.
  if (!res.ok && /was restarted$/.test(res.error.message))
    expect(res.logs).toEqual([
      expect.objectContaining({
        level: "warn",
        message: expect.stringMatching(/logs and egress audit were lost with the runtime.*it began no storage write/),
      }),
    ]);
  expect((await Promise.all(innocents)).map((r) => (r.ok ? r.result : r.error.type))).toEqual([1, 2]);
  expect(await execute({ code: "export default () => 'serving again'" })).toMatchObject({
    ok: true,
    result: "serving again",
  });
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.addEventListener("close", ({ code, reason }) => resolve({ code, reason })));
}

describe("supervised runtime", () => {
  it("answers a heap bomb with memory_limit while concurrent innocent runs complete", async () => {
    const bomb = execute({
      code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    const innocents = [innocent(1), innocent(2), innocent(3)];
    const verdict = await bomb;
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.error).toMatchObject({ type: "memory_limit", name: "MemoryLimitError" });
    expect(verdict.logs.map((l) => l.message)).toEqual([
      expect.stringMatching(/logs and egress audit were lost with the runtime.*it began no storage write/),
    ]);
    expect((await Promise.all(innocents)).map((r) => (r.ok ? r.result : r.error.type))).toEqual([1, 2, 3]);
  });

  it("says of a heap bomb alone in flight that wrote first that side effects may have happened", async () => {
    const verdict = await execute({
      code: "export default async (_, env) => { console.log('before'); await env.KV.put('bomb', '1'); const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    expect(verdict).toMatchObject({ ok: false, error: { type: "memory_limit" } });
    expect(verdict.logs.map((l) => l.message)).toEqual([
      expect.stringMatching(/logs and egress audit were lost with the runtime.*side effects may have happened/),
    ]);
  });

  it("answers Map growth with memory_limit (innocents complete)", () =>
    expectVerdict(
      "export default () => { const m = new Map(); for (let i = 0; ; i++) m.set(i, { i, s: 'v' + i }); }",
      "memory_limit",
    ));

  it("answers a typed-array bomb (outside the V8 heap) with memory_limit", () =>
    expectVerdict(
      "export default () => { const keep = []; for (;;) keep.push(new Uint8Array(16 * 1024 * 1024).fill(1)); }",
      "memory_limit",
    ));

  it("answers a string bomb with memory_limit", () =>
    expectVerdict(
      "export default () => { let s = 'x'; const keep = []; for (;;) { s = s + s; keep.push(s + '!'); } }",
      "memory_limit",
    ));

  it("never runs a program twice: one that wrote before another run's crash gets runtime_restarted", async () => {
    const namespace = `counter-${Date.now()}`;
    const increment = `export default async (_, env) => {
      const n = Number((await env.KV.get("n")) ?? 0) + 1;
      await env.KV.put("n", String(n));
      await new Promise((r) => setTimeout(r, 1500));
      return n;
    }`;
    const writer = server.post("/execute", { code: increment, storage: { namespace } });
    await new Promise((r) => setTimeout(r, 400));
    const bomb = execute({
      code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    const written = await writer;
    expect(written.headers.get("retry-after")).toBe("1");
    const answer = ExecuteResponseSchema.parse(await written.json());
    expect(answer.ok).toBe(false);
    if (!answer.ok) expect(answer.error.type).toBe("runtime_restarted");
    const verdict = await bomb;
    expect(verdict.ok ? "ok" : verdict.error.type).toBe("memory_limit");
    expect(await execute({ code: "export default (_, env) => env.KV.get('n')", storage: { namespace } })).toMatchObject(
      { ok: true, result: "1" },
    );
  });

  it("serves new requests at once while the runs cut short are resent one at a time", async () => {
    const downs = () => server.output().split("runtime went down").length;
    const before = downs();
    const slow = (n: number) =>
      execute({
        code: `export default async () => { await new Promise((r) => setTimeout(r, 2500)); return ${n}; }`,
        limits: generous,
      });
    const sleepers = [slow(1), slow(2), slow(3)];
    await new Promise((r) => setTimeout(r, 300));
    const bomb = execute({
      code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    // Only sleepers that end after the crash were resent; any that ended before it do not count.
    let crashed = false;
    let resentEnded = 0;
    const twoResentEnded = new Promise<string>((resolve) => {
      for (const sleeper of sleepers) {
        void sleeper.then(() => crashed && ++resentEnded === 2 && resolve("two resent sleepers"));
      }
    });
    while (downs() === before) await new Promise((r) => setTimeout(r, 20));
    crashed = true;
    // The sleepers are resent, 2.5 s each, one after the other: a newcomer is not queued behind them.
    const newcomer = execute({ code: "export default () => 'not held'" });
    expect(await Promise.race([newcomer.then(() => "the newcomer"), twoResentEnded])).toBe("the newcomer");
    expect(await newcomer).toMatchObject({ ok: true, result: "not held" });
    expect((await Promise.all(sleepers)).map((r) => (r.ok ? r.result : r.error.type))).toEqual([1, 2, 3]);
    const verdict = await bomb;
    expect(verdict.ok ? "ok" : verdict.error.type).toBe("memory_limit");
  });

  it("does not judge a resent innocent run the cause of a crash that a newer run caused", async () => {
    // Another tenant's bombs keep coming: a run resent after the first crash is in flight at the
    // second too, beside the newer bomb. Being there twice makes it no more likely the culprit.
    const downs = () => server.output().split("runtime went down").length;
    const until = async (done: () => boolean | Promise<boolean>) => {
      for (const start = Date.now(); !(await done()); ) {
        if (Date.now() - start > 30_000) throw new Error("waited 30 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const bomb = "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }";
    const before = downs();
    const sleeper = execute({
      code: "export default async () => { await new Promise((r) => setTimeout(r, 5000)); return 'innocent'; }",
      limits: generous,
    });
    await new Promise((r) => setTimeout(r, 300));
    const first = execute({ code: bomb, limits: generous });
    await until(() => downs() > before);
    await until(async () => (await fetch(`${server.base}/healthz`).catch(() => undefined))?.ok === true);
    // The sleeper was in flight beside the bomb: it is resent and sleeps in the new runtime.
    await new Promise((r) => setTimeout(r, 1_000));
    const second = execute({ code: bomb, limits: generous });
    const answers = await Promise.all([sleeper, first, second]);
    expect(answers.map((r) => (r.ok ? r.result : r.error.type))).toEqual(["innocent", "memory_limit", "memory_limit"]);
  });

  it("judges a bomb sent among another tenant's steady traffic, whose runs all complete", async () => {
    // Six loops of short runs: at every crash some are in flight beside the bomb, which is then
    // never alone unless its last resend goes alone.
    let flowing = true;
    const traffic: string[] = [];
    const loop = async (n: number) => {
      for (let i = 0; flowing; i++) {
        const code = `export default async () => { await new Promise((r) => setTimeout(r, 20)); return "${n}.${i}"; }`;
        const res = await server.post("/execute", { code, limits: generous }, QUIET_KEY);
        const answer = ExecuteResponseSchema.parse(await res.json());
        traffic.push(answer.ok ? "ok" : answer.error.type);
      }
    };
    const loops = [1, 2, 3, 4, 5, 6].map(loop);
    await new Promise((r) => setTimeout(r, 300));
    const verdict = await execute({
      code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    flowing = false;
    await Promise.all(loops);
    expect(verdict.ok ? "ok" : verdict.error.type).toBe("memory_limit");
    expect(traffic.filter((outcome) => outcome !== "ok")).toEqual([]);
  });

  it("resends the runs a crash cut short round robin by key, and the rest at once when its culprit is judged", async () => {
    const start = Date.now();
    const sleeper = async (key: string, ms: number, tag: string) => {
      const code = `export default async () => { await new Promise((r) => setTimeout(r, ${ms})); return "${tag}"; }`;
      const res = await server.post("/execute", { code, limits: generous }, key);
      return { answer: ExecuteResponseSchema.parse(await res.json()), at: Date.now() - start };
    };
    const busy = [1, 2, 3, 4].map((i) => sleeper(BUSY_KEY, 3_000, `busy ${i}`));
    await new Promise((r) => setTimeout(r, 300));
    const quiet = sleeper(QUIET_KEY, 1_000, "quiet");
    await new Promise((r) => setTimeout(r, 50));
    const bomb = execute({
      code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    const [q, ...b] = await Promise.all([quiet, ...busy]);
    const verdict = await bomb;
    expect(verdict.ok ? "ok" : verdict.error.type).toBe("memory_limit");
    expect([q, ...b].map(({ answer }) => (answer.ok ? answer.result : answer.error.type))).toEqual([
      "quiet",
      "busy 1",
      "busy 2",
      "busy 3",
      "busy 4",
    ]);
    const [, second, , fourth] = b.map(({ at }) => at).sort((x, y) => x - y) as [number, number, number, number];
    // The quiet tenant's run is resent after one of the busy tenant's, not after all four...
    expect(q.at).toBeLessThan(second);
    // ...and the busy tenant's last three, cleared once the bomb was judged alone, run side by side.
    expect(fourth - second).toBeLessThan(1_500);
  });

  it("answers an MCP execute call and a sandbox's HTTP request that took the runtime down as their routes answer failures", async () => {
    const bomb = "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }";
    // MCP: each call of the request gets a failed tool result, as the loader's MCP server gives
    // one; another method of the batch a JSON-RPC error; a notification nothing.
    const call = (id: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "execute", arguments: { code: bomb, limits: generous } },
    });
    const mcp = await fetch(`${server.base}/mcp`, {
      method: "POST",
      headers: {
        authorization: "Bearer dwl_local_dev",
        accept: "application/json, text/event-stream",
        "content-type": "application/json",
      },
      body: JSON.stringify([
        call(1),
        { jsonrpc: "2.0", id: "list", method: "tools/list" },
        { jsonrpc: "2.0", method: "notifications/initialized" },
      ]),
    });
    expect(mcp.status).toBe(200);
    const answers = (await mcp.json()) as { id: unknown; result?: Record<string, unknown>; error?: unknown }[];
    expect(answers).toHaveLength(2);
    expect(answers[0]).toMatchObject({
      jsonrpc: "2.0",
      id: 1,
      result: { isError: true, structuredContent: { ok: false, error: { type: "memory_limit" } } },
    });
    expect(JSON.stringify(answers[0]?.result?.content)).toContain("error (memory_limit): MemoryLimitError");
    expect(answers[1]).toMatchObject({ jsonrpc: "2.0", id: "list", error: { code: -32603 } });
    // A sandbox's HTTP request: 500 with the error, as a failure of its program is answered.
    const created = await server.post("/sandboxes", {
      code: `export default { fetch() { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); } }`,
      limits: generous,
    });
    const { id } = (await created.json()) as { id: string };
    const res = await fetch(`${server.base}/sandboxes/${id}/http/`, {
      headers: { authorization: "Bearer dwl_local_dev" },
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: { type: "memory_limit", name: "MemoryLimitError" } });
  });

  it("does not judge a lone innocent run the cause when a sandbox's stream crashed the runtime", async () => {
    const created = await server.post("/sandboxes", {
      code: `export default { fetch() {
        let sent = 0;
        return new Response(new ReadableStream({ async pull(c) {
          await new Promise((r) => setTimeout(r, 300));
          if (++sent === 4) { const a = []; for (let i = 0; ; i++) a.push(new Array(1e6).fill(i)); }
          c.enqueue(new TextEncoder().encode("chunk\\n"));
        } }));
      } }`,
      limits: generous,
    });
    const { id } = (await created.json()) as { id: string };
    const innocent = execute({
      code: "export default async () => { await new Promise((r) => setTimeout(r, 4000)); return 'innocent'; }",
      limits: generous,
    });
    await new Promise((r) => setTimeout(r, 300));
    const stream = await fetch(`${server.base}/sandboxes/${id}/http/`, {
      headers: { authorization: "Bearer dwl_local_dev" },
    });
    await stream.text().catch(() => "cut");
    expect(await innocent).toMatchObject({ ok: true, result: "innocent" });
  });

  it.each(["/%65xecute", "/execute/?x"])(
    "judges a heap bomb sent to %s, which the loader runs as /execute, as one sent to /execute",
    async (path) => {
      const res = await server.post(path, {
        code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
        limits: generous,
      });
      expect(res.status).toBe(200);
      const verdict = ExecuteResponseSchema.parse(await res.json());
      expect(verdict.ok ? "ok" : verdict.error.type).toBe("memory_limit");
    },
  );

  it("closes a WebSocket open through a crash with 1012 (service restart), not an abnormal 1006", async () => {
    const ws = await openEchoWebSocket(server);
    const closed = closeOf(ws);
    await execute({
      code: "export default () => { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); }",
      limits: generous,
    });
    expect(await closed).toEqual({ code: 1012, reason: "the runtime restarted; connect again" });
  });

  it("does not tell a WebSocket the runtime restarted when its own handler threw", async () => {
    const downs = () => server.output().split("runtime went down").length;
    const before = downs();
    const ws = await openEchoWebSocket(server);
    const closed = closeOf(ws);
    ws.send("throw");
    expect((await closed).code).not.toBe(1012);
    expect(downs()).toBe(before);
  });
});

describe("a runtime frozen in native work", () => {
  // A server of its own, with a watchdog short enough that the native work below outlasts it
  // several times over, even on a quiet machine.
  beforeAll(async () => {
    server.stop();
    server = await startDevServer({ DWL_WATCHDOG_MS: "3000" });
  });

  it("caps cpuMs so that a computing run ends before the watchdog would restart the runtime", async () => {
    const restarts = () => server.output().split("runtime unresponsive").length;
    const before = restarts();
    const guilty = execute({ code: "export default () => { for (;;) Date.now(); }", limits: generous });
    const innocents = [innocent(1), innocent(2)];
    const res = await guilty;
    // 80 % of the 3,000 ms watchdog by the clock, at DWL_CPU_CLOCK_PERCENT 200.
    expect(res.limits?.cpuMs).toBe(1_200);
    expect(res.ok ? "ok" : res.error.type).toBe("cpu_limit");
    expect((await Promise.all(innocents)).map((r) => (r.ok ? r.result : r.error.type))).toEqual([1, 2]);
    expect(restarts()).toBe(before);
  });

  it("lets several computing runs at once each run to its cpu_limit, without a restart", async () => {
    // Each run is held to 80 % of the watchdog, but workerd runs them on one thread, back to
    // back: the runtime answers no probe for their sum (3 × 2.4 s by the clock here).
    const restarts = () => server.output().split("runtime unresponsive").length;
    const before = restarts();
    const computing =
      "export default () => { const a = Array.from({ length: 1e5 }, (_, i) => i); for (;;) a.slice().reverse(); }";
    const runs = await Promise.all([1, 2, 3].map(() => execute({ code: computing, limits: generous })));
    expect(runs.map((r) => (r.ok ? "ok" : r.error.type))).toEqual(["cpu_limit", "cpu_limit", "cpu_limit"]);
    expect(restarts()).toBe(before);
  });

  it("is restarted, and the run gets cpu_limit", () =>
    // A default sort compares numbers as strings: ~8 s of native work no fuel check can see.
    expectVerdict(
      "export default () => { const a = Array.from({ length: 1e7 }, (_, i) => (i * 7919) % 1e7); a.sort(); return a[0]; }",
      "cpu_limit",
    ));
});
