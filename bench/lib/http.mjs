// Load generation for the bench scripts. node:http with a keep-alive agent rather than fetch():
// at concurrency 1,000 the client shares 2 cores with the servers, and node:http costs less CPU
// per request; the agent's socket cap also makes "concurrency" mean open connections exactly.
import http from "node:http";

/** A keep-alive agent allowing `sockets` connections per origin. Destroy it after use. */
export function agentFor(sockets) {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

/**
 * One request. Never throws: a network error or timeout is `status: 0` with `error` set, so a
 * load run can count failures instead of stopping at the first.
 * @returns {Promise<{ ms: number, status: number, headers: import("node:http").IncomingHttpHeaders, text: string, error?: string }>}
 */
export function request(agent, url, { method = "GET", headers = {}, body, timeoutMs = 60_000 } = {}) {
  const target = new URL(url);
  return new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    const done = (result) => {
      if (settled) return;
      settled = true;
      resolve({ ms: performance.now() - started, headers: {}, text: "", ...result });
    };
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method,
        agent,
        headers: body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on("error", (err) => done({ status: 0, error: `response: ${err.code ?? err.message}` }));
      },
    );
    req.on("error", (err) => done({ status: 0, error: err.code ?? err.message }));
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error("timeout"), { code: `timeout after ${timeoutMs} ms` })),
    );
    req.end(body);
  });
}

/**
 * Closed loop: `concurrency` workers each send a request as soon as their previous one answered,
 * until `count` requests were started or `maxMs` passed (then in-flight requests still finish).
 * `send(i)` performs request number i and returns `{ ms, error?, detail? }` (error: a short string
 * that classifies a failure, detail: what came back; failures still count in latencies, so they
 * cannot flatter the figures). The first detail of each kind of error is kept for the report.
 */
export async function closedLoop({ count, concurrency, maxMs = Infinity, send }) {
  let next = 0;
  const latencies = [];
  const errors = new Map();
  const details = new Map();
  const started = performance.now();
  const stopAt = started + maxMs;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count && performance.now() < stopAt) {
        const r = await send(next++);
        latencies.push(r.ms);
        if (r.error) {
          errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
          if (!details.has(r.error)) details.set(r.error, r.detail);
        }
      }
    }),
  );
  const wallMs = performance.now() - started;
  return {
    wallMs,
    latencies,
    errors,
    details,
    completed: latencies.length,
    failed: [...errors.values()].reduce((a, b) => a + b, 0),
    timedOut: next < count,
  };
}
