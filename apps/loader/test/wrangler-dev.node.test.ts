/**
 * Starts the loader the way a user does (`scripts/serve.mjs`, what `npm run dev` runs after the
 * bootstrap) and drives it over real HTTP on loopback.
 */
import { bodyTooLargeError, ExecuteResponseSchema, RequestErrorBodySchema } from "@dwl/protocol";
import { request } from "node:http";
import { beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../../../test-support/dev-server.ts";
import { upload } from "../../../test-support/upload.ts";
import { MAX_CREDENTIAL_BODY_BYTES, MAX_FILE_BYTES, programBodyCap, readServerLimits } from "../src/limits.ts";

let server: DevServerClient;
beforeAll(async () => {
  server = await sharedDevServer();
});

const post = (path: string, body: unknown, key?: string | null) => server.post(path, body, key);

describe("wrangler dev over HTTP", () => {
  it("runs a TypeScript program with the dev key", async () => {
    const res = await post("/execute", {
      code: "export default (input: { n: number }) => { console.log('n is', input.n); return input.n * 2; }",
      input: { n: 21 },
    });
    expect(res.status).toBe(200);
    const body = ExecuteResponseSchema.parse(await res.json());
    expect(body).toMatchObject({ ok: true, result: 42, logs: [{ level: "log", message: "n is 21" }] });
  });

  it("refuses literal . and .. segments in /files paths with 400, as it does encoded ones", async () => {
    // node:http sends the path as written; fetch() would resolve the dots before sending.
    const put = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const { hostname, port } = new URL(server.base);
        const req = request({
          hostname,
          port,
          path,
          method: "PUT",
          headers: { authorization: "Bearer dwl_local_dev" },
        });
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end("x");
      });
    for (const path of ["/files/ns1/../ns2/x", "/files/ns1/a/./b", "/files/ns1/%2e%2e/ns2/x"]) {
      const res = await put(path);
      expect(res.status, path).toBe(400);
      expect(RequestErrorBodySchema.parse(JSON.parse(res.body)).error).toMatchObject({
        type: "invalid_request",
        issues: [{ path: ["key"] }],
      });
    }
  });

  it("refuses a body between the loader's own cap and the server's with the loader's 413, every time", async () => {
    // Under the server's 16 MiB: the loader refuses these, and the refusal must not be lost to the
    // reset of a connection closed with the rest of the body unread.
    const programCap = programBodyCap(readServerLimits({ DWL_MODE: "local" }));
    const cases = [
      { method: "PUT", path: "/files/caps/big.bin", bytes: MAX_FILE_BYTES + 2 * 1024 * 1024, cap: MAX_FILE_BYTES },
      { method: "POST", path: "/execute", bytes: programCap + 1024 * 1024, cap: programCap },
      { method: "PUT", path: "/credentials/big", bytes: 1024 * 1024, cap: MAX_CREDENTIAL_BODY_BYTES },
    ];
    for (const { method, path, bytes, cap } of cases) {
      const expected = bodyTooLargeError(cap, path.startsWith("/files/") ? "file" : "request");
      for (const chunked of [false, true, false, true]) {
        const res = await upload(`${server.base}${path}`, { method, headers: auth, bytes, chunked }).catch((e) => {
          throw new Error(`${method} ${path} chunked=${chunked}: ${e}`);
        });
        expect(res.status, `${method} ${path} chunked=${chunked}`).toBe(413);
        expect(RequestErrorBodySchema.parse(JSON.parse(res.body)).error).toEqual(expected);
      }
    }
    expect((await fetch(`${server.base}/files/caps/big.bin`, { headers: auth })).status).toBe(404);
  });

  it("answers 401 with a JSON error without a key", async () => {
    const res = await post("/execute", { code: "1" }, null);
    expect(res.status).toBe(401);
    expect(RequestErrorBodySchema.parse(await res.json()).error.type).toBe("unauthorized");
  });

  it("defuses a catastrophic regular expression (V8 flags from scripts/serve.mjs)", async () => {
    // Without the linear-time fallback this backtracks for minutes and freezes the whole runtime.
    const res = await post("/execute", {
      code: 'export default () => /(a+)+$/.test("a".repeat(40) + "b")',
      limits: { timeoutMs: 5_000 },
    });
    expect(ExecuteResponseSchema.parse(await res.json())).toMatchObject({ ok: true, result: false });
  });

  it("ends a never-settling program with `timeout` and keeps serving", async () => {
    const slow = ExecuteResponseSchema.parse(
      await (await post("/execute", { code: "await new Promise(() => {})", limits: { timeoutMs: 200 } })).json(),
    );
    expect(slow.ok).toBe(false);
    if (!slow.ok) expect(slow.error.type).toBe("timeout");
    const next = ExecuteResponseSchema.parse(
      await (await post("/execute", { code: "export default () => 'still here'" })).json(),
    );
    expect(next).toMatchObject({ ok: true, result: "still here" });
  });
});

const auth = { authorization: "Bearer dwl_local_dev" };
