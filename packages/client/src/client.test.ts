/**
 * The SDK inside workerd (the `workerd` vitest project): proof that the core needs nothing but
 * what a Worker has. Its `fetch` is the loader's own handler, called in-process.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DwlClient, DwlRequestError } from "./index.ts";

const dwl = new DwlClient({
  url: "http://loader.test",
  key: "dwl_local_dev",
  fetch: (input, init) => exports.default.fetch(new Request(input, init)),
});

describe("DwlClient in a Worker", () => {
  it("runs a program and returns its result", async () => {
    expect(await dwl.execute({ code: "export default (n: number) => n * 2", input: 21 })).toMatchObject({
      ok: true,
      result: 42,
    });
  });

  it("throws a typed request error with the field issues", async () => {
    const err = await dwl.execute({ code: 1 } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DwlRequestError);
    expect(err).toMatchObject({ status: 400, type: "invalid_request", issues: [{ path: ["code"] }] });
  });

  it("round-trips a file", async () => {
    await dwl.files.put("worker", "hello.txt", "hi from a Worker", { contentType: "text/plain" });
    expect(await (await dwl.files.get("worker", "hello.txt"))?.text()).toBe("hi from a Worker");
    expect((await dwl.files.list("worker")).objects.map((o) => o.key)).toEqual(["hello.txt"]);
  });
});
