/**
 * The client's HTTP behaviour in every corner: 429 retries with `Retry-After`, `runtime_restarted`
 * retried only for idempotent calls, deadlines, aborts, and answers that are not the wire format. Driven against a tiny stub server on loopback (the
 * real loader's 429s are covered in client.node.test.ts).
 */
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { rejection } from "./expect-rejection.node-test-util.ts";
import { DwlClient, parseRetryAfter } from "./index.ts";

const OK_RUN = {
  ok: true,
  result: 42,
  logs: [],
  egress: [],
  timing: { totalMs: 1, bundleMs: 0, startMs: 0, runMs: 1, cached: true },
  executionId: "stub",
};

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

/** One request the stub received; `at` is when its body had arrived (`Date.now()`). */
interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  at: number;
}

/** Serves `handlers[i]` for the i-th request (the last one for every later request). */
async function stub(...handlers: Handler[]): Promise<{ url: string; requests: Received[] }> {
  const requests: Received[] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, at: Date.now() });
      const handler = handlers[Math.min(requests.length - 1, handlers.length - 1)];
      handler?.(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address !== "object") throw new Error("no address");
  return { url: `http://127.0.0.1:${address.port}`, requests };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
const rateLimited = (retryAfter?: string) =>
  json(
    429,
    { error: { type: "rate_limited", message: "slow down" } },
    retryAfter === undefined ? {} : { "retry-after": retryAfter },
  );
const RESTARTED_MESSAGE = "the runtime restarted while this ran (another run brought it down)";
/** `runtime_restarted` of an execution: a 200 whose run failed. */
const restartedRun = (retryAfter = "1") =>
  json(
    200,
    {
      ...OK_RUN,
      ok: false,
      result: undefined,
      error: { type: "runtime_restarted", name: "RuntimeRestarted", message: RESTARTED_MESSAGE },
      executionId: "first",
    },
    { "retry-after": retryAfter },
  );
/** `runtime_restarted` of any other request: a 503. */
const restartedRequest = (retryAfter = "1") =>
  json(503, { error: { type: "runtime_restarted", message: RESTARTED_MESSAGE } }, { "retry-after": retryAfter });

describe("429 retries", () => {
  it("waits Retry-After, then retries and returns the answer", async () => {
    const { url, requests } = await stub(rateLimited("1"), json(200, OK_RUN));
    const client = new DwlClient({ url, key: "k" });
    const started = Date.now();
    const run = await client.execute({ code: "export default () => 42" });
    expect(run).toMatchObject({ ok: true, result: 42 });
    expect(requests).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    // The same request was sent again, body and key included.
    expect(requests[1]?.body).toBe(requests[0]?.body);
    expect(requests[1]?.headers.authorization).toBe("Bearer k");
  });

  it("reads Retry-After as an HTTP date too", async () => {
    const { url, requests } = await stub(rateLimited(new Date(Date.now() + 1500).toUTCString()), json(200, OK_RUN));
    const started = Date.now();
    await new DwlClient({ url, key: "k" }).execute({ code: "1" });
    expect(requests).toHaveLength(2);
    // HTTP dates have 1 s resolution: at least ~0.5 s of the 1.5 s survive the rounding.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it("backs off exponentially without Retry-After and gives up after `retries`", async () => {
    const { url, requests } = await stub(rateLimited());
    const started = Date.now();
    const err = await rejection(new DwlClient({ url, key: "k", retries: 2 }).execute({ code: "1" }));
    expect(requests).toHaveLength(3);
    // 250-500 ms, then 500-1000 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(err).toMatchObject({ status: 429, type: "rate_limited", message: "slow down" });
  });

  it("does not retry with retries: 0, and reports how long the server asked to wait", async () => {
    const { url, requests } = await stub(rateLimited("7"));
    const err = await rejection(new DwlClient({ url, key: "k", retries: 0 }).execute({ code: "1" }));
    expect(requests).toHaveLength(1);
    expect(err).toMatchObject({ status: 429, type: "rate_limited", retryAfterMs: 7000 });
  });

  it("gives up at once when Retry-After is past the call's deadline", async () => {
    const { url, requests } = await stub(rateLimited("60"), json(200, OK_RUN));
    const started = Date.now();
    const err = await rejection(new DwlClient({ url, key: "k", timeoutMs: 30_000 }).execute({ code: "1" }));
    // Far short of the 30 s deadline that waiting would run into.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(requests).toHaveLength(1);
    expect(err).toMatchObject({ type: "rate_limited", retryAfterMs: 60_000 });
  });

  it("retries other calls too (credentials.list)", async () => {
    const { url, requests } = await stub(rateLimited("0"), json(200, { credentials: [] }));
    expect(await new DwlClient({ url, key: "k" }).credentials.list()).toEqual({ credentials: [] });
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual(["GET /credentials", "GET /credentials"]);
  });

  it("never retries sandboxes.fetch: a 429 there may be the program's own answer", async () => {
    const { url, requests } = await stub((_req, res) => res.writeHead(429, { "retry-after": "0" }).end("busy"));
    const response = await new DwlClient({ url, key: "k" }).sandboxes.fetch("sb_1", "/x?y=1", {
      method: "POST",
      body: "hi",
    });
    expect(response.status).toBe(429);
    expect(await response.text()).toBe("busy");
    expect(requests).toMatchObject([{ method: "POST", url: "/sandboxes/sb_1/http/x?y=1", body: "hi" }]);
  });
});

describe("runtime_restarted: retried only for idempotent calls", () => {
  it("execute: not retried by default; the ok:false result is returned as is", async () => {
    const { url, requests } = await stub(restartedRun("0"));
    const run = await new DwlClient({ url, key: "k" }).execute({ code: "1" });
    expect(run).toMatchObject({
      ok: false,
      error: { type: "runtime_restarted", message: RESTARTED_MESSAGE },
      executionId: "first",
    });
    expect(requests).toHaveLength(1);
    // `idempotent: false` says the same.
    const again = await new DwlClient({ url, key: "k" }).execute({ code: "1" }, { idempotent: false });
    expect(again).toMatchObject({ ok: false, error: { type: "runtime_restarted" } });
    expect(requests).toHaveLength(2);
  });

  it("execute with idempotent: waits Retry-After, sends the same request again and returns its answer", async () => {
    const { url, requests } = await stub(restartedRun("1"), json(200, OK_RUN));
    const run = await new DwlClient({ url, key: "k" }).execute(
      { code: "export default () => 42", input: 1 },
      { idempotent: true },
    );
    expect(run).toMatchObject({ ok: true, result: 42 });
    expect(requests).toHaveLength(2);
    // The second request came no earlier than the 1 s the header asked for (1 ms of timer slack).
    expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(999);
    expect(requests[1]?.body).toBe(requests[0]?.body);
    expect(requests[1]?.headers.authorization).toBe("Bearer k");
  });

  it("sandboxes.execute with idempotent: retried the same way", async () => {
    const { url, requests } = await stub(restartedRun("0"), json(200, OK_RUN));
    const client = new DwlClient({ url, key: "k" });
    expect(await client.sandboxes.execute("sb_1", { input: 2 }, { idempotent: true })).toMatchObject({
      ok: true,
      result: 42,
    });
    expect(requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      'POST /sandboxes/sb_1/execute {"input":2}',
      'POST /sandboxes/sb_1/execute {"input":2}',
    ]);
    // Without it, the sandbox's run stands.
    const { url: url2, requests: requests2 } = await stub(restartedRun("0"), json(200, OK_RUN));
    expect(await new DwlClient({ url: url2, key: "k" }).sandboxes.execute("sb_1")).toMatchObject({
      ok: false,
      error: { type: "runtime_restarted" },
    });
    expect(requests2).toHaveLength(1);
  });

  it("other calls (a 503): not retried by default; rejects with type runtime_restarted and retryAfterMs", async () => {
    const { url, requests } = await stub(restartedRequest("1"), json(200, { credentials: [] }));
    const err = await rejection(new DwlClient({ url, key: "k" }).credentials.list());
    expect(err).toMatchObject({
      status: 503,
      type: "runtime_restarted",
      message: RESTARTED_MESSAGE,
      retryAfterMs: 1000,
    });
    expect(requests).toHaveLength(1);
  });

  it("other calls with idempotent: the 503 is retried after Retry-After", async () => {
    const { url, requests } = await stub(restartedRequest("1"), json(200, { credentials: [] }));
    expect(await new DwlClient({ url, key: "k" }).credentials.list({ idempotent: true })).toEqual({ credentials: [] });
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual(["GET /credentials", "GET /credentials"]);
    expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(999);
  });

  it("sandboxes.fetch with idempotent: retries the loader's 503, never a program's own 503 or 429", async () => {
    const { url, requests } = await stub(restartedRequest("0"), (_req, res) => res.writeHead(200).end("hi"));
    const response = await new DwlClient({ url, key: "k" }).sandboxes.fetch("sb_1", "/x", {
      method: "PUT",
      body: "v",
      idempotent: true,
    });
    expect(await response.text()).toBe("hi");
    expect(requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      "PUT /sandboxes/sb_1/http/x v",
      "PUT /sandboxes/sb_1/http/x v",
    ]);

    const { url: url2, requests: requests2 } = await stub(restartedRequest("0"));
    const plain = await new DwlClient({ url: url2, key: "k" }).sandboxes.fetch("sb_1", "/x");
    expect(plain.status).toBe(503);
    expect(await plain.json()).toMatchObject({ error: { type: "runtime_restarted" } });
    expect(requests2).toHaveLength(1);

    const { url: url3, requests: requests3 } = await stub(
      (_req, res) => res.writeHead(503, { "retry-after": "0" }).end("program says busy"),
      (_req, res) => res.writeHead(429, { "retry-after": "0" }).end("program says slow down"),
    );
    const client3 = new DwlClient({ url: url3, key: "k" });
    const own = await client3.sandboxes.fetch("sb_1", "/x", { idempotent: true });
    expect([own.status, await own.text()]).toEqual([503, "program says busy"]);
    const own429 = await client3.sandboxes.fetch("sb_1", "/x", { idempotent: true });
    expect([own429.status, await own429.text()]).toEqual([429, "program says slow down"]);
    expect(requests3).toHaveLength(2);
  });

  it("only runtime_restarted: other failed runs and other 503s are answers even when idempotent", async () => {
    const failed = json(
      200,
      {
        ...OK_RUN,
        ok: false,
        result: undefined,
        error: { type: "memory_limit", name: "MemoryLimit", message: "too big" },
      },
      { "retry-after": "0" },
    );
    const { url, requests } = await stub(failed, json(200, OK_RUN));
    expect(await new DwlClient({ url, key: "k" }).execute({ code: "1" }, { idempotent: true })).toMatchObject({
      ok: false,
      error: { type: "memory_limit" },
    });
    expect(requests).toHaveLength(1);

    const { url: url2, requests: requests2 } = await stub(
      json(503, { error: { type: "not_configured", message: "no" } }, { "retry-after": "0" }),
      json(200, { credentials: [] }),
    );
    expect(
      await rejection(new DwlClient({ url: url2, key: "k" }).credentials.list({ idempotent: true })),
    ).toMatchObject({ status: 503, type: "not_configured" });
    expect(requests2).toHaveLength(1);
  });

  it("is bounded by `retries`: the last runtime_restarted answer stands (ok:false, or the error)", async () => {
    const { url, requests } = await stub(restartedRun("0"));
    const run = await new DwlClient({ url, key: "k", retries: 2 }).execute({ code: "1" }, { idempotent: true });
    expect(run).toMatchObject({ ok: false, error: { type: "runtime_restarted" } });
    expect(requests).toHaveLength(3);

    const { url: url2, requests: requests2 } = await stub(restartedRequest("0"));
    const err = await rejection(
      new DwlClient({ url: url2, key: "k", retries: 1 }).files.list("demo", { idempotent: true }),
    );
    expect(err).toMatchObject({ status: 503, type: "runtime_restarted", retryAfterMs: 0 });
    expect(requests2).toHaveLength(2);
  });

  it("shares the retry budget with 429s", async () => {
    const { url, requests } = await stub(rateLimited("0"), restartedRun("0"), json(200, OK_RUN));
    const run = await new DwlClient({ url, key: "k", retries: 1 }).execute({ code: "1" }, { idempotent: true });
    expect(run).toMatchObject({ ok: false, error: { type: "runtime_restarted" } });
    expect(requests).toHaveLength(2);
  });

  it("is bounded by the deadline: a Retry-After past it gives the answer at once", async () => {
    const { url, requests } = await stub(restartedRun("60"), json(200, OK_RUN));
    const started = Date.now();
    const run = await new DwlClient({ url, key: "k", timeoutMs: 30_000 }).execute({ code: "1" }, { idempotent: true });
    expect(run).toMatchObject({ ok: false, error: { type: "runtime_restarted" } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(requests).toHaveLength(1);
  });

  it("dwl exec --idempotent and dwl sandbox exec --idempotent retry; without the flag the run fails (exit 1)", async () => {
    const { url, requests } = await stub(
      restartedRun("0"),
      json(200, OK_RUN),
      restartedRun("0"),
      json(200, OK_RUN),
      restartedRun("0"),
    );
    const cli = fileURLToPath(new URL("./cli.ts", import.meta.url));
    const dwl = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [cli, ...args, "--json"], {
          env: { ...process.env, DWL_URL: url, DWL_KEY: "k", NO_COLOR: "1" },
        });
        let stdout = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout }));
        child.stdin.end("export default () => 42");
      });
    const exec = await dwl("exec", "-", "--idempotent");
    expect([exec.code, JSON.parse(exec.stdout).ok]).toEqual([0, true]);
    const sandboxExec = await dwl("sandbox", "exec", "sb_1", "--idempotent");
    expect([sandboxExec.code, JSON.parse(sandboxExec.stdout).ok]).toEqual([0, true]);
    const plain = await dwl("exec", "-");
    expect([plain.code, JSON.parse(plain.stdout).error.type]).toEqual([1, "runtime_restarted"]);
    expect(requests.map((r) => r.url)).toEqual([
      "/execute",
      "/execute",
      "/sandboxes/sb_1/execute",
      "/sandboxes/sb_1/execute",
      "/execute",
    ]);
  });

  it("never resends a streamed body", async () => {
    const { url, requests } = await stub(restartedRequest("0"), json(200, { key: "a.txt", size: 2 }));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("hi"));
        controller.close();
      },
    });
    const err = await rejection(
      new DwlClient({ url, key: "k" }).files.put("demo", "a.txt", body, { idempotent: true }),
    );
    expect(err.type).toBe("runtime_restarted");
    expect(requests).toHaveLength(1);
  });
});

describe("deadlines and aborts", () => {
  const hang: Handler = () => {
    // never answers
  };

  it("throws a `timeout` error when no answer arrives within timeoutMs", async () => {
    const { url } = await stub(hang);
    const started = Date.now();
    const err = await rejection(new DwlClient({ url, key: "k", timeoutMs: 200 }).execute({ code: "1" }));
    expect(err).toMatchObject({ type: "timeout", status: 0 });
    // Far short of the client's default deadline.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a per-call timeoutMs overrides the client's", async () => {
    const { url } = await stub(hang);
    const err = await rejection(new DwlClient({ url, key: "k" }).files.list("demo", { timeoutMs: 100 }));
    expect(err.type).toBe("timeout");
  });

  it("the deadline covers the wait between retries", async () => {
    const { url } = await stub(rateLimited("3"), hang);
    const started = Date.now();
    const err = await rejection(new DwlClient({ url, key: "k", timeoutMs: 4_000 }).execute({ code: "1" }));
    expect(err.type).toBe("timeout");
    // A deadline restarted for the retry would end at 3 s + 4 s.
    expect(Date.now() - started).toBeLessThan(6_500);
  });

  it("throws an `aborted` error when the caller's signal aborts, with its reason as cause", async () => {
    const { url } = await stub(hang);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("user gave up")), 100);
    const err = await rejection(new DwlClient({ url, key: "k" }).execute({ code: "1" }, { signal: controller.signal }));
    expect(err.type).toBe("aborted");
    expect((err.cause as Error).message).toBe("user gave up");
  });

  it("does not even send with an already aborted signal", async () => {
    const { url, requests } = await stub(json(200, OK_RUN));
    const err = await rejection(
      new DwlClient({ url, key: "k" }).execute({ code: "1" }, { signal: AbortSignal.abort() }),
    );
    expect(err.type).toBe("aborted");
    expect(requests).toHaveLength(0);
  });

  it("aborting stops a retry wait", async () => {
    const { url } = await stub(rateLimited("30"));
    const started = Date.now();
    const err = await rejection(
      new DwlClient({ url, key: "k" }).execute({ code: "1" }, { signal: AbortSignal.timeout(200) }),
    );
    expect(err.type).toBe("aborted");
    // Far short of the 30 s wait.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("reports a `network` error when nothing listens", async () => {
    const { url } = await stub(hang);
    server?.close();
    server?.closeAllConnections();
    const err = await rejection(new DwlClient({ url, key: "k", retries: 0 }).execute({ code: "1" }));
    expect(err).toMatchObject({ type: "network", status: 0 });
  });
});

describe("answers that are not the wire format", () => {
  it("types an error without a DWL body by its status (a proxy's 502)", async () => {
    const { url } = await stub((_req, res) =>
      res.writeHead(502, { "content-type": "text/html" }).end("<h1>Bad gateway</h1>"),
    );
    const err = await rejection(new DwlClient({ url, key: "k" }).execute({ code: "1" }));
    expect(err).toMatchObject({ status: 502, type: "internal" });
    expect(err.message).toContain("Bad gateway");
  });

  it("throws `invalid_response`, with the schema's issues, for a 200 of the wrong shape", async () => {
    const { url } = await stub(json(200, { ok: true, result: 1 }));
    const err = await rejection(new DwlClient({ url, key: "k" }).execute({ code: "1" }));
    expect(err.type).toBe("invalid_response");
    expect(err.issues?.map((i) => i.path.join("."))).toContain("timing");
  });

  it("throws `invalid_response` for a 200 that is not JSON", async () => {
    const { url } = await stub((_req, res) => res.writeHead(200).end("hello"));
    expect((await rejection(new DwlClient({ url, key: "k" }).credentials.list())).type).toBe("invalid_response");
  });
});

describe("requests", () => {
  it("keeps a base path, encodes ids and keys, and sends the key", async () => {
    const { url, requests } = await stub((_req, res) => res.writeHead(204).end());
    const client = new DwlClient({ url: `${url}/dwl/`, key: "secret" });
    await client.files.delete("demo", "a b/c#d.txt");
    await client.sandboxes.delete("id/../x");
    await client.files.delete("demo", "..x/.y");
    expect(requests.map((r) => r.url)).toEqual([
      "/dwl/files/demo/a%20b/c%23d.txt",
      "/dwl/sandboxes/id%2F..%2Fx",
      "/dwl/files/demo/..x/.y",
    ]);
    expect(requests[0]?.headers.authorization).toBe("Bearer secret");
  });

  it("refuses ids and paths that URL parsing would resolve elsewhere, without sending", async () => {
    const { url, requests } = await stub((_req, res) => res.writeHead(204).end());
    const client = new DwlClient({ url, key: "k" });
    expect((await rejection(client.sandboxes.get(".."))).issues?.[0]?.path).toEqual(["id"]);
    expect((await rejection(client.sandboxes.fetch("sb_1", "/../logs"))).issues?.[0]?.path).toEqual(["path"]);
    expect((await rejection(client.files.delete("demo", "./x"))).issues?.[0]?.path).toEqual(["key"]);
    expect((await rejection(client.files.list(""))).type).toBe("invalid_request");
    expect(requests).toHaveLength(0);
  });

  it("uses the fetch it is given", async () => {
    const seen: string[] = [];
    const client = new DwlClient({
      url: "http://dwl.invalid",
      key: "k",
      fetch: async (input, init) => {
        seen.push(`${init?.method} ${String(input)}`);
        return Response.json(OK_RUN);
      },
    });
    expect(await client.execute({ code: "1" })).toMatchObject({ ok: true });
    expect(seen).toEqual(["POST http://dwl.invalid/execute"]);
  });

  it("parses Retry-After values", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(new Date(Date.now() - 10_000).toUTCString())).toBe(0);
  });
});
