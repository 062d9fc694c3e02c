/**
 * @module main
 * `npm run dev`: the loader under `wrangler dev`, behind a supervising proxy on the public port
 * (default 8787). Configuration by environment: PORT, DWL_STATE_DIR (local KV/R2 state,
 * default .wrangler/state), DWL_HEAP_MB (per-isolate V8 heap, default 256), DWL_WATCHDOG_MS
 * (default 10000), DWL_MAX_RSS_MB (the runtime's resident memory cap, default 2048),
 * DWL_MAX_BODY_BYTES (default 8 MiB), DWL_KEY_CONCURRENCY (requests of one API key in the
 * runtime at once, default 16) and DWL_KEY_QUEUE (more waiting here in order, default 34:
 * together the loader's default per-tenant DWL_MAX_CONCURRENT of 50, past which it answers 429;
 * see key-admission.ts; keys the loader has not accepted yet share one such group, and
 * DWL_ACCEPTED_KEYS_MAX, default 10000, accepted ones are remembered: verified-keys.ts),
 * DWL_RECYCLE_IDLE_MS (default 10000; 0: never) and DWL_RECYCLE_RSS_MB (default 320): a runtime
 * idle that long with more resident memory than that is restarted to give back a burst's
 * high-water mark (see supervisor.ts). A setting that is not a whole number in its range stops
 * the start with a message naming it.
 * Extra arguments go to wrangler dev.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer } from "node:net";
import { fileURLToPath } from "node:url";
import { KeyAdmission } from "./key-admission.ts";
import { Runtime } from "./runtime.ts";
import { Supervisor } from "./supervisor.ts";
import { UNVERIFIED_GROUP, VerifiedKeys } from "./verified-keys.ts";
import type { BufferedRequest, BufferedResponse } from "./upstream.ts";
import { isExecution } from "./verdict.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
/** A whole-number setting from the environment; anything else stops the start, naming it. */
function setting(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (Number.isSafeInteger(value) && value >= min) return value;
  console.error(`[dwl] ${name}=${JSON.stringify(raw)} is not a whole number ≥ ${min} (default ${fallback})`);
  process.exit(2);
}

const port = setting("PORT", 8787, 0);
const heapLimitMb = setting("DWL_HEAP_MB", 256);
const watchdogMs = setting("DWL_WATCHDOG_MS", 10_000);
const maxResidentMb = setting("DWL_MAX_RSS_MB", 2048);
const maxBodyBytes = setting("DWL_MAX_BODY_BYTES", 8 * 1024 * 1024);
/**
 * 320 MB: a fresh runtime with a few dozen warm programs stays under it (measured: ~220 MB with
 * 20), and a burst of a few thousand executions leaves workerd at 420-540 MB.
 */
const recycleIdleMs = setting("DWL_RECYCLE_IDLE_MS", 10_000, 0);
const recycleResidentMb = setting("DWL_RECYCLE_RSS_MB", 320);
const recycle = recycleIdleMs > 0 ? { idleMs: recycleIdleMs, residentMb: recycleResidentMb } : undefined;
/**
 * 16 in the runtime per key keeps a flood's requests few there (the runtime interleaves all it
 * holds, so a quiet tenant's run waits for every one of them); the 34 waiting keep 50 admitted
 * per key, the loader's default limit, so the 51st gets 429 as the loader would answer.
 */
const admission = new KeyAdmission({ concurrency: setting("DWL_KEY_CONCURRENCY", 16), queue: setting("DWL_KEY_QUEUE", 34, 0) });

/**
 * V8 flags for workerd (facts.md, measured): catastrophic regular expressions fall back to a
 * linear-time engine instead of freezing the runtime; a smaller heap makes a memory bomb abort
 * in ~1 s instead of ~6 s. Cost: workerd's bootstrap compile cache is skipped, so a new isolate
 * starts a few ms slower (bench/results.md).
 */
const v8Flags = [
  "--enable-experimental-regexp-engine-on-excessive-backtracks",
  "--regexp-backtracks-before-fallback=10000",
  `--max-old-space-size=${heapLimitMb}`,
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port"))));
    });
  });
}

async function readRequest(req: IncomingMessage): Promise<BufferedRequest | "too large"> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBodyBytes) return "too large";
    chunks.push(chunk);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers[name] = value;
  return { method: req.method ?? "GET", path: req.url ?? "/", headers, body: chunks.length ? Buffer.concat(chunks) : undefined };
}

const internalPort = await freePort();
const runtime = new Runtime({
  root,
  port: internalPort,
  stateDir: process.env.DWL_STATE_DIR ?? ".wrangler/state",
  v8Flags,
  // Local mode: the dev key works and credentials use the documented dev encryption key.
  extraArgs: ["--var", "DWL_MODE:local", ...process.argv.slice(2)],
});
const supervisor = new Supervisor(runtime, { origin: `http://127.0.0.1:${internalPort}`, watchdogMs, heapLimitMb, maxResidentMb, recycle });

/** Requests are grouped by the credential they present (hashed; no header: one shared group). */
const credentialOf = (authorization: string | undefined) => createHash("sha256").update(authorization ?? "").digest("hex");
/** ...once the runtime has accepted it; until then it shares one group (see verified-keys.ts). */
const verifiedKeys = new VerifiedKeys(setting("DWL_ACCEPTED_KEYS_MAX", 10_000));

const requests = (n: number) => `${n} request${n === 1 ? "" : "s"}`;

function rateLimited(retryAfterSeconds: number, message: string): BufferedResponse {
  const body = { error: { type: "rate_limited", message: `${message}; retry in ${retryAfterSeconds} s` } };
  return { status: 429, headers: [["content-type", "application/json; charset=utf-8"], ["retry-after", String(retryAfterSeconds)]], body: Buffer.from(JSON.stringify(body)) };
}

function send(res: ServerResponse, response: BufferedResponse, method: string): void {
  const lengthKnown = method === "HEAD" && response.headers.some(([name]) => name === "content-length");
  res.writeHead(response.status, [...response.headers, ...(lengthKnown ? [] : [["content-length", String(response.body.length)]])].flat());
  res.end(response.body);
}

/**
 * Admission comes before the body is read: a refused request costs a hash and a small answer,
 * and the body of a request still waiting for its slot stays in the socket, not in memory.
 */
const server = createServer(async (req, res) => {
  const method = req.method ?? "GET";
  const path = req.url ?? "/";
  // The health probe must answer even while a key is flooding.
  const credential = path === "/healthz" ? undefined : credentialOf(req.headers.authorization);
  const group = credential === undefined ? undefined : verifiedKeys.groupOf(credential);
  const execution = isExecution({ method, path });
  let release: (() => void) | undefined;
  if (group !== undefined) {
    const slot = admission.enter(group, execution);
    if ("refused" in slot) {
      req.resume(); // discard the body unread
      const holders = group === UNVERIFIED_GROUP ? "API keys the loader has not accepted yet together have" : "this API key already has";
      const message = slot.refused === "queue_full"
        ? `${holders} ${requests(admission.limits.concurrency)} running${admission.limits.queue ? ` and ${admission.limits.queue} waiting` : ""}`
        : "this API key is over its execution limits";
      send(res, rateLimited(slot.retryAfterSeconds, message), method);
      return;
    }
    release = await slot;
  }
  try {
    const request = await readRequest(req);
    if (request === "too large") {
      res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ error: { type: "payload_too_large", message: `the request body is over ${maxBodyBytes} bytes` } }));
      return;
    }
    const response = await supervisor.handle(request);
    if (credential !== undefined) verifiedKeys.answered(credential, path, response.status);
    const retryAfter = Number(response.headers.find(([name]) => name === "retry-after")?.[1]);
    // The loader refused this key's execution: hold its next ones here until Retry-After (the key
    // was accepted, so this is its own group now).
    if (credential !== undefined && response.status === 429 && execution && Number.isInteger(retryAfter) && retryAfter > 0) admission.block(verifiedKeys.groupOf(credential), retryAfter);
    send(res, response, method);
  } catch {
    // The client went away mid-body (or the socket failed): nothing left to answer.
    res.destroy();
  } finally {
    release?.();
  }
});

runtime.on("exit", (code) => {
  supervisor.stop();
  server.close();
  process.exit(code);
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    runtime.stop();
    setTimeout(() => process.exit(0), 3_000).unref();
  });
}

runtime.start();
await supervisor.waitHealthy();
supervisor.startWatchdog();
server.listen(port, "127.0.0.1", () => console.log(`[dwl] loader ready on http://127.0.0.1:${port} (supervised; runtime on :${internalPort})`));
