import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk } from "../helpers.ts";

const lines = (...l: string[]) => l.join("\n");

async function expectCpuLimit(code: string, cpuMs = 50): Promise<void> {
  const res = expectFailure(await execute({ code, limits: { cpuMs, timeoutMs: 20_000 } }));
  expect(res.error).toMatchObject({ type: "cpu_limit", name: "CpuLimitError" });
  expect(expectOk(await execute({ code: "export default () => 'next run is fine'" })).result).toBe("next run is fine");
}

describe("CPU metering (instrumented code)", () => {
  it("stops a synchronous infinite loop", () => expectCpuLimit("while (true) {}"));

  it("says which bound ended the run: metered steps, not a CPU time it did not measure", async () => {
    // Fuel runs out in about a tenth of the clock's 1,000 ms here: a descheduling cannot decide it.
    const res = expectFailure(
      await execute({ code: "export default () => { for (;;) {} }", limits: { cpuMs: 500, timeoutMs: 20_000 } }),
    );
    expect(res.error.message).toBe(
      "CPU limit reached: its loop iterations and calls went past the count that limits.cpuMs = 500 ms allows",
    );
  });

  it.each([
    ["do-while", "do { i++; } while (true);"],
    ["labeled continue", "outer: for (;;) { for (;;) { i++; continue outer; } }"],
    [
      "for-in inside a while without a body of its own",
      "const o = { a: 1, b: 2 }; while (true) for (const k in o) i++;",
    ],
    [
      "for-of over an endless iterator",
      "for (const x of { [Symbol.iterator]: () => ({ next: () => ({ done: false, value: i++ }) }) }) {}",
    ],
    ["a sort comparator", "const a = Array.from({ length: 1e5 }, (_, k) => k); for (;;) a.sort((x, y) => y - x);"],
    ["a valueOf called by arithmetic", "const o = { valueOf() { return i++; } }; for (;;) o * 2;"],
  ])("stops a loop: %s", (_, loop) => expectCpuLimit(`export default () => { let i = 0; ${loop} }`));

  it("stops a loop in a default-export function", () =>
    expectCpuLimit("export default () => { let i = 0; for (;;) i++; }"));

  it("cannot be escaped with try/catch/finally", () =>
    expectCpuLimit(
      "export default () => { for (;;) { try { while (true) {} } catch (e) {} finally { for (;;) {} } } }",
    ));

  it("cannot be escaped by re-entering a loop from the catch block", () =>
    expectCpuLimit("function spin() { try { for (;;) {} } catch { spin(); } }\nexport default () => spin();"));

  it("stops exponential recursion that swallows stack overflows", () =>
    expectCpuLimit("function f() { try { f(); } catch { f(); } }\nexport default () => f();"));

  // bundle/direct-calls.ts: a declaration only ever called by name has no check at its entry;
  // each call of it pays instead (inside such a declaration, one check per path pays for all).
  it.each([
    [
      "exponential recursion",
      "function f(n) { return n < 1 ? 0 : f(n - 1) + f(n - 1); }\nexport default () => f(200);",
    ],
    [
      "mutual recursion",
      "function a(n) { return n < 1 ? 0 : b(n - 1) + b(n - 1); }\nfunction b(n) { if (n < 1) return 0; const l = a(n - 1); return l + a(n - 1); }\nexport default () => a(200);",
    ],
    [
      "recursion in a default parameter",
      "function f(n, a = n < 1 ? 0 : f(n - 1) + f(n - 1)) { return a; }\nexport default () => f(200);",
    ],
    [
      "recursion in a class field",
      "function f(n) { return n < 1 ? 0 : new C(n).v; }\nclass B { constructor(n) { this.n = n; } }\nclass C extends B { v = f(this.n - 1) + f(this.n - 1); }\nexport default () => f(200);",
    ],
  ])("stops %s in functions only called by name", (_, code) => expectCpuLimit(code));

  it("gives functions only called by name the results they had", async () => {
    const code = lines(
      "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }",
      "function ack(m, n) { return m === 0 ? n + 1 : n === 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1)); }",
      "function walk(t) { if (!t) return 0; const l = walk(t.l), r = walk(t.r); return l + r + 1; }",
      "function tree(d) { return d === 0 ? null : { l: tree(d - 1), r: tree(d - 1) }; }",
      "function even(n) { if (n === 0) return true; else return odd(n - 1); }",
      "function odd(n) { return n !== 0 && even(n - 1); }",
      "export default () => [fib(20), ack(2, 3), walk(tree(10)), even(101), odd(101)];",
    );
    expect(expectOk(await execute({ code })).result).toEqual([6765, 9, 1023, false, true]);
  });

  it("stops a loop in module scope, where workerd forbids timers (fuel alone)", () =>
    expectCpuLimit("let n = 0;\nwhile (true) n++;\nexport default () => n;"));

  it("stops a loop of awaits", () => expectCpuLimit("export default async () => { for (;;) await null; }"));

  it("stops a microtask storm", () =>
    expectCpuLimit(
      "const storm = () => Promise.resolve().then(storm);\nexport default async () => { storm(); await new Promise(() => {}); }",
    ));

  it("stops a CPU-heavy loop in a fetch handler", () =>
    expectCpuLimit("export default { fetch() { let x = 0; while (true) x += Math.random(); } }"));

  it("meters bundled dependencies too (code in another file)", async () => {
    const res = expectFailure(
      await execute({
        files: {
          "index.ts": "import { spin } from './lib.ts';\nexport default () => spin();",
          "lib.ts": "export const spin = () => { while (true) {} };",
        },
        limits: { cpuMs: 20 },
      }),
    );
    expect(res.error.type).toBe("cpu_limit");
  });

  // A cyclic import can call a module's function declaration before that module's first line
  // (where its counter is created) has run: the call must be metered, and must work.
  const earlyCall = (loop: string) => ({
    "index.ts": lines(
      `import { early } from "./b.ts";`,
      `export function run(n: number) { return spin(n); }`,
      `function spin(n: number) { let s = 0; ${loop} return s; }`,
      `export default () => early;`,
    ),
    "b.ts": lines(`import { run } from "./index.ts";`, `export const early = run(10);`),
  });

  it("meters a function a cyclic import calls before its module ran", async () => {
    expect(expectOk(await execute({ files: earlyCall("for (let i = 0; i < n; i++) s += i;") })).result).toBe(45);
    const res = expectFailure(await execute({ files: earlyCall("for (;;) s++;"), limits: { cpuMs: 20 } }));
    expect(res.error.type).toBe("cpu_limit");
  });

  it("meters a module whose own `globalThis` a cyclic import gave a __dwlRefuel of its own", async () => {
    const res = expectFailure(
      await execute({
        files: {
          "index.ts": lines(
            `import "./b.ts";`,
            `export function globalThis() {}`,
            `export default () => { for (;;) {} };`,
          ),
          "b.ts": lines(`import { globalThis as g } from "./index.ts";`, `(g as any).__dwlRefuel = () => 1e9;`),
        },
        limits: { cpuMs: 20, timeoutMs: 5_000 },
      }),
    );
    expect(res.error.type).toBe("cpu_limit");
  });

  it("lets the same work finish under a larger budget", async () => {
    const code = "export default () => { let s = 0; for (let i = 0; i < 3e6; i++) s += i % 7; return s; }";
    expect(expectFailure(await execute({ code, limits: { cpuMs: 5 } })).error.type).toBe("cpu_limit");
    expect(expectOk(await execute({ code, limits: { cpuMs: 1_000 } })).result).toBe(8999994);
  });

  it("does not charge one run's loop to a concurrent run of the same program", async () => {
    const code = `export default async (spin) => { await new Promise((r) => setTimeout(r, 5)); if (spin) for (;;) {} return "quiet"; } // ${crypto.randomUUID()}`;
    const [spinner, quiet] = await Promise.all([execute({ code, input: true }), execute({ code, input: false })]);
    expect(expectFailure(spinner).error.type).toBe("cpu_limit");
    expect(expectOk(quiet).result).toBe("quiet");
  });

  it("keeps stack traces on the user's lines in metered code", async () => {
    const res = expectFailure(
      await execute({
        files: {
          "index.ts":
            "const f = (x: number) => {\n  if (x > 2) throw new Error('deep');\n  return f(x + 1);\n};\nexport default () => f(0);",
        },
      }),
    );
    expect(res.error.stack).toMatch(/index\.ts:2:\d+/);
    expect(res.error.stack).not.toContain("__dwl");
  });

  it("keeps a function's directive without a semicolon a directive, and the function callable", async () => {
    // The entry check once followed the directive's string directly: `"use strict"(check)`.
    const code = lines(
      "function strict() {",
      '  "use strict"',
      "  return this === undefined;",
      "}",
      "export default () => [strict.call(undefined), strict.call(42)];",
    );
    expect(expectOk(await execute({ code })).result).toEqual([true, false]);
  });

  it("stops loops and recursion in the options of import(), which the walker once skipped", async () => {
    await expectCpuLimit(
      'export default () => { import/**/("x", (() => { let i = 0; while (i < 2e10) i++; })()).catch(() => {}); return 0; }',
    );
    const calls = Array.from({ length: 16 }, () => "f(n - 1)").join(", ");
    await expectCpuLimit(
      `function f(n) { return n ? import/**/("x", [${calls}]) && 1 : 1; }\nexport default () => { f(8); return 0; }`,
    );
  });
});
