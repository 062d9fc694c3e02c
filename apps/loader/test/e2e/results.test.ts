import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk } from "../helpers.ts";

const resultOf = async (expr: string) => expectOk(await execute({ code: `export default () => (${expr})` })).result;

describe("result encoding", () => {
  it("returns JSON values as they are", async () => {
    expect(await resultOf(`{ a: [1, "x", true, null, { b: 2.5 }] }`)).toEqual({ a: [1, "x", true, null, { b: 2.5 }] });
  });

  it("encodes undefined, BigInt, Map, Set, Date and typed arrays as documented", async () => {
    expect(await resultOf("undefined")).toBeNull();
    expect(
      await resultOf(
        `{ u: undefined, n: 12345678901234567890n, m: new Map([["k", 1], [2, "v"]]), s: new Set([1, 2]), d: new Date(0), t: new Uint8Array([1, 2, 255]), e: new TypeError("bad"), nan: NaN }`,
      ),
    ).toEqual({
      n: "12345678901234567890",
      m: [
        ["k", 1],
        [2, "v"],
      ],
      s: [1, 2],
      d: "1970-01-01T00:00:00.000Z",
      t: [1, 2, 255],
      e: { name: "TypeError", message: "bad" },
      nan: null,
    });
  });

  it("says in a warn line that a Promise in the result was encoded as {}", async () => {
    const res = expectOk(
      await execute({ code: "export default (input) => input.map(async (n) => n * 2)", input: [1, 2] }),
    );
    expect(res.result).toEqual([{}, {}]);
    expect(res.logs).toEqual([
      expect.objectContaining({
        level: "warn",
        message:
          'the result contains a Promise (under key "0"), which JSON encodes as {}: await it (Promise.all for an array of them)',
      }),
    ]);
    // An awaited one is its value, with nothing to say.
    const awaited = expectOk(
      await execute({ code: "export default (input) => Promise.all(input.map(async (n) => n * 2))", input: [1, 2] }),
    );
    expect([awaited.result, awaited.logs]).toEqual([[2, 4], []]);
  });

  it("refuses a circular result with a clear runtime error", async () => {
    const res = expectFailure(await execute({ code: "export default () => { const a = { }; a.self = a; return a; }" }));
    expect(res.error).toMatchObject({ type: "runtime", name: "ResultError" });
    expect(res.error.message).toContain("circular");
  });

  it("reports a throwing getter in the result as a runtime error", async () => {
    const res = expectFailure(
      await execute({ code: "export default () => ({ get x() { throw new Error('getter says no') } })" }),
    );
    expect(res.error.type).toBe("runtime");
    expect(res.error.message).toContain("getter says no");
  });

  it("accepts a result of exactly the limit and refuses one byte more with output_too_large", async () => {
    // A JSON string of n characters encodes to n + 2 bytes (the quotes).
    const limit = 1024 * 1024;
    expect(expectOk(await execute({ code: `export default () => "x".repeat(${limit - 2})` })).result).toHaveLength(
      limit - 2,
    );
    const res = expectFailure(await execute({ code: `export default () => "x".repeat(${limit - 1})` }));
    expect(res.error.type).toBe("output_too_large");
  });

  it("returns a binary fetch response as base64", async () => {
    const res = expectOk(
      await execute({
        code: "export default { fetch() { return new Response(new Uint8Array([0, 255, 1]), { headers: { 'content-type': 'application/octet-stream' } }) } }",
      }),
    );
    expect(res.result).toMatchObject({ status: 200, body: "AP8B", bodyEncoding: "base64" });
  });
});
