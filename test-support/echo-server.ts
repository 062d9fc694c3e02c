/**
 * Stands in for the public internet in egress tests: a loopback HTTP server that echoes what it
 * receives (method, path, headers, body) as JSON, redirects on /redirect?to=<url>&status=302, and
 * remembers the last request per path so a test can ask what really arrived (GET /__seen?path=).
 * `?type=<content type>` and `?gzip=1` shape the echo as hosts do that answer in binary types or
 * compress their answers.
 * Started once per run by global-setup.workerd.ts (and by python.node.test.ts for its own server);
 * the loader's tests reach it through DWL_TEST_UPSTREAM.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";

export interface EchoServer {
  url: string;
  close(): Promise<void>;
}

export async function startEchoServer(): Promise<EchoServer> {
  const seen = new Map<string, unknown>();
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const url = new URL(req.url ?? "/", "http://upstream");
    if (url.pathname === "/__seen") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(seen.get(url.searchParams.get("path") ?? "") ?? null));
      return;
    }
    seen.set(url.pathname, {
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    });
    if (url.pathname === "/redirect") {
      res
        .writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("to") ?? "/" })
        .end();
      return;
    }
    // Echoes the request's authorization in a header too, as httpbin-like hosts do.
    const echoed = req.headers.authorization ? { "x-echoed-authorization": req.headers.authorization } : {};
    const type = url.searchParams.get("type") ?? "application/json";
    const gzip = url.searchParams.get("gzip") === "1";
    const echo = JSON.stringify({
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
    });
    res.writeHead(200, {
      "content-type": type,
      "x-dwl-egress": "forged-by-upstream",
      ...echoed,
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    });
    res.end(gzip ? gzipSync(echo) : echo);
  });
  // As the npm registry (npm-registry/server.mjs): no idle connection closed under a test reusing it.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // Never the reason the test process stays alive.
  server.unref();
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
