/**
 * The abuse suite (issue 11): one test per attack a hostile or broken program (or client) can
 * mount. Every test asserts the exact outcome (`error.type`, or the HTTP status of a request
 * error) and then that the loader still serves a normal request.
 *
 * Tests that exposed real defects keep the comment with the cause they were written against
 * (marked DEFECT, now fixed): the comment says what the test guards.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEV_ENCRYPTION_KEY } from "../../src/egress/secrets.ts";
import {
  call,
  DEV_KEY,
  execute,
  executeRejected,
  expectFailure,
  expectOk,
  OTHER_TENANT_KEY,
  warmIsolateFor,
} from "../helpers.ts";

type Body = Parameters<typeof execute>[0];
type ErrorType =
  | "compile"
  | "runtime"
  | "timeout"
  | "cpu_limit"
  | "memory_limit"
  | "subrequest_limit"
  | "egress_denied"
  | "output_too_large";

const upstream = env.DWL_TEST_UPSTREAM as string;
const upstreamHost = new URL(upstream).host; // 127.0.0.1:<port>
const uid = () => crypto.randomUUID();
/** A comment that makes a program unique, so it gets its own (cold) isolate. */
const fresh = () => `\n// ${uid()}`;

/** After every attack: an ordinary program still runs and answers correctly. */
async function expectStillServing(): Promise<void> {
  const res = expectOk(await execute({ code: "export default (n) => n + 1", input: 41 }));
  expect(res.result).toBe(42);
}

/** Runs `body`, expects `ok: false` with this error type (and name), then a healthy loader. */
async function expectRunError(body: Body, type: ErrorType, name?: string) {
  const res = expectFailure(await execute(body));
  expect(res.error.type).toBe(type);
  if (name !== undefined) expect(res.error.name).toBe(name);
  await expectStillServing();
  return res;
}

/** Runs `body`, expects `ok: true`, then a healthy loader. */
async function expectRunOk(body: Body) {
  const res = expectOk(await execute(body));
  await expectStillServing();
  return res;
}

/** POSTs a raw body to /execute; returns status and parsed JSON. */
// biome-ignore lint/suspicious/noExplicitAny: the tests read whichever fields each malformed request's answer has
async function postRaw(body: BodyInit, key: string = DEV_KEY): Promise<{ status: number; json: any }> {
  const res = await call("/execute", { method: "POST", body, headers: { "content-type": "application/json" }, key });
  return { status: res.status, json: await res.json() };
}

async function seenUpstream(path: string): Promise<unknown> {
  return (await fetch(`${upstream}/__seen?path=${encodeURIComponent(path)}`)).json();
}

/** 3e7 metered iterations: 15x the fuel of cpuMs 20 (2e6 checks), whatever the machine's speed. */
const SPIN = "const spin = () => { let s = 0; for (let i = 0; i < 3e7; i++) s += i % 3; return s; };";

describe("CPU loops the metering must reach (gaps of cpu.test.ts)", () => {
  it("stops a loop in a getter that only result serialisation calls", () =>
    expectRunError(
      {
        code: `export default () => ({ a: 1, get b() { let x = 0; while (true) x++; } })${fresh()}`,
        limits: { cpuMs: 20 },
      },
      "cpu_limit",
      "CpuLimitError",
    ));

  it("stops a loop in toJSON", () =>
    expectRunError(
      { code: `export default () => ({ nested: { toJSON() { for (;;) {} } } })${fresh()}`, limits: { cpuMs: 20 } },
      "cpu_limit",
      "CpuLimitError",
    ));

  it("stops a loop in a class constructor", () =>
    expectRunError(
      {
        code: `class Spin { constructor() { for (;;) {} } }\nexport default () => new Spin();${fresh()}`,
        limits: { cpuMs: 20 },
      },
      "cpu_limit",
    ));

  it("stops an infinite generator consumed by for...of", () =>
    expectRunError(
      {
        code: `function* nat() { let i = 0; for (;;) yield i++; }\nexport default () => { let s = 0; for (const n of nat()) s += n; return s; };${fresh()}`,
        limits: { cpuMs: 20 },
      },
      "cpu_limit",
    ));

  it("stops Array.prototype.map callbacks over a huge array", () =>
    expectRunError(
      {
        code: `export default () => new Array(3e6).fill(1).map((x) => x * 2).map((x) => x + 1).length;${fresh()}`,
        limits: { cpuMs: 20 },
      },
      "cpu_limit",
    ));

  it("stops a loop in a `then` getter that the harness's await calls", () =>
    expectRunError(
      { code: `export default () => ({ get then() { for (;;) {} } });${fresh()}`, limits: { cpuMs: 20 } },
      "cpu_limit",
    ));

  it("stops a microtask storm inside a fetch handler", () =>
    expectRunError(
      {
        code: `export default { async fetch() { const storm = () => Promise.resolve().then(storm); storm(); await new Promise(() => {}); } };${fresh()}`,
        limits: { cpuMs: 20, timeoutMs: 5_000 },
      },
      "cpu_limit",
    ));

  it("stops a loop in the pull() of a fetch handler's response body (read by the harness)", () =>
    expectRunError(
      {
        code: `export default { fetch() { return new Response(new ReadableStream({ pull() { for (;;) {} } })); } };${fresh()}`,
        limits: { cpuMs: 20, timeoutMs: 5_000 },
      },
      "cpu_limit",
    ));

  it("stops unbounded async recursion (each call awaits)", () =>
    expectRunError(
      {
        code: `async function f(n) { await null; return f(n + 1); }\nexport default () => f(0);${fresh()}`,
        limits: { cpuMs: 20, timeoutMs: 5_000 },
      },
      "cpu_limit",
    ));
});

describe("deep recursion", () => {
  // Plain recursion hits V8's stack limit long before the CPU budget: a `runtime` RangeError
  // whose stack is mapped to the user's line (cpu.test.ts covers the catch-and-retry variant).
  it("ends plain unbounded recursion with a runtime RangeError on the user's line", async () => {
    const res = await expectRunError(
      { code: `function f(n) { return f(n + 1) + 1; }\nexport default () => f(0);${fresh()}`, limits: { cpuMs: 50 } },
      "runtime",
      "RangeError",
    );
    expect(res.error.message).toBe("Maximum call stack size exceeded");
    expect(res.error.stack).toMatch(/at f \(index\.ts:1:\d+\)/);
  });

  it("refuses a result nested 100,000 levels deep as a ResultError (JSON.stringify overflows)", async () => {
    const res = await expectRunError(
      { code: `export default () => { let o = null; for (let i = 0; i < 1e5; i++) o = { o }; return o; };${fresh()}` },
      "runtime",
      "ResultError",
    );
    expect(res.error.message).toContain("Maximum call stack size exceeded");
  });
});

describe("output bombs", () => {
  it("counts result bytes, not characters: 600,000 'é' is 1.2 MB of JSON → output_too_large", async () => {
    const res = await expectRunError(
      { code: `export default () => "é".repeat(600000);${fresh()}` },
      "output_too_large",
      "OutputTooLargeError",
    );
    expect(res.error.message).toContain("1200002 bytes");
  });

  it("refuses a 50 MB string result with output_too_large", () =>
    expectRunError({ code: `export default () => "x".repeat(5e7);${fresh()}` }, "output_too_large"));

  it("refuses a fetch handler's body of 1 MiB + 1 byte with output_too_large", async () => {
    const res = await expectRunError(
      { code: `export default { fetch() { return new Response("x".repeat(1024 * 1024 + 1)); } };${fresh()}` },
      "output_too_large",
    );
    expect(res.error.message).toContain("over the 1048576-byte limit");
  });

  // DEFECT: the 1 MiB cap of a fetch program's output only counts the body. harness/result.ts
  // `encodeResponse()` copies every response header into the result and `#settle` returns
  // `stringify(response)` without a size check, so 2 MB of headers (or 200 MB) reach the loader,
  // which splices them into its response unchecked. Fix: in `#settle`, apply the byte check of
  // `encodeResult` to the whole encoded response (or count header bytes against maxResultBytes).
  it("refuses a fetch handler whose headers carry more than 1 MiB (output_too_large)", async () => {
    const res = await execute({
      code: `export default { fetch() { const h = new Headers(); for (let i = 0; i < 2000; i++) h.set("x-h" + i, "v".repeat(1000)); return new Response("ok", { headers: h }); } };${fresh()}`,
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("output_too_large");
  });

  // DEFECT: `encodeResponse()` reads the whole body with `response.arrayBuffer()` and only then
  // compares its size to the limit. An endless stream that re-enqueues one 8 MiB chunk took the
  // whole workerd runtime down while probing (the program itself holds 8 MiB; the harness
  // buffers without bound). Here a bounded stream of 32 × 1 MiB shows it: all 32 chunks are
  // pulled, where 2 suffice to know the body is too large. Fix: read with a reader, count bytes,
  // `reader.cancel()` as soon as the total passes maxResultBytes.
  it("stops reading a streamed response body once it is over the limit", async () => {
    const code = `let pulls = 0;
export default { fetch(req) {
  if (new URL(req.url).pathname === "/pulls") return new Response(String(pulls));
  const chunk = new Uint8Array(1024 * 1024);
  return new Response(new ReadableStream({ pull(c) { pulls++; if (pulls > 32) c.close(); else c.enqueue(chunk); } }));
} };${fresh()}`;
    const res = expectFailure(await execute({ code }));
    expect(res.error.type).toBe("output_too_large");
    const pulls = Number(
      (expectOk(await execute({ code, request: { path: "/pulls" } })).result as { body: string }).body,
    );
    await expectStillServing();
    expect(pulls).toBeLessThanOrEqual(4);
  });

  it("keeps the first 999 lines of a log flood that runs into the CPU limit, and the marker", async () => {
    const res = await expectRunError(
      { code: `for (let i = 0; i < 1e7; i++) console.log("flood", i);${fresh()}`, limits: { cpuMs: 50 } },
      "cpu_limit",
    );
    expect(res.logs).toHaveLength(1000);
    expect(res.logs[998]?.message).toBe("flood 998");
    expect(res.logs[999]).toMatchObject({ level: "warn" });
    expect(res.logs[999]?.message).toContain("more line(s) dropped");
    expect(res.logsTruncated).toBe(true);
  });

  it("stops at the 64 KiB byte cap before the line cap (200 lines of 1 KiB)", async () => {
    const res = await expectRunOk({
      code: `for (let i = 0; i < 200; i++) console.log(String(i).padEnd(1024, "."));${fresh()}`,
    });
    const kept = res.logs.filter((l) => l.level === "log");
    expect(kept.length).toBeGreaterThanOrEqual(60);
    expect(kept.length).toBeLessThan(70);
    const bytes = kept.reduce((n, l) => n + new TextEncoder().encode(l.message).length, 0);
    expect(bytes).toBeLessThanOrEqual(64 * 1024);
    expect(res.logs.at(-1)?.message).toContain("more line(s) dropped");
    expect(res.logsTruncated).toBe(true);
  });

  it("renders a logged array of a million items as a bounded preview", async () => {
    const res = await expectRunOk({ code: `console.log(new Array(1e6).fill("abc")); console.log("after");${fresh()}` });
    expect(res.logs[0]?.message).toContain("... 999900 more items");
    expect(res.logs[0]?.message.length).toBeLessThan(2_000);
    expect(res.logs[1]?.message).toBe("after");
  });

  it("logs a Proxy whose traps throw without running or failing on the traps", async () => {
    const res = await expectRunOk({
      code: `console.log(new Proxy({}, { get() { throw new Error("trap") }, ownKeys() { throw new Error("trap") } })); console.log("after");${fresh()}`,
    });
    expect(res.logs.map((l) => l.message)).toEqual(["Proxy({})", "after"]);
  });
});

describe("hostile results", () => {
  it("reports a throwing toJSON as a runtime ResultError with its message", async () => {
    const res = await expectRunError(
      { code: `export default () => ({ a: { toJSON() { throw new TypeError("no json for you") } } });${fresh()}` },
      "runtime",
      "ResultError",
    );
    expect(res.error.message).toBe("the result cannot be serialised to JSON: no json for you");
  });

  it("reports a Proxy whose ownKeys trap throws as a runtime ResultError", async () => {
    const res = await expectRunError(
      { code: `export default () => new Proxy({}, { ownKeys() { throw new Error("trap says no") } });${fresh()}` },
      "runtime",
      "ResultError",
    );
    expect(res.error.message).toContain("trap says no");
  });

  // The harness awaits the returned value, which reads `then` first: a throwing `get` trap
  // surfaces as the program's own error (name and stack of the trap), not as a ResultError.
  it("reports a Proxy whose get trap throws as the program's runtime error", async () => {
    const res = await expectRunError(
      { code: `export default () => new Proxy({ a: 1 }, { get() { throw new Error("get trap") } });${fresh()}` },
      "runtime",
      "Error",
    );
    expect(res.error.message).toBe("get trap");
    expect(res.error.stack).toMatch(/index\.ts:1:\d+/);
  });

  it("stops a Proxy whose ownKeys trap loops forever with cpu_limit", () =>
    expectRunError(
      { code: `export default () => new Proxy({}, { ownKeys() { for (;;) {} } });${fresh()}`, limits: { cpuMs: 20 } },
      "cpu_limit",
    ));

  it("ignores a throwing Symbol.toPrimitive (JSON never converts to a primitive)", async () => {
    const res = await expectRunOk({
      code: `export default () => ({ [Symbol.toPrimitive]() { throw new Error("prim") }, a: 1 });${fresh()}`,
    });
    expect(res.result).toEqual({ a: 1 });
  });

  it("ends a result that is a thenable never calling back with timeout", async () => {
    const res = await expectRunError(
      { code: `export default () => ({ then() {} });${fresh()}`, limits: { timeoutMs: 200 } },
      "timeout",
      "TimeoutError",
    );
    expect(res.timing.runMs).toBeGreaterThanOrEqual(150);
  });
});

describe("code generation at run time", () => {
  const evalError = "Code generation from strings disallowed for this context";
  const cases: [string, string, string, string][] = [
    ["eval", "export default () => eval('1 + 1')", "EvalError", evalError],
    ["new Function", "export default () => new Function('return 1')()", "EvalError", evalError],
    [
      "the AsyncFunction constructor",
      "export default () => (async () => {}).constructor('return 1')()",
      "EvalError",
      evalError,
    ],
    [
      "WebAssembly.compile",
      "export default async () => String(await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])))",
      "CompileError",
      "WebAssembly.compile(): Wasm code generation disallowed by embedder",
    ],
    [
      "WebAssembly.instantiate",
      "export default async () => String(await WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])))",
      "CompileError",
      "WebAssembly.instantiate(): Wasm code generation disallowed by embedder",
    ],
    [
      "new WebAssembly.Module",
      "export default () => String(new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])))",
      "CompileError",
      "WebAssembly.Module(): Wasm code generation disallowed by embedder",
    ],
    [
      "import() of a data: URL",
      "export default async () => (await import(['data:text/javascript', 'export default 42'].join(','))).default",
      "Error",
      'No such module "data:text/javascript,export default 42".',
    ],
    [
      "setTimeout with a string",
      "export default () => setTimeout('globalThis.x = 1', 0)",
      "TypeError",
      'The "callback" argument must be of type function',
    ],
  ];
  it.each(cases)("refuses %s (unmetered code) with a runtime error from workerd", async (_, code, name, message) => {
    const res = await expectRunError({ code: code + fresh() }, "runtime", name);
    expect(res.error.message).toContain(message);
  });
});

describe("timers", () => {
  it("ends a script whose setInterval runs forever with timeout at limits.timeoutMs", async () => {
    const res = await expectRunError(
      {
        code: `console.log("ticking"); let n = 0; setInterval(() => { n++; }, 1); await new Promise(() => {});${fresh()}`,
        limits: { timeoutMs: 200 },
      },
      "timeout",
      "TimeoutError",
    );
    expect(res.timing.runMs).toBeGreaterThanOrEqual(150);
    // The child's timer ended it: the parent's backstop has no report, so no logs.
    expect(res.logs.map((l) => l.message)).toEqual(["ticking"]);
  });

  it("does not let a setInterval left by one run log into the next run of the same program", async () => {
    const code = `export default async (mode) => {
  if (mode === "start") { let ticks = 0; await new Promise((r) => setInterval(() => { console.log("tick from the first run"); if (++ticks === 3) r(); }, 2)); return "started"; }
  await new Promise((r) => setTimeout(r, 60));
  return "second";
};${fresh()}`;
    const first = expectOk(await execute({ code, input: "start" }));
    expect(first.logs.length).toBeGreaterThanOrEqual(3); // the interval really ran during the first run
    const second = expectOk(await execute({ code, input: "wait" }));
    expect(second.timing.cached).toBe(true); // same warm isolate
    expect(second.logs).toEqual([]);
    await expectStillServing();
  });
});

describe("reaching the loader's bindings and secrets", () => {
  it("gives env only KV, FILES and SECRETS, frozen", async () => {
    const res = await expectRunOk({
      code: `export default (input, env) => { let assign; try { env.LOADER = 1; assign = "assigned"; } catch (e) { assign = e.name; }
  return { keys: Object.keys(env).sort(), secrets: Object.keys(env.SECRETS), kv: Object.keys(env.KV).sort(), files: Object.keys(env.FILES).sort(), assign, frozen: Object.isFrozen(env) && Object.isFrozen(env.KV) && Object.isFrozen(env.SECRETS) }; };${fresh()}`,
    });
    expect(res.result).toEqual({
      keys: ["FILES", "KV", "SECRETS"],
      secrets: [],
      kv: ["delete", "get", "getWithMetadata", "list", "put"],
      files: ["delete", "get", "head", "list", "put"],
      assign: "TypeError",
      frozen: true,
    });
  });

  it("exposes no binding, secret or variable of the loader on globalThis, process.env or import.meta", async () => {
    const res = await expectRunOk({
      code: `export default () => ({
  globals: Object.getOwnPropertyNames(globalThis).filter((k) => /dwl|loader|^kv$|^files$|secret|^env$|api_?key|encryption/i.test(k)),
  processEnv: typeof process === "object" ? Object.keys(process.env) : "none",
  meta: Object.keys(import.meta),
  metaUrl: String(import.meta.url),
});${fresh()}`,
    });
    // The harness's two globals, on purpose (non-writable, see below): the fuel check and the
    // refusal behind cloudflare:sockets' connect().
    expect(res.result).toEqual({
      globals: ["__dwlRefuel", "__dwlRefuseSocket"],
      processEnv: [],
      meta: [],
      metaUrl: "undefined",
    });
  });

  it("gives `import { env } from 'cloudflare:workers'` only the scoped KV and FILES stubs", async () => {
    const res = await expectRunOk({
      code: `import { env } from "cloudflare:workers";\nexport default () => Object.keys(env).sort();${fresh()}`,
    });
    expect(res.result).toEqual(["FILES", "KV"]);
  });

  it("keeps __dwlRefuel non-writable and non-configurable, and metering works after the attempts", async () => {
    const res = await expectRunError(
      {
        code: `export default () => {
  const d = Object.getOwnPropertyDescriptor(globalThis, "__dwlRefuel");
  console.log("descriptor", d.writable, d.configurable);
  try { globalThis.__dwlRefuel = () => 1e9; console.log("assign ok"); } catch (e) { console.log("assign", e.name); }
  try { Object.defineProperty(globalThis, "__dwlRefuel", { value: () => 1e9 }); console.log("define ok"); } catch (e) { console.log("define", e.name); }
  try { console.log("delete", delete globalThis.__dwlRefuel); } catch (e) { console.log("delete", e.name); }
  console.log("same", globalThis.__dwlRefuel === d.value, typeof __dwlRefuel());
  for (;;) {}
};${fresh()}`,
        limits: { cpuMs: 20 },
      },
      "cpu_limit",
    );
    expect(res.logs.map((l) => l.message)).toEqual([
      "descriptor false false",
      "assign TypeError",
      "define TypeError",
      "delete TypeError",
      "same true number",
    ]);
  });

  it("charges a program calling __dwlRefuel itself a whole batch, whatever it passes, and never throws anything else", async () => {
    // refuel takes the calling module's counter object (bundle/rewrite.ts); a program can pass
    // primitives, fakes with an `f` of their own, or nothing. 1e6 calls × 4,096 is far past the
    // fuel of cpuMs 20 (2·10⁶ checks), so only cpu_limit may end it.
    const res = await expectRunError(
      {
        code: `export default () => {
  const refuel = "".__dwlRefuel;
  const seen = new Set();
  for (const arg of [1, "x", Symbol.for("s"), null, undefined, {}, { f: -1e12 }, () => {}]) seen.add(typeof refuel(arg));
  console.log([...seen].join(","));
  const fake = { f: 0 };
  for (let i = 0; i < 1e6; i++) refuel(fake);
  return "not stopped";
};${fresh()}`,
        limits: { cpuMs: 20 },
      },
      "cpu_limit",
    );
    expect(res.logs.map((l) => l.message)).toEqual(["number"]);
  });

  it("reveals no credential, key or dev secret through Function.prototype.toString or any reachable value", async () => {
    const name = `abuse-${uid().slice(0, 8)}`;
    const value = `sk_live_${uid()}`;
    const put = await call(`/credentials/${name}`, {
      method: "PUT",
      body: JSON.stringify({ value, hosts: ["api.example.com"] }),
    });
    expect(put.status).toBeLessThan(300);
    try {
      const res = await expectRunOk({
        code: `import * as workers from "cloudflare:workers";
export default (input, env) => {
  const texts = [];
  const add = (v) => { try { texts.push(typeof v === "function" ? Function.prototype.toString.call(v) : String(JSON.stringify(v))); } catch (e) { texts.push(String(e)); } };
  for (const k of Object.getOwnPropertyNames(globalThis)) { try { add(globalThis[k]); } catch {} }
  for (const l of ["log", "info", "warn", "error", "debug", "trace", "dir", "table"]) add(console[l]);
  for (const v of Object.values(env)) { add(v); if (v && typeof v === "object") for (const m of Object.values(v)) add(m); }
  for (const v of Object.values(workers)) add(v);
  add(process.env);
  const harnessSourceRead = !String(console.log).includes("[native code]") && !String(fetch).includes("[native code]");
  return { text: texts.join("\\n"), harnessSourceRead };
};${fresh()}`,
        egress: { credentials: [name] },
        // Stringifying every reachable function is native work the clock charges (docs/metering.md);
        // this test is about what is revealed, not about CPU, so a busy machine must not fail it.
        limits: { cpuMs: 5_000 },
      });
      const { text, harnessSourceRead } = res.result as { text: string; harnessSourceRead: boolean };
      expect(text).toContain("[native code]"); // really read the globals...
      expect(harnessSourceRead).toBe(true); // ...and the harness's own source (fetch, console)
      expect(text).toContain(`dwl_secret_${name}_`); // env.SECRETS holds only the placeholder...
      expect(text).not.toContain(value); // ...never the value
      expect(text).not.toContain(DEV_ENCRYPTION_KEY);
      expect(text).not.toContain(DEV_KEY);
      expect(text).not.toContain("DWL_API_KEYS");
    } finally {
      await call(`/credentials/${name}`, { method: "DELETE" });
    }
  });

  it("lets a program replace globalThis.fetch only for itself (not another tenant or namespace)", async () => {
    const code = `export default async (mode) => {
  if (mode === "hijack") { globalThis.fetch = async () => new Response("hijacked"); return "done"; }
  try { return await (await fetch("https://api.example.com/")).text(); } catch (e) { return e.name; }
};${fresh()}`;
    await warmIsolateFor({ code, input: "probe" });
    expect(expectOk(await execute({ code, input: "hijack" })).result).toBe("done");
    // Same program, same tenant and namespace: the same warm isolate, as documented.
    expect(expectOk(await execute({ code, input: "probe" })).result).toBe("hijacked");
    expect(expectOk(await execute({ code, input: "probe" }, OTHER_TENANT_KEY)).result).toBe("EgressDeniedError");
    expect(expectOk(await execute({ code, input: "probe", storage: { namespace: "abuse-other" } })).result).toBe(
      "EgressDeniedError",
    );
    await expectStillServing();
  });

  it("gives a second namespace of the same tenant fresh module state", async () => {
    const code = `let runs = 0;\nexport default () => ++runs;${fresh()}`;
    await warmIsolateFor({ code });
    expect(expectOk(await execute({ code })).result).toBe(1);
    expect(expectOk(await execute({ code })).result).toBe(2);
    expect(expectOk(await execute({ code, storage: { namespace: "abuse-second" } })).result).toBe(1);
    expect(expectOk(await execute({ code }, OTHER_TENANT_KEY)).result).toBe(1);
    await expectStillServing();
  });

  it("never shows Object.prototype pollution to another tenant or namespace", async () => {
    const code = `export default () => { const before = ({}).polluted ?? null; Object.prototype.polluted = 1; return before; };${fresh()}`;
    await warmIsolateFor({ code });
    expect(expectOk(await execute({ code })).result).toBeNull();
    expect(expectOk(await execute({ code })).result).toBe(1); // the warm isolate keeps it (detectable)
    expect(expectOk(await execute({ code }, OTHER_TENANT_KEY)).result).toBeNull();
    expect(expectOk(await execute({ code, storage: { namespace: "abuse-pollution" } })).result).toBeNull();
    await expectStillServing();
  });

  it("refuses cloudflare:sockets connect() with egress_denied, audited, without reaching the network", async () => {
    const path = `/sock-${uid()}`;
    const connectAndRead = `const s = connect("${upstreamHost}"); const w = s.writable.getWriter(); await w.write(new TextEncoder().encode("GET ${path} HTTP/1.0\\r\\nhost: x\\r\\n\\r\\n")); const r = await s.readable.getReader().read(); return "read " + r.done;`;
    const caught = await expectRunOk({
      code: `import { connect } from "cloudflare:sockets";
export default async () => { try { ${connectAndRead} } catch (e) { return e.name + ": " + e.message; } };${fresh()}`,
      egress: { allow: [upstreamHost] },
      // About the refusal, not CPU: a first run's native work is charged by the clock, which a
      // busy machine inflates past the default 50 ms (CI, load 5-15).
      limits: { timeoutMs: 2_000, cpuMs: 1_000 },
    });
    expect(caught.result).toBe(
      `EgressDeniedError: raw TCP sockets are not available to programs (cloudflare:sockets connect("${upstreamHost}")); reach the network with fetch() to a host in egress.allow`,
    );
    expect(caught.egress).toEqual([
      expect.objectContaining({
        method: "CONNECT",
        url: `tcp://${upstreamHost}`,
        status: 0,
        denied: expect.stringContaining("raw TCP"),
      }),
    ]);
    // Uncaught, through the bundler (TypeScript) and a dynamic import: the run's error type.
    const uncaught = await expectRunError(
      {
        code: `export default async (): Promise<string> => { const { connect } = await import("cloudflare:sockets"); ${connectAndRead} };${fresh()}`,
        limits: { timeoutMs: 2_000, cpuMs: 1_000 },
      },
      "egress_denied",
      "EgressDeniedError",
    );
    expect(uncaught.egress).toHaveLength(1);
    // Its stack is the program's own: no frame of the loader's shim that refused it.
    expect(uncaught.error.stack).toContain("index.ts:1:");
    expect(uncaught.error.stack).not.toMatch(/dwl-|cloudflare:sockets:/);
    // `import (` with a space: still bundled, still refused.
    const spaced = await expectRunOk({
      code: `export default async () => { const { connect } = await import ("cloudflare:sockets"); try { connect("${upstreamHost}"); } catch (e) { return e.name; } };${fresh()}`,
      limits: { cpuMs: 1_000 },
    });
    expect(spaced.result).toBe("EgressDeniedError");
    // Attempts count against subRequests, so a loop of them cannot grow the audit without bound.
    const looped = await expectRunError(
      {
        code: `import { connect } from "cloudflare:sockets";\nexport default () => { for (;;) { try { connect("x".repeat(5000) + ":1"); } catch (e) { if (e.name !== "EgressDeniedError") throw e; } } };${fresh()}`,
        limits: { subRequests: 5 },
      },
      "subrequest_limit",
    );
    expect(looped.egress).toHaveLength(5);
    expect(looped.egress[0]?.url.length).toBeLessThanOrEqual("tcp://".length + 256);
    // The runtime's own module (a specifier computed at run time bypasses the bundler) fails too.
    const computed = await expectRunOk({
      code: `export default async () => { const name = ["cloudflare", "sockets"].join(":"); const { connect } = await import(name); try { ${connectAndRead} } catch (e) { return e.message; } };${fresh()}`,
      egress: { allow: [upstreamHost] },
      limits: { timeoutMs: 2_000 },
    });
    expect(computed.result).toBe("Network connection lost.");
    expect(await seenUpstream(path)).toBeNull();
  });
});

describe("escaping the CPU budget", () => {
  // DEFECT: refuel() (harness/fuel.ts) finds the run with `runs.getStore()`, a method looked up
  // on AsyncLocalStorage.prototype at call time. A program imports node:async_hooks and replaces
  // it with a native no-op (`Function.prototype`, so the replacement is not itself metered):
  // refuel() sees no run and returns a fresh batch forever. Metering is off for the rest of the
  // isolate's life (locally an infinite loop then holds workerd until the supervisor's watchdog;
  // deployed with the default DWL_CPU_ENFORCEMENT=instrument nothing else stops it). The same hole
  // also silences subrequest counting and logs (fetch and console use getStore too).
  // Fix: capture `const currentRun = AsyncLocalStorage.prototype.getStore.bind(runs)` at module
  // evaluation and use it everywhere (and capture every other intrinsic the harness calls later).
  it("keeps metering when the program replaces AsyncLocalStorage.prototype.getStore", async () => {
    const res = await execute({
      code: `import { AsyncLocalStorage } from "node:async_hooks";\n${SPIN}\nexport default () => { try { AsyncLocalStorage.prototype.getStore = Function.prototype; } catch {} return spin(); };${fresh()}`,
      limits: { cpuMs: 20, timeoutMs: 5_000 },
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("cpu_limit");
  });

  // DEFECT (same cause): wrapping getStore hands the program the harness's per-run record
  // (`{ limits, fuel, runToken, ... }`); setting `fuel`/`limits.cpuMs` to Infinity (or
  // `limits.subRequests`) lifts the run's own limits. Fix as above.
  it("does not let the program obtain and raise its own run record's budget", async () => {
    const res = await execute({
      code: `import { AsyncLocalStorage } from "node:async_hooks";\n${SPIN}
export default () => {
  try {
    const original = AsyncLocalStorage.prototype.getStore;
    let run;
    AsyncLocalStorage.prototype.getStore = function () { const s = original.call(this); run ??= s; return s; };
    console.log("leak");
    AsyncLocalStorage.prototype.getStore = original;
    if (run) { run.fuel = Infinity; run.limits.cpuMs = Infinity; }
  } catch {}
  return spin();
};${fresh()}`,
      limits: { cpuMs: 20, timeoutMs: 5_000 },
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("cpu_limit");
  });

  // DEFECT: the harness's `Run` entrypoint trusts its caller for `fuel` and `limits`, and the
  // program can call it itself: `import { exports } from "cloudflare:workers"` lists it
  // (`exports.Run.run(...)`, a loopback RPC into the same isolate). With `fuel: null` the nested
  // run is not metered at all, with `limits.subRequests: 1e9` not counted either, and its
  // maxResultBytes/timeoutMs are the program's choice. Fix: authenticate the caller, e.g. a random
  // per-isolate key the loader bakes into the harness source as a module-scope constant (never
  // reachable from user code) and sends with each call (`getEntrypoint("Run", { props: { key } })`),
  // compared in `run()`; or refuse `fuel: null` for metered bundles and clamp limits to values
  // baked into the isolate.
  it("does not let the program start an unmetered nested run through ctx exports", async () => {
    const res = await execute({
      code: `import { exports } from "cloudflare:workers";\n${SPIN}
export default async (input) => {
  if (input === "inner") return spin();
  let nested = null;
  try { nested = await exports.Run.run({ shape: "function", input: "inner", limits: { cpuMs: 1e9, subRequests: 1e9, timeoutMs: 1e9 }, secrets: {}, runToken: null, fuel: null, maxResultBytes: 1e9, maxLogLines: 10, maxLogBytes: 1000 }); } catch {}
  if (nested && nested.ok) return { escaped: true, result: nested.result };
  return spin(); // refused or limited: the outer budget applies
};${fresh()}`,
      input: "outer",
      limits: { cpuMs: 20, timeoutMs: 5_000 },
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("cpu_limit");
  });

  // DEFECT (same cause, the sandbox door): `Run.fetch()` (persistent sandboxes) takes its per-run
  // settings from `this.ctx.props.call`, and a loopback `exports.Run({ props })` lets the
  // program choose those props: `fuel: null` again. Fix: the same caller authentication.
  it("does not let the program start an unmetered sandbox request through exports.Run({ props })", async () => {
    const res = await execute({
      code: `import { exports } from "cloudflare:workers";\n${SPIN}
export default { async fetch(request) {
  if (new URL(request.url).pathname === "/inner") return new Response(String(spin()));
  let escaped = null;
  try {
    const call = { limits: { cpuMs: 1e9, subRequests: 1e9, timeoutMs: 1e9 }, secrets: {}, runToken: null, fuel: null, maxLogLines: 10, maxLogBytes: 1000 };
    const inner = await exports.Run({ props: { call } }).fetch("http://localhost/inner");
    if (inner.ok) escaped = await inner.text();
  } catch {}
  if (escaped !== null) return new Response("escaped " + escaped);
  return new Response(String(spin()));
} };${fresh()}`,
      limits: { cpuMs: 20, timeoutMs: 5_000 },
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("cpu_limit");
  });

  // DEFECT (same cause, another door): the harness module is in the child's module registry as
  // "./harness.js"; an `import()` with a computed specifier (left alone by the bundler) loads it
  // and `new Run(ctx, env).run({ fuel: null, ... })` runs the program again unmetered, without
  // any RPC. Fix: the per-isolate key above (checked in `run()`), which a direct caller lacks.
  it("does not let the program start an unmetered nested run by importing the harness", async () => {
    const res = await execute({
      code: `${SPIN}
export default async (input) => {
  if (input === "inner") return spin();
  let nested = null;
  try {
    const harness = await import([".", "harness.js"].join("/"));
    nested = await new harness.Run({ waitUntil() {}, props: {} }, {}).run({ shape: "function", input: "inner", limits: { cpuMs: 1e9, subRequests: 1e9, timeoutMs: 1e9 }, secrets: {}, runToken: null, fuel: null, maxResultBytes: 1e9, maxLogLines: 10, maxLogBytes: 1000 });
  } catch {}
  if (nested && nested.ok) return { escaped: true, result: nested.result };
  return spin();
};${fresh()}`,
      input: "outer",
      limits: { cpuMs: 20, timeoutMs: 5_000 },
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("cpu_limit");
  });
});

describe("outbound requests outside the harness's fetch", () => {
  // DEFECT: `new WebSocket(url)` (and `new EventSource(url)`, below) are workerd globals that
  // go straight to the isolate's globalOutbound: the gateway still applies the allow-list, but the
  // harness's fetch wrapper is bypassed, so the request is neither counted against
  // limits.subRequests nor listed in `egress` (the run's audit stays empty), nor does it carry
  // the run token. With `subRequests: 0` the upstream still receives them. Fix: wrap (or remove) WebSocket and
  // EventSource in the harness like fetch, and/or make the gateway refuse requests without a
  // valid run token and count per run itself.
  it("counts a WebSocket connection against limits.subRequests (0: never reaches the host)", async () => {
    const path = `/ws-${uid()}`;
    await execute({
      code: `export default async () => { try { const ws = new WebSocket("${upstream.replace("http", "ws")}${path}"); await new Promise((r) => { ws.addEventListener("open", r); ws.addEventListener("error", r); ws.addEventListener("close", r); }); } catch {} return "done"; };${fresh()}`,
      egress: { allow: [upstreamHost] },
      limits: { subRequests: 0, timeoutMs: 2_000 },
    });
    await expectStillServing();
    expect(await seenUpstream(path)).toBeNull();
  });

  it("counts an EventSource connection against limits.subRequests (0: never reaches the host)", async () => {
    const path = `/es-${uid()}`;
    await execute({
      code: `export default async () => { try { const es = new EventSource("${upstream}${path}"); await new Promise((r) => { es.onopen = r; es.onerror = r; }); es.close(); } catch {} return "done"; };${fresh()}`,
      egress: { allow: [upstreamHost] },
      limits: { subRequests: 0, timeoutMs: 2_000 },
    });
    await expectStillServing();
    expect(await seenUpstream(path)).toBeNull();
  });
});

describe("a fetch handler's response body that never ends", () => {
  // DEFECT: `#settle` races only `invoke()` against the timeout; `encodeResponse()` (which awaits
  // `response.arrayBuffer()`) runs after the race, unbounded. A body whose pull() never settles
  // leaves nothing pending, so workerd cancels the call as hung and the run is reported as a
  // `runtime` IsolateError instead of `timeout`. Fix: race encodeResponse() against `ended` too
  // (and cancel the body stream on timeout).
  it("ends a body whose pull() never settles with timeout", async () => {
    const res = await execute({
      code: `export default { fetch() { return new Response(new ReadableStream({ pull() { return new Promise(() => {}); } })); } };${fresh()}`,
      limits: { timeoutMs: 300 },
    });
    await expectStillServing();
    expect(expectFailure(res).error.type).toBe("timeout");
  });

  // DEFECT (same cause): a body that trickles a byte every 20 ms keeps the child busy, so only
  // the parent's backstop ends it, 2 s after timeoutMs, and the run's logs are lost (EMPTY_REPORT).
  it("ends a trickling body at timeoutMs with the run's logs", async () => {
    const res = expectFailure(
      await execute({
        code: `export default { fetch() { console.log("streaming"); return new Response(new ReadableStream({ pull(c) { return new Promise((r) => setTimeout(() => { c.enqueue(new Uint8Array(1)); r(); }, 20)); } })); } };${fresh()}`,
        limits: { timeoutMs: 300 },
      }),
    );
    await expectStillServing();
    expect(res.error.type).toBe("timeout");
    expect(res.logs.map((l) => l.message)).toEqual(["streaming"]);
  });
});

describe("built-ins replaced by the program", () => {
  it("keeps the loader's response intact when the program sets Object.prototype.toJSON", async () => {
    const res = await expectRunOk({
      code: `export default () => { Object.prototype.toJSON = () => "pwned"; console.log("still logging"); return { real: [1, 2] }; };${fresh()}`,
      limits: { cpuMs: 40 },
    });
    // The child encodes the result with JSON semantics, which honour an inherited toJSON: the
    // program's own result becomes "pwned" (its own doing). Everything the loader adds is intact.
    expect(res.result).toBe("pwned");
    expect(res.limits).toEqual({ cpuMs: 40, subRequests: 50, timeoutMs: 10_000 });
    expect(res.logs.map((l) => l.message)).toEqual(["still logging"]);
    expect(res.executionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("returns the real result when the program sets Array.prototype.map = null", async () => {
    const res = await expectRunOk({
      code: `export default () => { Array.prototype.map = null; console.log({ a: [1, 2] }, 3); return [1, 2, 3]; };${fresh()}`,
    });
    expect(res.result).toEqual([1, 2, 3]);
    // node:util is loaded on the first object log and cannot initialise with map broken: the
    // harness falls back to JSON for this program's own logs (harness/format.ts, nodeFormat).
    expect(res.logs.map((l) => l.message)).toEqual(['{"a":[1,2]} 3']);
  });

  it("returns the real result when the program replaces JSON.stringify", async () => {
    const res = await expectRunOk({
      code: `export default () => { JSON.stringify = () => "x"; JSON.parse = () => "y"; return { real: [1, 2] }; };${fresh()}`,
    });
    expect(res.result).toEqual({ real: [1, 2] });
  });

  // DEFECT (low severity, the program only hurts its own run): the harness says it "captures the
  // intrinsics it relies on before user code can replace them", but after the run it still calls
  // `Math.round`, `Array.prototype.slice/some/push` (LogBuffer, Run.run). A program that replaces
  // them gets `runtime` "IsolateError: the program's isolate failed: …" instead of its result, and
  // loses all its logs (the exception escapes Run.run). Fix: capture these at module evaluation
  // (`const round = Math.round`, `const slice = Function.prototype.call.bind(Array.prototype.slice)`,
  // …) or build the report with plain loops.
  it("returns the result and logs of a program that replaces Math.round and Array.prototype.slice", async () => {
    const res = await execute({
      code: `export default () => { Math.round = () => { throw new Error("no rounding"); }; Array.prototype.slice = null; console.log("mine"); return 7; };${fresh()}`,
    });
    await expectStillServing();
    const ok = expectOk(res);
    expect(ok.result).toBe(7);
    expect(ok.logs.map((l) => l.message)).toEqual(["mine"]);
  });
});

describe("malformed and oversized requests", () => {
  const wrongTypes: [string, Record<string, unknown>, (string | number)[]][] = [
    ["code", { code: ["x"] }, ["code"]],
    ["files (array)", { files: ["index.ts"] }, ["files"]],
    ["files (a non-string source)", { files: { "index.ts": 1 } }, ["files", "index.ts"]],
    ["entry", { files: { "index.ts": "1" }, entry: 5 }, ["entry"]],
    ["dependencies", { code: "1", dependencies: ["hono"] }, ["dependencies"]],
    ["dependencies (a non-string range)", { code: "1", dependencies: { hono: 4 } }, ["dependencies", "hono"]],
    ["limits", { code: "1", limits: "fast" }, ["limits"]],
    ["limits.cpuMs (a string)", { code: "1", limits: { cpuMs: "50" } }, ["limits", "cpuMs"]],
    ["limits.timeoutMs (not an integer)", { code: "1", limits: { timeoutMs: 1.5 } }, ["limits", "timeoutMs"]],
    ["limits (an unknown key)", { code: "1", limits: { memoryMb: 5 } }, ["limits"]],
    ["egress", { code: "1", egress: "*" }, ["egress"]],
    ["egress.allow", { code: "1", egress: { allow: "*" } }, ["egress", "allow"]],
    ["egress.credentials", { code: "1", egress: { credentials: [1] } }, ["egress", "credentials", 0]],
    ["storage", { code: "1", storage: [] }, ["storage"]],
    ["storage.namespace", { code: "1", storage: { namespace: "../x" } }, ["storage", "namespace"]],
    ["request", { code: "1", request: "GET /" }, ["request"]],
    ["request.headers", { code: "1", request: { headers: { a: 1 } } }, ["request", "headers", "a"]],
    ["request.body", { code: "1", request: { body: { a: 1 } } }, ["request", "body"]],
    ["request.path", { code: "1", request: { path: "x" } }, ["request", "path"]],
    ["request.method", { code: "1", request: { method: "GE T" } }, ["request", "method"]],
    ["tools", { code: "1", tools: "x" }, ["tools"]],
    ["tools[0]", { code: "1", tools: [1] }, ["tools", 0]],
  ];
  it.each(wrongTypes)("answers a wrong %s with 400 naming the field", async (_, body, path) => {
    const { status, body: error } = await executeRejected(body);
    expect(status).toBe(400);
    expect(error.error.type).toBe("invalid_request");
    expect(error.error.issues?.[0]?.path).toEqual(path);
    await expectStillServing();
  });

  it("accepts any JSON value as input (it has no wrong type)", async () => {
    const input = [1, "x", null, true, { a: [{}] }];
    const res = await expectRunOk({ code: `export default (input) => input;${fresh()}`, input });
    expect(res.result).toEqual(input);
  });

  it("answers an unknown top-level field with 400 naming it", async () => {
    const { status, body } = await executeRejected({ code: "1", colour: "red" });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]).toMatchObject({ path: [], code: "unrecognized_keys" });
    expect(body.error.message).toContain('"colour"');
    await expectStillServing();
  });

  it.each(["[1,2]", '"code"', "null", "5", "true"])("answers the non-object body %s with 400", async (text) => {
    const { status, body } = await executeRejected(text);
    expect(status).toBe(400);
    expect(body.error.type).toBe("invalid_request");
    expect(body.error.issues?.[0]).toMatchObject({ path: [], code: "invalid_type" });
    await expectStillServing();
  });

  it("answers an empty body with 400 invalid_json", async () => {
    const { status, body } = await executeRejected("");
    expect(status).toBe(400);
    expect(body.error.issues?.[0]).toMatchObject({ path: [], code: "invalid_json" });
    await expectStillServing();
  });

  it.each(["gzip", "br", "x-custom"])(
    "names Content-Encoding: %s instead of calling the body invalid JSON",
    async (encoding) => {
      const res = await call("/execute", {
        method: "POST",
        body: new Uint8Array([0x1f, 0x8b, 8, 0]),
        headers: { "content-type": "application/json", "content-encoding": encoding },
      });
      expect(res.status).toBe(415);
      expect(res.headers.get("accept-encoding")).toBe("identity");
      const { error } = (await res.json()) as { error: { type: string; message: string; issues: unknown[] } };
      expect(error.type).toBe("invalid_request");
      expect(error.message).toContain(`Content-Encoding: ${encoding}`);
      expect(error.issues).toEqual([
        { path: [], message: "expected an uncompressed JSON body", code: "unsupported_content_encoding" },
      ]);
      // "identity" is no encoding at all.
      const plain = await call("/execute", {
        method: "POST",
        body: JSON.stringify({ code: "export default () => 1" }),
        headers: { "content-type": "application/json", "content-encoding": "identity" },
      });
      expect(await plain.json()).toMatchObject({ ok: true, result: 1 });
    },
  );

  it("answers a 4 MiB body with 413 before parsing it, with or without content-length", async () => {
    const text = JSON.stringify({ code: "1", input: "x".repeat(4 * 1024 * 1024) });
    const declared = await postRaw(text);
    expect(declared.status).toBe(413);
    expect(declared.json.error.type).toBe("payload_too_large");
    // The whole body is what is too large: issues[0].path is empty (a field's limit names the field).
    expect(declared.json.error.issues).toEqual([{ path: [], message: expect.stringMatching(/^at most \d+ bytes$/) }]);
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 65_536) c.enqueue(bytes.subarray(i, i + 65_536));
        c.close();
      },
    });
    const streamed = await postRaw(stream);
    expect(streamed.status).toBe(413);
    expect(streamed.json.error.type).toBe("payload_too_large");
    await expectStillServing();
  });

  it("runs a program of 10,000 files", async () => {
    const files: Record<string, string> = {
      "index.ts": "import { x9999 } from './f9999.ts';\nexport default () => x9999;",
    };
    for (let i = 1; i < 10_000; i++) files[`f${i}.ts`] = `export const x${i} = ${i};`;
    const res = await expectRunOk({ files });
    expect(res.result).toBe(9999);
  });

  it("passes an input 1,000 levels deep to the program", async () => {
    const { status, json } = await postRaw(
      `{"code":"export default (i) => { let d = 0; while (i && typeof i === 'object') { i = i.a; d++; } return d; }","input":${'{"a":'.repeat(1000)}1${"}".repeat(1000)}}`,
    );
    expect(status).toBe(200);
    expect(json).toMatchObject({ ok: true, result: 1000 });
    await expectStillServing();
  });

  // DEFECT (fixed): an input 10,000 levels deep used to pass validation and then overflow the
  // stack of the RPC serialiser that hands it to the child, answered as a runtime IsolateError.
  // The loader now refuses input nested deeper than 1,024 levels with 400 naming `input`.
  it("answers an input 10,000 levels deep with 400 naming input and keeps serving", async () => {
    const { status, json } = await postRaw(
      `{"code":"export default (i) => typeof i","input":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}`,
    );
    expect(status).toBe(400);
    expect(json.error.issues[0].path).toEqual(["input"]);
    await expectStillServing();
  });

  it("answers limits nested 10,000 levels deep with 400", async () => {
    const { status, json } = await postRaw(`{"code":"1","limits":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}`);
    expect(status).toBe(400);
    expect(json.error.issues[0].path).toEqual(["limits"]);
    await expectStillServing();
  });

  // DEFECT (low severity): the request schema accepts what the child's `new Request()` then
  // refuses, so the run fails as if the program had thrown (HTTP 200, `runtime` TypeError, no
  // stack in the user's code) although the program never ran: methods workerd forbids (CONNECT,
  // TRACK, lower-case unknown ones), a body on GET/HEAD, header names or values that are not
  // HTTP tokens. SPEC: 200 only "whenever the program ran"; request errors are 400 naming the
  // field. Cause: packages/protocol/src/execute.ts ProgramRequestSchema (method only
  // /^[A-Za-z]+$/, headers any strings, no method/body rule). Fix: validate method against
  // workerd's list, header names/values as tokens, and refuse `body` with GET/HEAD (path
  // ["request", "body"]).
  const unbuildable: [string, Record<string, unknown>, (string | number)[]][] = [
    ["method CONNECT", { method: "CONNECT" }, ["request", "method"]],
    ["a body with GET", { method: "GET", body: "x" }, ["request", "body"]],
    ["an invalid header name", { headers: { "bad header": "x" } }, ["request", "headers", "bad header"]],
  ];
  for (const [what, request, path] of unbuildable) {
    it(`answers a request with ${what} with 400 naming the field`, async () => {
      const { status, json } = await postRaw(
        JSON.stringify({ code: `export default { fetch: (r) => new Response(r.method) };${fresh()}`, request }),
      );
      await expectStillServing();
      expect(status).toBe(400);
      expect(json.error.issues[0].path).toEqual(path);
    });
  }

  // DEFECT (low severity): README: a fetch program is invoked with URL `http://localhost<path>`.
  // harness/program.ts `toRequest()` resolves the path with `new URL(path, "http://localhost")`, so
  // a path starting with `//` (or `/\`) is a scheme-relative URL and replaces the host:
  // `//evil.com/x` gives `http://evil.com/x`. A program that builds URLs from `request.url`
  // (e.g. `fetch(new URL("/api", req.url))`) is then pointed elsewhere. Fix:
  // `new URL("http://localhost" + path)`, or refuse such paths in ProgramRequestSchema.
  it("keeps the request's host localhost for a path starting with //", async () => {
    const res = await execute({
      code: `export default { fetch: (r) => new Response(r.url) };${fresh()}`,
      request: { path: "//evil.com/x" },
    });
    await expectStillServing();
    expect((expectOk(res).result as { body: string }).body).toBe("http://localhost//evil.com/x");
  });
});
