import { format } from "node:util";
import { describe, expect, it } from "vitest";
import { execute, expectOk } from "../helpers.ts";

const utf8 = (text: string) => new TextEncoder().encode(text).length;

/** A cut line's kept start and the byte count its marker states. */
function cutLine(message: string): { kept: string; stated: number } {
  const match = /… \[line cut at (\d+) bytes\]$/.exec(message);
  if (!match) throw new Error(`not a cut line: …${message.slice(-40)}`);
  return { kept: message.slice(0, match.index), stated: Number(match[1]) };
}

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

  it("maps the stacks a program logs to its own files, as its uncaught errors' are", async () => {
    const res = expectOk(
      await execute({
        code: "export default () => {\n  try {\n    (null as any).x;\n  } catch (e) {\n    console.error(e);\n    console.log('stack: ' + (e as Error).stack);\n  }\n  return 1;\n}",
      }),
    );
    const printed = res.logs.map((l) => l.message).join("\n");
    expect(printed).toMatch(
      /TypeError: Cannot read properties of null \(reading 'x'\)\n {4}at default \(index\.ts:3:\d+\)/,
    );
    expect(printed).toContain("stack: TypeError");
    expect(printed).not.toMatch(/harness\.js|user\.js|user\//);
  });

  it.each([
    [
      "a promise rejected with nothing to handle it",
      "(async () => { throw new Error('bg fail'); })();",
      /^\[dwl\] a promise was rejected and nothing handled it: Error: bg fail\n {4}at index\.ts:2:\d+/,
    ],
    [
      "what a timer's callback threw",
      "setTimeout(() => { throw new Error('timer fail'); }, 0);",
      /^\[dwl\] a setTimeout callback threw and nothing caught it: Error: timer fail\n {4}at index\.ts:2:\d+/,
    ],
  ])("reports %s as an error line, at the user's line, and the run goes on", async (_what, line, message) => {
    const res = expectOk(
      await execute({
        code: `export default async () => {\n  ${line}\n  await new Promise((r) => setTimeout(r, 20));\n  return 1;\n}`,
      }),
    );
    expect(res.result).toBe(1);
    expect(res.logs).toEqual([expect.objectContaining({ level: "error", message: expect.stringMatching(message) })]);
  });

  it.each([
    ["returns at once", ""],
    ["waits before it returns", "await new Promise((r) => setTimeout(r, 30));\n  "],
  ])("logs a failed call to env the program did not await, when it %s", async (_, wait) => {
    const res = expectOk(
      await execute({
        code: `export default async (_, env) => {\n  env.KV.put("big", "y".repeat(2_000_000));\n  ${wait}return "saved";\n}`,
      }),
    );
    expect(res.result).toBe("saved");
    expect(res.logs).toContainEqual(
      expect.objectContaining({
        level: "error",
        message: expect.stringMatching(
          /^\[dwl\] a promise was rejected and nothing handled it: .*StorageLimitError.*\n {4}at default \(index\.ts:2:\d+\)/s,
        ),
      }),
    );
  });

  it("logs nothing for a failed call to env the program caught", async () => {
    const res = expectOk(
      await execute({
        code: 'export default async (_, env) => { try { await env.KV.put("big", "y".repeat(2_000_000)); } catch { return "caught"; } }',
      }),
    );
    expect(res).toMatchObject({ result: "caught", logs: [] });
  });

  it("keeps 1,000 lines with the truncation marked among them", async () => {
    const res = expectOk(await execute({ code: "for (let i = 0; i < 1500; i++) console.log('line', i);" }));
    expect(res.logs).toHaveLength(1000);
    expect(res.logs[998]?.message).toBe("line 998");
    expect(res.logs[999]).toMatchObject({ level: "warn" });
    expect(res.logs[999]?.message).toContain("501 more line(s) dropped");
    expect(res.logsTruncated).toBe(true);
  });

  it("keeps exactly 1,000 lines whole, with no marker", async () => {
    const res = expectOk(await execute({ code: "for (let i = 0; i < 1000; i++) console.log('line', i);" }));
    expect(res.logs).toHaveLength(1000);
    expect(res.logs[999]?.message).toBe("line 999");
    expect(res.logsTruncated).toBeUndefined();
  });

  it("keeps the whole of the logs, the marker of dropped lines included, within 64 KiB", async () => {
    const res = expectOk(
      await execute({
        code: "for (let i = 0; i < 100; i++) console.log('é'.repeat(1_000));",
        limits: { cpuMs: 1_000 },
      }),
    );
    expect(res.logs.at(-1)?.message).toContain("more line(s) dropped");
    expect(res.logs.reduce((n, l) => n + utf8(l.message), 0)).toBeLessThanOrEqual(64 * 1024);
  });

  it("keeps logs of exactly 64 KiB whole, unmarked, and marks them one byte over", async () => {
    // 63 lines of 1,024 bytes and one of 1,024 - n: 64 KiB - n in all.
    const logs = async (n: number) =>
      expectOk(
        await execute({
          code: `for (let i = 0; i < 63; i++) console.log("a".repeat(1024)); console.log("b".repeat(${1024 + n}));`,
          limits: { cpuMs: 1_000 },
        }),
      );
    const exact = await logs(0);
    expect(exact.logs).toHaveLength(64);
    expect(exact.logs.at(-1)?.message).toBe("b".repeat(1024));
    expect(exact.logsTruncated).toBeUndefined();
    const over = await logs(1);
    expect(over.logsTruncated).toBe(true);
    expect(over.logs.reduce((n, l) => n + utf8(l.message), 0)).toBeLessThanOrEqual(64 * 1024);
    // The last line is cut at the limit, its start kept; nothing else was dropped.
    expect(over.logs.at(-1)?.message).toMatch(/^b+… \[line cut at \d+ bytes\]$/);
    expect(over.logs.slice(0, 63).every((l) => l.message === "a".repeat(1024))).toBe(true);
  });

  it("makes room for the marker of dropped lines by cutting the last whole line", async () => {
    const res = expectOk(
      await execute({ code: `console.log("a".repeat(65_534)); console.log("next");`, limits: { cpuMs: 1_000 } }),
    );
    expect(res.logs.map((l) => l.level)).toEqual(["log", "warn"]);
    expect(res.logs[0]?.message).toMatch(/^a{65000,}… \[line cut at \d+ bytes\]$/);
    expect(res.logs[1]?.message).toContain("1 more line(s) dropped");
    expect(res.logs.reduce((n, l) => n + utf8(l.message), 0)).toBeLessThanOrEqual(64 * 1024);
  });

  it.each([
    ["中", 100_000],
    ["😀", 20_000],
    ["é", 40_000],
  ])("counts the 64 KiB in UTF-8 bytes: %s × %i is cut on a character boundary, marker true", async (char, n) => {
    const res = expectOk(
      await execute({ code: `console.log(${JSON.stringify(char)}.repeat(${n}));`, limits: { cpuMs: 1_000 } }),
    );
    const message = res.logs[0]?.message ?? "";
    expect(utf8(message)).toBeLessThanOrEqual(64 * 1024);
    const { kept, stated } = cutLine(message);
    expect(char.repeat(n).startsWith(kept)).toBe(true);
    expect(kept.length % char.length).toBe(0); // no half of a surrogate pair
    expect(stated).toBe(utf8(kept));
    expect(stated).toBeGreaterThan(64 * 1024 - 256);
    expect(res.logsTruncated).toBe(true);
  });

  it("keeps a line of 80,000 UTF-16 units but fewer bytes whole, and counts short lines exactly", async () => {
    // 900 lines of 70 ASCII bytes (63,000 bytes) all fit; so does one of 30,000 é (60,000 bytes).
    const lines = expectOk(await execute({ code: "for (let i = 0; i < 900; i++) console.log('x'.repeat(70));" }));
    expect(lines.logs).toHaveLength(900);
    expect(lines.logsTruncated).toBeUndefined();
    const accents = expectOk(await execute({ code: "console.log('é'.repeat(30_000));" }));
    expect(accents.logs[0]?.message).toBe("é".repeat(30_000));
    expect(accents.logsTruncated).toBeUndefined();
  });

  it("bounds several lines by their UTF-8 bytes in total", async () => {
    const res = expectOk(
      await execute({ code: "for (let i = 0; i < 3; i++) console.log('é'.repeat(20_000));", limits: { cpuMs: 1_000 } }),
    );
    const kept = res.logs.filter((l) => l.level === "log");
    expect(kept.reduce((n, l) => n + utf8(l.message), 0)).toBeLessThanOrEqual(64 * 1024);
    expect(kept[0]?.message).toBe("é".repeat(20_000));
    const second = cutLine(kept[1]?.message ?? "");
    expect(second.stated).toBe(utf8(second.kept));
    expect(res.logsTruncated).toBe(true);
  });

  it("counts bytes with its own encoder, whatever the program does to TextEncoder", async () => {
    const res = expectOk(
      await execute({
        code: `TextEncoder.prototype.encode = () => new Uint8Array(0);
TextEncoder.prototype.encodeInto = (s) => ({ read: s.length, written: 0 });
Object.defineProperty(Object.getPrototypeOf(Uint8Array.prototype), "length", { get: () => 0 });
export default () => { console.log("y".repeat(200_000)); return 1; };`,
      }),
    );
    const message = res.logs[0]?.message ?? "";
    expect(utf8(message)).toBeLessThanOrEqual(64 * 1024);
    expect(cutLine(message).stated).toBe(utf8(cutLine(message).kept));
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
