// Latency/throughput bench of the loader against the bare Worker Loader binding (`npm run bench`).
//
// Serves two Workers with `wrangler dev` on loopback, side by side:
//   - the loader (wrangler.toml at the repository root), POST /execute;
//   - bench/raw-worker, a baseline that calls env.LOADER.load()/get() directly with a trivial child.
// Then measures, interleaving baseline and loader so machine noise lands on both:
//   a. cold: a new program every request (bundle cache and isolate cache miss) vs raw /load;
//   b. warm: the same program, throughput at fixed concurrency, vs raw /get;
//   c. TypeScript multi-file bundling: timing.bundleMs on a bundle-cache miss and on a hit.
// Prints a table and writes bench/results.md. Bounded by a global deadline; every process it
// starts runs in its own process group and is killed on exit, error, or signal.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WRANGLER = `${ROOT}node_modules/wrangler/bin/wrangler.js`;
const RESULTS_FILE = `${ROOT}bench/results.md`;
const API_KEY = "dwl_local_dev";

const COLD_ITERATIONS = 100;
const WARM_REQUESTS = 500;
const WARM_CONCURRENCY = 10;
/** Warm requests are split into rounds that alternate sides (raw, loader, loader, raw, ...). */
const WARM_ROUNDS = 10;
const TS_ITERATIONS = 40;
const WARMUP_REQUESTS = 10;

const GOALS = { coldRatio: 1.3, warmRatio: 0.8, tsMissMs: 25, tsHitMs: 1 };

/** Whole run, startup included; the task is required to stop well under 3 minutes. */
const DEADLINE_MS = 170_000;
const STARTUP_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Between SIGTERM to a server's process group and SIGKILL. */
const KILL_GRACE_MS = 4_000;

// ---------------------------------------------------------------------------------------------
// Child processes and cleanup

/** @type {{ name: string, child: import("node:child_process").ChildProcess, exited: boolean, log: string[], exit: Promise<void> }[]} */
const servers = [];
const tempDirs = [];

/** Signals a whole process group (wrangler → node → workerd/esbuild); ignores a group that is gone. */
function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if (err.code !== "ESRCH") throw err;
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

let cleaning;
/** Stops every server (TERM, then KILL after a grace period) and removes temp dirs. Idempotent. */
function cleanup() {
  cleaning ??= (async () => {
    await Promise.all(
      servers.map(async (s) => {
        if (!groupAlive(s.child.pid)) return;
        killGroup(s.child.pid, "SIGTERM");
        const deadline = Date.now() + KILL_GRACE_MS;
        while (groupAlive(s.child.pid) && Date.now() < deadline) await sleep(100);
        // wrangler's own children (workerd) can outlive it: the group kill catches them too.
        killGroup(s.child.pid, "SIGKILL");
      }),
    );
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort when the process exits without the async cleanup having run (process.exit()
// somewhere, or a crash): synchronous SIGKILL only.
process.on("exit", () => {
  for (const s of servers) killGroup(s.child.pid, "SIGKILL");
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
let interrupted = false;
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping servers`);
    cleanup().finally(() => process.exit(code));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `wrangler dev` for one Worker in its own process group, output kept for diagnostics. */
async function startWrangler(name, configArgs) {
  const port = await freePort();
  // Explicit inspector port: two `wrangler dev` at once would otherwise both want 9229.
  const inspectorPort = await freePort();
  const persistDir = mkdtempSync(`${os.tmpdir()}/dwl-bench-${name}-`);
  tempDirs.push(persistDir);
  const args = [WRANGLER, "dev", ...configArgs, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistDir];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true, // own process group, so cleanup reaches workerd and esbuild too
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: `${ROOT}.dwl/config`,
      WRANGLER_SEND_METRICS: "false",
      CI_DISABLE_UPDATE_CHECK: "1",
      // Deliberately not the regexp V8 flags of `npm run dev` (scripts/serve.mjs): any custom V8
      // flag fails workerd's check of its per-isolate bootstrap compile cache ("scripts will be
      // compiled from source"), adding ~4 ms to every new isolate on both sides. Production
      // has no custom flags, so the bench runs without them.
    },
  });
  const server = { name, child, exited: false, log: [], exit: undefined };
  server.exit = new Promise((resolve) => child.once("exit", () => resolve()));
  server.exit.then(() => (server.exited = true));
  servers.push(server);
  // Drain both pipes (a full pipe would stall wrangler) and keep the tail for error reports.
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      server.log.push(...chunk.split("\n").filter(Boolean));
      if (server.log.length > 200) server.log.splice(0, server.log.length - 200);
    });
  }
  return { name, url: `http://127.0.0.1:${port}`, server };
}

/** Polls GET /healthz until it answers 200, failing early if wrangler exits. */
async function waitReady({ name, url, server }) {
  const until = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < until) {
    if (server.exited) throw new Error(`${name}: wrangler exited during startup\n${server.log.slice(-30).join("\n")}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${name}: no answer on ${url}/healthz within ${STARTUP_TIMEOUT_MS} ms\n${server.log.slice(-30).join("\n")}`);
}

// ---------------------------------------------------------------------------------------------
// Requests

/** One timed request to the loader; checks that the program ran and returned `expect`. */
async function execute(loaderUrl, body, expect) {
  const started = performance.now();
  const res = await fetch(`${loaderUrl}/execute`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`/execute answered ${res.status} with non-JSON: ${text.slice(0, 300)}`);
  }
  if (res.status !== 200 || json.ok !== true || JSON.stringify(json.result) !== JSON.stringify(expect)) {
    throw new Error(`/execute answered ${res.status}: ${text.slice(0, 500)}`);
  }
  return { ms, timing: json.timing };
}

/** One timed GET to the baseline Worker; checks the child's answer. */
async function raw(rawUrl, path) {
  const started = performance.now();
  const res = await fetch(`${rawUrl}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200 || text !== "42") throw new Error(`raw ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return { ms };
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight; returns wall time and latencies. */
async function closedLoop(fn, count, concurrency) {
  let next = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        latencies.push((await fn()).ms);
      }
    }),
  );
  return { wallMs: performance.now() - started, latencies };
}

// ---------------------------------------------------------------------------------------------
// Programs

// Unique per run and per iteration, so nothing can hit a cache left by a previous request.
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
let uniqueCounter = 0;
const unique = () => `${RUN_ID}-${++uniqueCounter}`;

const trivialJs = (tag) => (tag ? `export default () => 42 // ${tag}\n` : "export default () => 42\n");

// Three files: TS entry importing a TS module (enum + generics) and a JSON file. Result: 42.
const tsProgram = (tag) => ({
  files: {
    "index.ts": [
      `import { Op, reduce, type Pair } from "./lib/math.ts";`,
      `import data from "./data.json";`,
      ``,
      `const pairs: Pair<number>[] = data.values.map((v: number, i: number) => ({ key: i, value: v }));`,
      `export default (): number => reduce(pairs, Op.Add, 0) + data.offset;`,
      tag ? `// ${tag}` : ``,
      ``,
    ].join("\n"),
    "lib/math.ts": [
      `export enum Op { Add = "add", Mul = "mul" }`,
      `export interface Pair<T> { key: number; value: T }`,
      `export function reduce<T extends number>(items: readonly Pair<T>[], op: Op, init: number): number {`,
      `  return items.reduce((acc, { value }) => (op === Op.Add ? acc + value : acc * value), init);`,
      `}`,
      ``,
    ].join("\n"),
    "data.json": JSON.stringify({ values: [10, 20, 5], offset: 7 }),
  },
});

// ---------------------------------------------------------------------------------------------
// Statistics and report

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const median = (values) => percentile(values, 50);
const fmt = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const verdict = (ok) => (ok ? "met" : "MISSED");

function textTable(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => String(cell).padEnd(widths[c])).join("  ");
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function markdownTable(rows) {
  const line = (r) => `| ${r.join(" | ")} |`;
  return [line(rows[0]), line(rows[0].map(() => "---")), ...rows.slice(1).map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0].toFixed(2);
  const wranglerVersion = JSON.parse(readFileSync(`${ROOT}node_modules/wrangler/package.json`, "utf8")).version;
  console.log(`DWL bench: starting loader and baseline Worker (wrangler ${wranglerVersion}) ...`);

  const loader = await startWrangler("loader", []);
  const rawWorker = await startWrangler("raw", ["--config", "bench/raw-worker/wrangler.toml"]);
  await Promise.all([waitReady(loader), waitReady(rawWorker)]);
  const L = loader.url;
  const R = rawWorker.url;
  console.log(`  loader   ${L}\n  baseline ${R}`);

  // Warm-up: the loader's first request initialises esbuild-wasm; both sides get their first
  // isolates, JIT and connection pools going before anything is measured.
  console.log("warm-up ...");
  for (let i = 0; i < WARMUP_REQUESTS; i++) {
    await execute(L, { code: trivialJs(unique()) }, 42);
    await execute(L, { code: trivialJs() }, 42);
    await execute(L, tsProgram(unique()), 42);
    await execute(L, tsProgram(), 42);
    await raw(R, "/load");
    await raw(R, "/get");
  }

  // a. Cold: sequential pairs, order alternating within each pair.
  console.log(`cold: ${COLD_ITERATIONS} x (loader new program, raw /load) ...`);
  const cold = { loader: [], raw: [], timings: [] };
  const coldLoader = async () => {
    const r = await execute(L, { code: trivialJs(unique()) }, 42);
    if (r.timing.cached) throw new Error("cold request hit the bundle cache: the program was not unique");
    cold.loader.push(r.ms);
    cold.timings.push(r.timing);
  };
  const coldRaw = async () => cold.raw.push((await raw(R, "/load")).ms);
  for (let i = 0; i < COLD_ITERATIONS; i++) {
    for (const step of i % 2 === 0 ? [coldRaw, coldLoader] : [coldLoader, coldRaw]) await step();
  }

  // b. Warm: closed-loop throughput at fixed concurrency, rounds alternating sides.
  console.log(`warm: ${WARM_REQUESTS} requests each at concurrency ${WARM_CONCURRENCY} ...`);
  const warm = { loader: { wallMs: 0, latencies: [] }, raw: { wallMs: 0, latencies: [] } };
  const perRound = Math.ceil(WARM_REQUESTS / WARM_ROUNDS);
  const warmSides = {
    loader: () => execute(L, { code: trivialJs() }, 42),
    raw: () => raw(R, "/get"),
  };
  for (let round = 0; round < WARM_ROUNDS; round++) {
    const order = round % 2 === 0 ? ["raw", "loader"] : ["loader", "raw"];
    for (const side of order) {
      const r = await closedLoop(warmSides[side], perRound, WARM_CONCURRENCY);
      warm[side].wallMs += r.wallMs;
      warm[side].latencies.push(...r.latencies);
    }
  }
  const warmRps = (side) => (warm[side].latencies.length / warm[side].wallMs) * 1000;

  // c. TypeScript bundle: misses and hits alternating.
  console.log(`ts bundle: ${TS_ITERATIONS} misses + ${TS_ITERATIONS} hits ...`);
  const ts = { miss: [], hit: [], missTotal: [] };
  for (let i = 0; i < TS_ITERATIONS; i++) {
    const miss = await execute(L, tsProgram(unique()), 42);
    const hit = await execute(L, tsProgram(), 42);
    if (miss.timing.cached || !hit.timing.cached) throw new Error("TS bundle cache did not behave as expected (miss/hit)");
    ts.miss.push(miss.timing.bundleMs);
    ts.missTotal.push(miss.timing.totalMs);
    ts.hit.push(hit.timing.bundleMs);
  }

  // -------------------------------------------------------------------------------------------
  const coldP50 = median(cold.loader);
  const rawP50 = median(cold.raw);
  const coldRatio = coldP50 / rawP50;
  const warmRatio = warmRps("loader") / warmRps("raw");
  const tsMiss = median(ts.miss);
  const tsHit = median(ts.hit);
  const timingP50 = (field) => median(cold.timings.map((t) => t[field]));
  // What the loader adds outside its own timing (HTTP, auth, validation, JSON): client time − totalMs.
  const outsideP50 = median(cold.loader.map((ms, i) => ms - cold.timings[i].totalMs));
  const coldNoBundleRatio = median(cold.loader.map((ms, i) => ms - cold.timings[i].bundleMs)) / rawP50;

  const rows = [
    ["measure", "loader", "baseline", "ratio", "goal", ""],
    ["a. cold p50 (ms)", fmt(coldP50), fmt(rawP50), fmt(coldRatio), `≤ ${GOALS.coldRatio}`, verdict(coldRatio <= GOALS.coldRatio)],
    ["a. cold p95 (ms)", fmt(percentile(cold.loader, 95)), fmt(percentile(cold.raw, 95)), fmt(percentile(cold.loader, 95) / percentile(cold.raw, 95)), "", ""],
    ["b. warm req/s (c=10)", fmt(warmRps("loader"), 0), fmt(warmRps("raw"), 0), fmt(warmRatio), `≥ ${GOALS.warmRatio}`, verdict(warmRatio >= GOALS.warmRatio)],
    ["b. warm p50 (ms)", fmt(median(warm.loader.latencies)), fmt(median(warm.raw.latencies)), "", "", ""],
    ["c. TS bundleMs p50, miss", fmt(tsMiss), "", "", `≤ ${GOALS.tsMissMs} ms`, verdict(tsMiss <= GOALS.tsMissMs)],
    ["c. TS bundleMs p50, hit", fmt(tsHit), "", "", `≤ ${GOALS.tsHitMs} ms`, verdict(tsHit <= GOALS.tsHitMs)],
  ];
  const breakdown = [
    ["cold loader, p50 of", "ms"],
    ["timing.bundleMs", fmt(timingP50("bundleMs"))],
    ["timing.startMs (isolate start + RPC)", fmt(timingP50("startMs"))],
    ["timing.runMs", fmt(timingP50("runMs"))],
    ["timing.totalMs", fmt(timingP50("totalMs"))],
    ["outside timing (HTTP, auth, validation)", fmt(outsideP50)],
    ["client latency − bundleMs, ÷ baseline p50", fmt(coldNoBundleRatio)],
    ["TS miss: timing.totalMs", fmt(median(ts.missTotal))],
  ];

  // Both servers, the client and anything else running share these cores: a busy machine skews
  // everything, so the load at the start is part of the record.
  const machine =
    `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.versions.node}, wrangler ${wranglerVersion}, load average at start ${loadAtStart}`;
  console.log(`\n${textTable(rows)}\n\n${textTable(breakdown)}\n\nmachine: ${machine}`);

  const md = [
    "# DWL bench results",
    "",
    `Date: ${startedAt.toISOString()}  `,
    `Machine: ${machine}  `,
    "Command: `npm run bench` (bench/run.mjs)",
    "",
    `Loader (\`wrangler dev\`, POST /execute) vs. bench/raw-worker (\`wrangler dev\`, Worker Loader binding used directly), both on loopback, measured in one run with baseline and loader requests interleaved. ` +
      `Cold: ${COLD_ITERATIONS} sequential requests each, a distinct \`export default () => 42\` per request vs. \`LOADER.load()\` of a new trivial module. ` +
      `Warm: ${WARM_REQUESTS} requests each at concurrency ${WARM_CONCURRENCY}, the same program vs. \`LOADER.get("fixed-id")\`. ` +
      `TS: a 3-file program (index.ts, lib/math.ts with an enum and generics, data.json), ${TS_ITERATIONS} bundle-cache misses and ${TS_ITERATIONS} hits; figures are the loader's own \`timing.bundleMs\`.`,
    "",
    markdownTable(rows),
    "",
    "The loader's `timing` fields come from workerd's clock, which moves in whole milliseconds (and only between I/O events), so 0 means under 1 ms.",
    "",
    "Breakdown of the cold path (loader's response `timing`):",
    "",
    markdownTable(breakdown),
    "",
  ].join("\n");
  writeFileSync(RESULTS_FILE, md);
  console.log(`\nwrote ${RESULTS_FILE}`);
}

const watchdog = setTimeout(() => {
  console.error(`bench: deadline of ${DEADLINE_MS / 1000} s exceeded, stopping`);
  cleanup().finally(() => process.exit(1));
}, DEADLINE_MS);

let exitCode = 0;
try {
  await main();
} catch (err) {
  exitCode = 1;
  // After a signal, failures are the servers being stopped under the run: not worth reporting.
  if (!interrupted) console.error(`bench failed: ${err?.stack ?? err}`);
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
process.exit(exitCode);
