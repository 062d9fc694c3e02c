import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REFUEL_GLOBAL } from "../sandbox/child-globals.ts";
import { rewriteBundle } from "./rewrite.ts";

/**
 * Runs metered programs here, with a refuel that hands out nothing, so that it sees every unit:
 * where the checks are (direct-calls.ts) must not change what a run is charged, one unit per
 * function call and per loop iteration, as when every function had a check at its entry.
 */
let units = 0;
let checks = 0;
beforeAll(() => {
  Object.defineProperty(String.prototype, REFUEL_GLOBAL, {
    value: (counter: { f: number }) => {
      units += -counter.f;
      checks++;
      return 0;
    },
    configurable: true,
  });
});
afterAll(() => {
  delete (String.prototype as unknown as Record<string, unknown>)[REFUEL_GLOBAL];
});

function run(code: string, input: unknown): { result: unknown; units: number; checks: number } {
  const metered = rewriteBundle(
    { code, fileName: "user.js", source: { name: "user.js" } },
    { wrapScript: false, meter: true },
  ).code;
  const main = new Function(metered.replace("export default ", "return "))() as (input: unknown) => unknown;
  units = 0;
  checks = 0;
  const result = main(input);
  return { result, units, checks };
}

describe("functions only called by name: the units a run is charged", () => {
  it.each([
    // fib(20) makes 21,891 calls, plus the default export's.
    [
      "recursion",
      "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nexport default (n) => fib(n);",
      20,
      6765,
      21892,
      10946,
    ],
    [
      "recursion, `if` first",
      "function fib(n) { if (n < 2) return n; return fib(n - 1) + fib(n - 2); }\nexport default (n) => fib(n);",
      20,
      6765,
      21892,
      10946,
    ],
    // a(1000): 1 + a 501 times, b 500 times, c 500 times.
    [
      "mutual recursion",
      "function a(n) { if (n <= 0) return 0; return b(n - 1) + 1; }\nfunction b(n) { return n <= 0 ? 0 : a(n - 1) + c(n); }\nfunction c(n) { return n & 1; }\nexport default (n) => a(n);",
      1000,
      1000,
      1502,
      1001,
    ],
    // 1 + 1,000 iterations + d 1,000 times + sq 2,000 times; d's check pays for its two calls.
    [
      "calls from a loop",
      "function sq(x) { return x * x; }\nfunction d(a, b) { return sq(a) + sq(b); }\nexport default (n) => { let s = 0; for (let i = 0; i < n; i++) s += d(i, i + 1); return s; }",
      1000,
      666667000,
      4001,
      2001,
    ],
    // Ackermann(2, 50): 5,355 calls, one check per path that calls.
    [
      "nested calls",
      "function ack(m, n) { return m === 0 ? n + 1 : n === 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1)); }\nexport default (n) => ack(2, n);",
      50,
      103,
      5356,
      2704,
    ],
    // Callbacks native code calls keep their own checks: 1 + 3 × 1,000 callbacks (one of them pays for inc) + inc 1,000 times.
    [
      "callbacks of native code",
      "function inc(x) { return x + 1; }\nexport default (n) => Array.from({ length: n }, (_, i) => i).map((x) => inc(x)).reduce((a, b) => a + b, 0);",
      1000,
      500500,
      4001,
      3001,
    ],
    // Branches that call different functions: each path is counted by what it calls.
    [
      "a dispatch",
      "function f1(x) { return x + 1; }\nfunction f2(x) { return x * 2; }\nfunction f3(x) { return x - 3; }\nfunction run(op, x) { if (op === 0) return f1(x); if (op === 1) return f2(x); return f3(x); }\nexport default (n) => { let s = 0; for (let i = 0; i < n; i++) s = run(i % 3, s) | 0; return s; }",
      3000,
      1,
      9001,
      6001,
    ],
  ])("%s", (_, code, input, result, expectedUnits, expectedChecks) => {
    const ran = run(code, input);
    expect(ran.result).toBe(result);
    expect(ran.units).toBe(expectedUnits);
    expect(ran.checks).toBe(expectedChecks);
  });
});
