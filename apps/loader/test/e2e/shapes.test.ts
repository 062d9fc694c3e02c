import { describe, expect, it } from "vitest";
import { execute, expectOk } from "../helpers.ts";

describe("program shapes", () => {
  it("calls a default-export function with input", async () => {
    const res = expectOk(await execute({ code: "export default (input) => input.a + input.b", input: { a: 1, b: 2 } }));
    expect(res.result).toBe(3);
  });

  it("calls a bare async arrow function", async () => {
    const res = expectOk(
      await execute({ code: "async (input) => { console.log('hi'); return input * 2 }", input: 21 }),
    );
    expect(res.result).toBe(42);
    expect(res.logs.map((l) => l.message)).toEqual(["hi"]);
  });

  it("runs a plain script with top-level await and returns null", async () => {
    const res = expectOk(
      await execute({ code: "console.log('a'); await new Promise(r => setTimeout(r, 5)); console.log('b');" }),
    );
    expect(res.result).toBeNull();
    expect(res.logs.map((l) => l.message)).toEqual(["a", "b"]);
  });

  it("invokes a fetch handler with the request", async () => {
    const res = expectOk(
      await execute({
        code: "export default { async fetch(req) { return new Response(req.method + ' ' + new URL(req.url).pathname + ' ' + await req.text(), { status: 201, headers: { 'x-a': '1' } }) } }",
        request: { method: "POST", path: "/hello", body: "yo" },
      }),
    );
    expect(res.result).toEqual({
      status: 201,
      headers: { "content-type": "text/plain;charset=UTF-8", "x-a": "1" },
      body: "POST /hello yo",
      bodyEncoding: "text",
    });
  });
});
