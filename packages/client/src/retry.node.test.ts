/**
 * The client's HTTP behaviour in every corner: 429 retries with `Retry-After`, deadlines, aborts,
 * and answers that are not the wire format. Driven against a tiny stub server on loopback (the
 * real loader's 429s are covered in client.node.test.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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

/** Serves `handlers[i]` for the i-th request (the last one for every later request). */
async function stub(...handlers: Handler[]): Promise<{ url: string; requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[] }> {
  const requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[] = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const handler = handlers[Math.min(requests.length - 1, handlers.length - 1)];
      handler?.(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address !== "object") throw new Error("no address");
  return { url: `http://127.0.0.1:${address.port}`, requests };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};
const rateLimited = (retryAfter?: string) => json(429, { error: { type: "rate_limited", message: "slow down" } }, retryAfter === undefined ? {} : { "retry-after": retryAfter });

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
    const err = await rejection(new DwlClient({ url, key: "k", timeoutMs: 2_000 }).execute({ code: "1" }));
    expect(Date.now() - started).toBeLessThan(1_000);
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
    const response = await new DwlClient({ url, key: "k" }).sandboxes.fetch("sb_1", "/x?y=1", { method: "POST", body: "hi" });
    expect(response.status).toBe(429);
    expect(await response.text()).toBe("busy");
    expect(requests).toMatchObject([{ method: "POST", url: "/sandboxes/sb_1/http/x?y=1", body: "hi" }]);
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
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("a per-call timeoutMs overrides the client's", async () => {
    const { url } = await stub(hang);
    const err = await rejection(new DwlClient({ url, key: "k" }).files.list("demo", { timeoutMs: 100 }));
    expect(err.type).toBe("timeout");
  });

  it("the deadline covers the wait between retries", async () => {
    const { url } = await stub(rateLimited("1"), hang);
    const started = Date.now();
    const err = await rejection(new DwlClient({ url, key: "k", timeoutMs: 1_500 }).execute({ code: "1" }));
    expect(err.type).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(3_000);
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
    const err = await rejection(new DwlClient({ url, key: "k" }).execute({ code: "1" }, { signal: AbortSignal.abort() }));
    expect(err.type).toBe("aborted");
    expect(requests).toHaveLength(0);
  });

  it("aborting stops a retry wait", async () => {
    const { url } = await stub(rateLimited("30"));
    const started = Date.now();
    const err = await rejection(new DwlClient({ url, key: "k" }).execute({ code: "1" }, { signal: AbortSignal.timeout(200) }));
    expect(err.type).toBe("aborted");
    expect(Date.now() - started).toBeLessThan(2_000);
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
    const { url } = await stub((_req, res) => res.writeHead(502, { "content-type": "text/html" }).end("<h1>Bad gateway</h1>"));
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
    expect(requests.map((r) => r.url)).toEqual(["/dwl/files/demo/a%20b/c%23d.txt", "/dwl/sandboxes/id%2F..%2Fx", "/dwl/files/demo/..x/.y"]);
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
