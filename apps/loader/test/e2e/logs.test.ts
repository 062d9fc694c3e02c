import { format } from "node:util";
import { describe, expect, it } from "vitest";
import { execute, expectOk } from "../helpers.ts";

describe("logs", () => {
  it("renders every kind of argument exactly as Node's util.format does", async () => {
    // The harness joins primitives itself and hands the rest to node:util (loaded on first use).
    const calls = [
      `"a", 1, -0, 0, 5n, NaN, -Infinity, 1.5e300, true, null, undefined, Symbol("s"), ""`,
      `1, "raw string", 2`,
      `"%s is %d years and %i, %f, %j %o %O %c %%", "Bob", 42, "7.9", "1.5", { a: 1 }, [1], { b: 2 }, "color: red"`,
      `"100%", 5`,
      `{ x: [1, { y: new Map([[1, 2]]) }] }, [undefined, null], new Set(["a"])`,
      `() => 1, class A {}, new Error("boom").message`,
      `"%s", Symbol("t")`,
    ];
    const res = expectOk(await execute({ code: calls.map((args) => `console.log(${args});`).join("\n") }));
    // The same calls evaluated here, formatted by Node's util.format.
    const expected = calls.map((args) => format(...(new Function(`return [${args}];`)() as unknown[])));
    expect(res.logs.map((entry) => entry.message)).toEqual(expected);
  });

  it("captures every console level in order, with objects rendered readably", async () => {
    const res = expectOk(
      await execute({
        code: "console.log('a', 1); console.info({ x: [1, 2] }); console.warn('w'); console.error(new Error('e').message); console.debug('d %s', 'fmt');",
      }),
    );
    expect(res.logs.map(({ level, message }) => [level, message])).toEqual([
      ["log", "a 1"],
      ["info", "{ x: [ 1, 2 ] }"],
      ["warn", "w"],
      ["error", "e"],
      ["debug", "d fmt"],
    ]);
    for (const entry of res.logs) expect(entry.time).toBeGreaterThanOrEqual(0);
    expect(res.logsTruncated).toBeUndefined();
  });

  it("stamps lines logged by the module's top-level code with time 0, not a negative clock", async () => {
    const res = expectOk(
      await execute({
        code: `console.log("at import"); export default () => { console.log("in run"); return 1; }; // ${crypto.randomUUID()}`,
      }),
    );
    expect(res.logs.map((entry) => entry.message)).toEqual(["at import", "in run"]);
    for (const entry of res.logs) expect(entry.time).toBeGreaterThanOrEqual(0);
    expect(res.logs[0]?.time).toBe(0);
  });

  it("keeps 1,000 lines and marks the truncation", async () => {
    const res = expectOk(await execute({ code: "for (let i = 0; i < 1500; i++) console.log('line', i);" }));
    expect(res.logs).toHaveLength(1001);
    expect(res.logs[999]?.message).toBe("line 999");
    expect(res.logs[1000]).toMatchObject({ level: "warn" });
    expect(res.logs[1000]?.message).toContain("500 more line(s) dropped");
    expect(res.logsTruncated).toBe(true);
  });

  it("cuts one huge line at the 64 KiB byte limit and marks it", async () => {
    const res = expectOk(await execute({ code: "console.log('y'.repeat(200_000)); console.log('after');" }));
    const first = res.logs[0]?.message ?? "";
    expect(first.length).toBeLessThanOrEqual(64 * 1024);
    expect(first).toContain("[line cut at");
    expect(res.logsTruncated).toBe(true);
    expect(res.logs.at(-1)?.message).toContain("1 more line(s) dropped");
  });
});
