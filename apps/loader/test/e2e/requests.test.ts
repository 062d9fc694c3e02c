import { describe, expect, it } from "vitest";
import { call, execute, executeRejected, expectOk } from "../helpers.ts";

describe("request validation", () => {
  it("answers invalid JSON with 400", async () => {
    const { status, body } = await executeRejected("{ not json");
    expect(status).toBe(400);
    expect(body.error.type).toBe("invalid_request");
  });

  it("requires code or files, naming the field", async () => {
    const { status, body } = await executeRejected({ input: 1 });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["code"]);
  });

  it("names a field of the wrong type", async () => {
    const { status, body } = await executeRejected({ code: 5 });
    expect(status).toBe(400);
    expect(body.error.issues?.map((i) => i.path)).toContainEqual(["code"]);
  });

  it("names an invalid limit", async () => {
    const { status, body } = await executeRejected({ code: "1", limits: { cpuMs: -1 } });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["limits", "cpuMs"]);
  });

  it("refuses a file path that escapes the project", async () => {
    const { status, body } = await executeRejected({ files: { "../x.ts": "1" } });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["files", "../x.ts"]);
  });

  it.each([
    [{ files: { "./index.ts": "1" } }, '`files["./index.ts"]`: the key: must be a relative path with forward slashes'],
    [{ files: { "/abs.ts": "1" } }, '`files["/abs.ts"]`: the key: must be a relative path'],
    [
      { files: { "README.md": "x" } },
      '`files["README.md"]`: the key: must end in one of .ts .tsx .js .mjs .jsx .json .py',
    ],
    [
      { code: "export default { fetch: () => new Response('') }", request: { headers: { "bad header": "x" } } },
      '`request.headers["bad header"]`: the key: header names must be HTTP tokens',
    ],
  ])("says why a record key is refused, naming it: %j", async (body, message) => {
    const { status, body: answer } = await executeRejected(body);
    expect(status).toBe(400);
    expect(answer.error.message).toContain(`invalid request: ${message}`);
    expect(answer.error.issues?.[0]?.message).not.toMatch(/Invalid key in record/);
  });

  it.each([
    [{ code: "1", limit: { cpuMs: 5 } }, 'Unrecognized key: "limit" (did you mean "limits" for "limit"?)'],
    [
      { code: "1", limits: { timeout: 5 } },
      '`limits`: Unrecognized key: "timeout" (did you mean "timeoutMs" for "timeout"?)',
    ],
    [
      { code: "1", egress: { allowed: ["a.com"] } },
      '`egress`: Unrecognized key: "allowed" (did you mean "allow" for "allowed"?)',
    ],
  ])("suggests the field a mistyped key meant: %j", async (body, message) => {
    const { status, body: answer } = await executeRejected(body);
    expect(status).toBe(400);
    expect(answer.error.message).toBe(`invalid request: ${message}`);
  });

  it("suggests nothing for a key like no field", async () => {
    const { body: answer } = await executeRejected({ code: "1", zzz: 1 });
    expect(answer.error.message).toBe('invalid request: Unrecognized key: "zzz"');
  });

  it("refuses an entry that is not among the files", async () => {
    const { status, body } = await executeRejected({ files: { "a.ts": "1" }, entry: "b.ts" });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["entry"]);
  });

  it("names every default entry when files have none of them", async () => {
    const { status, body } = await executeRejected({ files: { "a.ts": "1", "b.ts": "2" } });
    expect(status).toBe(400);
    expect(body.error.message).toBe(
      "no entry file: add index.ts, index.js, index.tsx, index.jsx or index.mjs to `files`, or set `entry`",
    );
    const python = await executeRejected({ files: { "a.py": "1", "b.py": "2" } });
    expect(python.body.error.message).toBe("no entry file: add main.py to `files`, or set `entry`");
  });

  it("accepts code of exactly 1 MiB and answers 413 one byte over", async () => {
    const limit = 1024 * 1024;
    const head = "export default () => 1;\n//";
    const atLimit = head + "x".repeat(limit - head.length);
    expect(expectOk(await execute({ code: atLimit })).result).toBe(1);
    const { status, body } = await executeRejected({ code: `${atLimit}x` });
    expect(status).toBe(413);
    expect(body.error).toMatchObject({ type: "payload_too_large", issues: [{ path: ["code"] }] });
  });

  it("answers 413 for input over 1 MiB", async () => {
    const { status, body } = await executeRejected({
      code: "export default (i) => i.length",
      input: "x".repeat(1024 * 1024),
    });
    expect(status).toBe(413);
    expect(body.error.issues?.[0]?.path).toEqual(["input"]);
  });

  it("caps requested limits at the server maxima and reports them", async () => {
    const res = await execute({
      code: "export default () => 1",
      limits: { cpuMs: 1e9, timeoutMs: 1e9, subRequests: 1e6 },
    });
    expect(res.limits).toEqual({ cpuMs: 30_000, timeoutMs: 30_000, subRequests: 50 });
    // Past 2^53 too: a limit is capped, however large, never refused for its size.
    const huge = await execute({ code: "export default () => 1", limits: { cpuMs: 1e20, timeoutMs: 1e300 } });
    expect(huge.limits).toMatchObject({ cpuMs: 30_000, timeoutMs: 30_000 });
  });

  it("takes subRequests: 0 as no requests at all, and refuses fractions and values under the minimum", async () => {
    expect((await execute({ code: "export default () => 1", limits: { subRequests: 0 } })).limits?.subRequests).toBe(0);
    for (const limits of [{ cpuMs: 1.5 }, { cpuMs: 0 }, { timeoutMs: 0 }, { subRequests: -1 }]) {
      const { status, body } = await executeRejected({ code: "export default () => 1", limits });
      expect(status).toBe(400);
      expect(body.error.issues?.map((issue) => issue.path)).toEqual([["limits", Object.keys(limits)[0]]]);
    }
  });
});

describe("methods", () => {
  it("answers a known path with another method 405, with Allow naming the methods it takes", async () => {
    for (const [path, method, allow] of [
      ["/execute", "GET", "POST"],
      ["/sandboxes", "DELETE", "GET, POST"],
      ["/credentials", "POST", "GET"],
    ] as const) {
      const res = await call(path, { method });
      expect([res.status, res.headers.get("allow")], `${method} ${path}`).toEqual([405, allow]);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        `${path} answers ${allow}, not ${method}`,
      );
    }
    expect((await call("/no-such-route")).status).toBe(404);
  });
});

describe("authentication", () => {
  it("answers 401 without a key", async () => {
    const { status, body } = await executeRejected({ code: "1" }, null);
    expect(status).toBe(401);
    expect(body.error.type).toBe("unauthorized");
  });

  it("answers 401 for a wrong key", async () => {
    const { status } = await executeRejected({ code: "1" }, "dwl_wrong");
    expect(status).toBe(401);
  });

  it("challenges every 401 for a Bearer key, and says when the header holds another scheme or a bare key", async () => {
    const refused = async (authorization: string) => {
      const res = await call("/execute", {
        method: "POST",
        key: null,
        headers: { authorization, "content-type": "application/json" },
        body: JSON.stringify({ code: "1" }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="dwl"');
      return ((await res.json()) as { error: { message: string } }).error.message;
    };
    expect(await refused("Basic ZHdsOmR3bA==")).toBe(
      'the Authorization header is not a Bearer key (its scheme is "Basic"): send `Authorization: Bearer <key>`',
    );
    // A bare key is not echoed back.
    const bare = await refused("dwl_local_dev");
    expect(bare).toContain("is not a Bearer key");
    expect(bare).not.toContain("dwl_local_dev");
    expect(await refused("Bearer dwl_wrong")).toBe("invalid API key");
    // Two Authorization headers, which HTTP joins with a comma: one key is expected.
    expect(await refused("Bearer dwl_local_dev, Bearer other")).toBe(
      "the Authorization header holds more than one word after Bearer (two keys, or a key with spaces): send `Authorization: Bearer <key>`",
    );
  });

  it("serves /healthz without a key", async () => {
    const res = await call("/healthz", { key: null });
    expect(res.status).toBe(200);
  });
});
