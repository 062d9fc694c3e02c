// Serving-layer bench of `npm run dev` (supervisor v2: node + workerd run by miniflare in it).
//
// Command: `sh scripts/bootstrap.sh node bench/serving.mjs` (writes bench/serving-results.md;
// `--no-write` only prints; `--only=hop,throughput` runs phases 1 and 2 alone and only prints,
// for before/after comparisons). Every figure is measured in the same run as its baseline, and the
// machine is shared, so the ratios are the figures to compare, not the absolute milliseconds.
//
// The baseline is the loader Worker's own socket: the supervisor prints it in its ready line
// (`runtime on http://127.0.0.1:<port>`) and it serves the same API without the supervisor's hop,
// admission or queue. Phases:
//   0. idle footprint: `npm run dev` and `node scripts/serve.mjs` (what the benches start), each
//      started alone, left idle FOOTPRINT_IDLE_MS after its ready line, then its process tree
//      (descendants of the spawned process, from /proc) counted and its RSS summed;
//   1. hop overhead at concurrency 1 (instance A, default settings): HOP_N × GET /healthz and
//      HOP_N × a warm trivial POST /execute through the supervisor, through the runtime's port
//      and through a minimal node:http relay in front of that port (lib/relay.mjs: the floor of
//      a node:http hop), request by request in all six orders in turn, one keep-alive connection per target;
//   2. throughput at concurrency THROUGHPUT_C: THROUGHPUT_BLOCKS blocks of THROUGHPUT_BLOCK warm
//      trivial /execute per target, alternating target block by block; on A (default
//      DWL_KEY_CONCURRENCY 16, DWL_RUNTIME_CONCURRENCY 64) and on a second instance B started
//      after A stopped with DWL_KEY_CONCURRENCY=100 DWL_RUNTIME_CONCURRENCY=100;
//   3. burst (A): BURST trivial programs at once, one key, one connection each, through the
//      supervisor (and, for comparison, straight on the runtime's port);
//   4. fairness (A): key "flood" (the dev key) keeps FLOOD_CONNECTIONS requests in flight for
//      FLOOD_MS while key "other" sends one request after another; its p50/p95 alone (just before)
//      is the baseline. Then the same flood straight on the runtime's port, for comparison.
// Bounded: DEADLINE_MS overall, REQUEST_TIMEOUT_MS per request, fixed counts or durations per
// phase; loopback only; every process it starts is in its own process group and killed on exit,
// error, deadline or signal (lib/procs.mjs).
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { agentFor, request } from "./lib/http.mjs";
import {
  floodServeArgs,
  freePort,
  ROOT,
  runBounded,
  sleep,
  spawnServer,
  startDev,
  stopServer,
  tempDir,
} from "./lib/procs.mjs";
import { errorSummary, fmt, markdownTable, percentile, textTable, verdict } from "./lib/stats.mjs";

const COMMAND = "sh scripts/bootstrap.sh node bench/serving.mjs";
const RESULTS_FILE = `${ROOT}bench/serving-results.md`;
/**
 * `--only=hop,throughput` runs only phases 1 and 2 (no footprint, burst or fairness; about a third
 * of the time) and prints their tables without writing the results file: for before/after runs.
 */
const ONLY_HOP_THROUGHPUT = process.argv.includes("--only=hop,throughput");
const writeResults = !process.argv.includes("--no-write") && !ONLY_HOP_THROUGHPUT;

const FOOTPRINT_IDLE_MS = 5_000;
const HOP_N = 500;
const THROUGHPUT_C = 100;
const THROUGHPUT_BLOCK = 1_000;
/** Alternating blocks per target: one run's ratio swung 0.85–1.03 with 3 (identical code), so 9. */
const THROUGHPUT_BLOCKS = 9;
const BURST = 1_000;
const FLOOD_CONNECTIONS = 1_000;
const FLOOD_MS = 10_000;
const FLOOD_MAX_REQUESTS = 300_000;
const ALONE_N = 200;
const REQUEST_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 120_000;
const DEADLINE_MS = 12 * 60_000;

const GOALS = { hopP50Ms: 0.5, throughputRatio: 0.9, fairnessP95Ms: 100 };

const DEV_KEY = "dwl_local_dev";
/** Generated per run; only its SHA-256 goes to the server. */
const OTHER_KEY = `dwl_serving_other_${randomBytes(16).toString("hex")}`;
const API_KEYS_JSON = JSON.stringify({ [createHash("sha256").update(OTHER_KEY).digest("hex")]: "other" });

/** The same text every time: after the first run it is a bundle-cache hit in a warm isolate. */
const TRIVIAL = JSON.stringify({ code: "export default () => 1" });

// ---------------------------------------------------------------------------------------------
// Servers

/** The process tree under `rootPid` (itself included), from /proc: pid, what it is, VmRSS MiB. */
function processTree(rootPid) {
  const all = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      // utime + stime, in USER_HZ (1/100 s on mainstream Linux).
      const cpuS = (Number(fields[11]) + Number(fields[12])) / 100;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1] ?? 0) / 1024;
      all.set(Number(entry), { pid: Number(entry), ppid, argv, rssMb, cpuS });
    } catch {
      // exited while scanning
    }
  }
  const tree = [];
  const visit = (pid) => {
    const p = all.get(pid);
    if (!p) return;
    tree.push({ pid, what: describe(p.argv), rssMb: p.rssMb, cpuS: p.cpuS });
    for (const child of all.values()) if (child.ppid === pid) visit(child.pid);
  };
  visit(rootPid);
  return tree;
}

/** "node scripts/serve.mjs", "workerd serve", "sh scripts/bootstrap.sh": the program and its first non-flag argument. */
function describe(argv) {
  const exe = (argv[0] ?? "?").split("/").pop();
  const arg = argv.slice(1).find((a) => !a.startsWith("-"));
  return arg ? `${exe} ${arg.replace(ROOT, "").split(" ").slice(0, 4).join(" ")}` : exe;
}

async function footprint(name, command, args) {
  const dev = await startDev(name, command, args, { PORT: "0", DWL_STATE_DIR: tempDir(`dwl-serving-${name}-`) });
  await sleep(FOOTPRINT_IDLE_MS);
  const tree = processTree(dev.server.child.pid);
  await stopServer(dev.server);
  return {
    name,
    command: [command.split("/").pop(), ...args.map((a) => a.replace(ROOT, ""))].join(" "),
    readyMs: dev.readyMs,
    tree,
    rssMb: tree.reduce((a, p) => a + p.rssMb, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Requests

function execute(agent, url, key = DEV_KEY) {
  return request(agent, `${url}/execute`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: TRIVIAL,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
}
const healthz = async (agent, url) => ({
  ...(await request(agent, `${url}/healthz`, { timeoutMs: REQUEST_TIMEOUT_MS })),
  health: true,
});

/** "ok", "429", or what else came back. */
function kindOf(r) {
  if (r.status === 0) return `no answer: ${r.error}`;
  if (r.status === 429) return "429";
  if (r.status !== 200) return `HTTP ${r.status}`;
  if (r.health) return "ok";
  try {
    const json = JSON.parse(r.text);
    return json.ok === true && json.result === 1 ? "ok" : `200 but ${r.text.slice(0, 120)}`;
  } catch {
    return "200 but not JSON";
  }
}

function tally() {
  return { latencies: [], kinds: new Map() };
}
function record(t, r) {
  t.latencies.push(r.ms);
  const kind = kindOf(r);
  t.kinds.set(kind, (t.kinds.get(kind) ?? 0) + 1);
  return kind;
}
const count = (t, kind) => t.kinds.get(kind) ?? 0;
const others = (t) => new Map([...t.kinds].filter(([k]) => k !== "ok"));

/** Warm-up: the trivial program through both ports with both keys, until each answers ok. */
async function warm(dev) {
  const agent = agentFor(1);
  for (const url of [dev.url, dev.runtimeUrl]) {
    for (const key of [DEV_KEY, OTHER_KEY]) {
      for (let i = 0; i < 5; i++) {
        const r = await execute(agent, url, key);
        if (kindOf(r) !== "ok") throw new Error(`warm-up of ${url} failed: ${kindOf(r)} ${r.text.slice(0, 300)}`);
      }
    }
  }
  agent.destroy();
}

// ---------------------------------------------------------------------------------------------
// 1. Hop overhead at concurrency 1

const ORDERS_OF_THREE = [
  [0, 1, 2],
  [0, 2, 1],
  [1, 0, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
];

/** A minimal node:http relay (lib/relay.mjs) in front of `runtimeUrl`: the floor of a node:http hop. */
async function startRelay(runtimeUrl) {
  const port = await freePort();
  const server = spawnServer("relay", process.execPath, [`${ROOT}bench/lib/relay.mjs`, runtimeUrl, String(port)]);
  const ready = new Promise((resolve) => server.lineListeners.push((line) => line === "relay ready" && resolve()));
  await Promise.race([
    ready,
    Promise.race([server.exit, sleep(STARTUP_TIMEOUT_MS)]).then(() => {
      throw new Error(`relay: did not start\n${server.log.join("\n")}`);
    }),
  ]);
  return { server, url: `http://127.0.0.1:${port}` };
}

async function hop(dev) {
  const relay = await startRelay(dev.runtimeUrl);
  try {
    return await hopThrough(dev, relay);
  } finally {
    await stopServer(relay.server);
  }
}

async function hopThrough(dev, relay) {
  const out = {};
  for (const [what, send] of [
    ["GET /healthz", healthz],
    ["POST /execute (warm trivial)", execute],
  ]) {
    const targets = {
      supervisor: { url: dev.url, agent: agentFor(1), t: tally() },
      runtime: { url: dev.runtimeUrl, agent: agentFor(1), t: tally() },
      relay: { url: relay.url, agent: agentFor(1), t: tally() },
    };
    const names = Object.keys(targets);
    // A few unrecorded requests first: every connection open and warm.
    for (const x of Object.values(targets)) for (let i = 0; i < 10; i++) await send(x.agent, x.url);
    const pairs = [];
    for (let i = 0; i < HOP_N; i++) {
      // All six orders in turn: each target follows each other one equally often.
      const order = ORDERS_OF_THREE[i % ORDERS_OF_THREE.length].map((k) => names[k]);
      const ms = {};
      for (const name of order) {
        const x = targets[name];
        const r = await send(x.agent, x.url);
        record(x.t, r);
        ms[name] = r.ms;
      }
      pairs.push(ms.supervisor - ms.runtime);
    }
    for (const x of Object.values(targets)) x.agent.destroy();
    const s = targets.supervisor.t;
    const rt = targets.runtime.t;
    const rl = targets.relay.t;
    out[what] = {
      supervisor: { p50: percentile(s.latencies, 50), p95: percentile(s.latencies, 95), failed: others(s) },
      runtime: { p50: percentile(rt.latencies, 50), p95: percentile(rt.latencies, 95), failed: others(rt) },
      addedP50: percentile(s.latencies, 50) - percentile(rt.latencies, 50),
      addedP95: percentile(s.latencies, 95) - percentile(rt.latencies, 95),
      pairedMedian: percentile(pairs, 50),
      relayAddedP50: percentile(rl.latencies, 50) - percentile(rt.latencies, 50),
      relayFailed: others(rl),
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 2. Throughput at concurrency THROUGHPUT_C

/** `n` warm trivial /execute over `c` connections, closed loop; answers by kind and wall time. */
async function closedBlock(url, n, c, key = DEV_KEY) {
  const agent = agentFor(c);
  const t = tally();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        next++;
        record(t, await execute(agent, url, key));
      }
    }),
  );
  const wallMs = performance.now() - started;
  agent.destroy();
  return { t, wallMs };
}

/** CPU seconds so far: the supervisor (node), workerd, and this process (the load generator). */
function cpuNow(dev) {
  const tree = processTree(dev.server.child.pid);
  const self = process.cpuUsage();
  return {
    supervisor: tree.filter((p) => !p.what.startsWith("workerd")).reduce((a, p) => a + p.cpuS, 0),
    workerd: tree.filter((p) => p.what.startsWith("workerd")).reduce((a, p) => a + p.cpuS, 0),
    client: (self.user + self.system) / 1e6,
  };
}

async function throughput(dev) {
  const side = (url) => ({ url, ok: 0, sent: 0, wallMs: 0, t: tally(), cpu: { supervisor: 0, workerd: 0, client: 0 } });
  const sides = { supervisor: side(dev.url), runtime: side(dev.runtimeUrl) };
  // Unrecorded: THROUGHPUT_C connections opened and the isolate warm on both.
  for (const x of Object.values(sides)) await closedBlock(x.url, THROUGHPUT_C * 2, THROUGHPUT_C);
  /** Per block pair, supervisor req/s ÷ runtime req/s: how much one pair alone can swing. */
  const pairRatios = [];
  for (let b = 0; b < THROUGHPUT_BLOCKS; b++) {
    const order = b % 2 === 0 ? ["supervisor", "runtime"] : ["runtime", "supervisor"];
    const blockRate = {};
    for (const name of order) {
      const x = sides[name];
      const before = cpuNow(dev);
      const { t, wallMs } = await closedBlock(x.url, THROUGHPUT_BLOCK, THROUGHPUT_C);
      blockRate[name] = count(t, "ok") / wallMs;
      const after = cpuNow(dev);
      for (const k of Object.keys(x.cpu)) x.cpu[k] += after[k] - before[k];
      x.wallMs += wallMs;
      x.sent += t.latencies.length;
      x.ok += count(t, "ok");
      x.t.latencies.push(...t.latencies);
      for (const [k, v] of t.kinds) x.t.kinds.set(k, (x.t.kinds.get(k) ?? 0) + v);
    }
    pairRatios.push(blockRate.supervisor / blockRate.runtime);
  }
  const rate = (x) => (x.ok / x.wallMs) * 1000;
  const summary = (x) => ({
    reqPerS: rate(x),
    sent: x.sent,
    ok: x.ok,
    failed: others(x.t),
    p50: percentile(x.t.latencies, 50),
    p95: percentile(x.t.latencies, 95),
    cpuMsPerReq: Object.fromEntries(Object.entries(x.cpu).map(([k, v]) => [k, (v * 1000) / x.sent])),
  });
  return {
    supervisor: summary(sides.supervisor),
    runtime: summary(sides.runtime),
    ratio: rate(sides.supervisor) / rate(sides.runtime),
    pairRatios: pairRatios.sort((a, b) => a - b),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Burst

async function burst(url) {
  const agent = agentFor(BURST);
  const t = tally();
  const started = performance.now();
  await Promise.all(Array.from({ length: BURST }, async () => record(t, await execute(agent, url))));
  const wallMs = performance.now() - started;
  agent.destroy();
  return {
    sent: BURST,
    ok: count(t, "ok"),
    limited: count(t, "429"),
    other: new Map([...others(t)].filter(([k]) => k !== "429")),
    wallMs,
    p50: percentile(t.latencies, 50),
    max: Math.max(...t.latencies),
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Fairness

/** Key "other" one request after another, `n` times or until `stop()`; its tally. */
function sequential(url, n = Infinity) {
  const t = tally();
  const agent = agentFor(1);
  let going = true;
  const loop = (async () => {
    for (let i = 0; i < n && going; i++) record(t, await execute(agent, url, OTHER_KEY));
  })();
  return {
    done: loop.then(() => (agent.destroy(), t)),
    async stop() {
      going = false;
      await loop;
      agent.destroy();
      return t;
    },
  };
}

/** The dev key keeps FLOOD_CONNECTIONS requests in flight for FLOOD_MS; "other" probes meanwhile. */
async function fairness(url) {
  const alone = await sequential(url, ALONE_N).done;
  const flood = tally();
  const agent = agentFor(FLOOD_CONNECTIONS);
  let started = 0;
  const start = performance.now();
  const end = start + FLOOD_MS;
  const probe = sequential(url);
  await Promise.all(
    Array.from({ length: FLOOD_CONNECTIONS }, async () => {
      while (performance.now() < end && started < FLOOD_MAX_REQUESTS) {
        started++;
        record(flood, await execute(agent, url));
      }
    }),
  );
  const during = await probe.stop();
  const wallMs = performance.now() - start;
  agent.destroy();
  const stats = (t) => ({
    n: t.latencies.length,
    p50: percentile(t.latencies, 50),
    p95: percentile(t.latencies, 95),
    p99: percentile(t.latencies, 99),
    failed: others(t),
  });
  return {
    alone: stats(alone),
    during: stats(during),
    flood: {
      sent: flood.latencies.length,
      ok: count(flood, "ok"),
      limited: count(flood, "429"),
      other: new Map([...others(flood)].filter(([k]) => k !== "429")),
      wallMs,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const startedAt = new Date();
  const loadAtStart = os.loadavg()[0].toFixed(2);
  // The serving layer is what is measured here, not the loader's own per-tenant limits (raised,
  // as bench/run.mjs does). No idle recycling: the supervisor counts only its own traffic, so it
  // would restart the runtime in the middle of a flood sent straight to the runtime's port.
  const serveArgs = floodServeArgs(API_KEYS_JSON);
  const benchEnv = { DWL_RECYCLE_IDLE_MS: "0" };

  // 0. Footprint, each started alone (nothing else of this bench running).
  console.log(
    `idle footprint: npm run dev, then node scripts/serve.mjs, ${FOOTPRINT_IDLE_MS / 1000} s idle after the ready line each ...`,
  );
  const footprints = ONLY_HOP_THROUGHPUT
    ? []
    : [
        await footprint("npm-run-dev", "npm", ["run", "dev"]),
        await footprint("serve", process.execPath, [`${ROOT}scripts/serve.mjs`]),
      ];
  for (const f of footprints)
    console.log(
      `  ${f.command}: ${f.tree.length} processes, ${fmt(f.rssMb, 0)} MB RSS (${f.tree.map((p) => `${p.what} ${fmt(p.rssMb, 0)} MB`).join("; ")})`,
    );

  // Instance A: default settings, plus a second key.
  const a = await startDev("A", process.execPath, serveArgs, {
    PORT: String(await freePort()),
    DWL_STATE_DIR: tempDir("dwl-serving-A-"),
    ...benchEnv,
  });
  console.log(`instance A (defaults): supervisor ${a.url}, runtime ${a.runtimeUrl}`);
  await warm(a);
  console.log(`1. hop overhead, concurrency 1, ${HOP_N} requests per target and route, interleaved ...`);
  const hopResult = await hop(a);
  console.log(
    `2. throughput, concurrency ${THROUGHPUT_C}, ${THROUGHPUT_BLOCKS} × ${THROUGHPUT_BLOCK} per target, alternating blocks (A) ...`,
  );
  const tputA = await throughput(a);
  let burstSup, burstRt, fairSup, fairRt;
  if (!ONLY_HOP_THROUGHPUT) {
    console.log(`3. burst of ${BURST} through the supervisor, then on the runtime's port ...`);
    burstSup = await burst(a.url);
    await sleep(1_000);
    burstRt = await burst(a.runtimeUrl);
    await sleep(1_000);
    console.log(
      `4. fairness: ${ALONE_N} sequential alone, then ${FLOOD_CONNECTIONS} in flight for ${FLOOD_MS / 1000} s + 1 sequential, through the supervisor, then on the runtime's port ...`,
    );
    fairSup = await fairness(a.url);
    await sleep(1_000);
    fairRt = await fairness(a.runtimeUrl);
  }
  const eventsA = a.events;
  await stopServer(a.server);

  // Instance B: the per-key and runtime limits at the throughput bench's concurrency.
  const highEnv = { DWL_KEY_CONCURRENCY: "100", DWL_RUNTIME_CONCURRENCY: "100" };
  const b = await startDev("B", process.execPath, serveArgs, {
    PORT: String(await freePort()),
    DWL_STATE_DIR: tempDir("dwl-serving-B-"),
    ...benchEnv,
    ...highEnv,
  });
  console.log(
    `instance B (DWL_KEY_CONCURRENCY=100 DWL_RUNTIME_CONCURRENCY=100): supervisor ${b.url}, runtime ${b.runtimeUrl}`,
  );
  await warm(b);
  console.log(`2b. throughput on B ...`);
  const tputB = await throughput(b);
  const eventsB = b.events;
  await stopServer(b.server);

  // ---------------------------------------------------------------------------------------------
  const durationS = Math.round((Date.now() - startedAt.getTime()) / 1000);
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, load average at start ${loadAtStart}, at end ${os.loadavg()[0].toFixed(2)}`;
  const failures = (m) => (m.size ? errorSummary(m) : "0");
  const cpuCell = (c) => `${fmt(c.supervisor, 2)} / ${fmt(c.workerd, 2)} / ${fmt(c.client, 2)}`;
  const hx = hopResult["GET /healthz"];
  const ex = hopResult["POST /execute (warm trivial)"];

  const goals = [
    [
      "1. hop, GET /healthz: added p50",
      `${fmt(hx.addedP50, 3)} ms`,
      `≤ ${GOALS.hopP50Ms} ms`,
      verdict(hx.addedP50 <= GOALS.hopP50Ms),
    ],
    [
      "1. hop, warm POST /execute: added p50",
      `${fmt(ex.addedP50, 3)} ms`,
      `≤ ${GOALS.hopP50Ms} ms`,
      verdict(ex.addedP50 <= GOALS.hopP50Ms),
    ],
    [
      `2. throughput c=${THROUGHPUT_C}, supervisor ÷ runtime (defaults: key 16, runtime 64)`,
      fmt(tputA.ratio, 2),
      `≥ ${GOALS.throughputRatio}`,
      verdict(tputA.ratio >= GOALS.throughputRatio),
    ],
    [
      `2. throughput c=${THROUGHPUT_C}, supervisor ÷ runtime (key 100, runtime 100)`,
      fmt(tputB.ratio, 2),
      `≥ ${GOALS.throughputRatio}`,
      verdict(tputB.ratio >= GOALS.throughputRatio),
    ],
  ];
  if (!ONLY_HOP_THROUGHPUT)
    goals.push(
      [
        `3. burst of ${BURST}, one key: ok`,
        `${burstSup.ok} ok, ${burstSup.limited} × 429, ${failures(burstSup.other)} other`,
        "all ok",
        verdict(burstSup.ok === BURST),
      ],
      [
        `4. fairness: other key's p95 during a ${FLOOD_CONNECTIONS}-request flood`,
        `${fmt(fairSup.during.p95)} ms`,
        `≤ ${GOALS.fairnessP95Ms} ms`,
        verdict(fairSup.during.p95 <= GOALS.fairnessP95Ms && fairSup.during.failed.size === 0),
      ],
    );
  const hopRows = [
    [
      "route (c=1, keep-alive)",
      "supervisor p50",
      "runtime p50",
      "added p50",
      "supervisor p95",
      "runtime p95",
      "added p95",
      "median of paired differences",
      "minimal node:http relay: added p50",
      "failed (sup / rt / relay)",
    ],
    ...Object.entries(hopResult).map(([what, h]) => [
      what,
      fmt(h.supervisor.p50, 3),
      fmt(h.runtime.p50, 3),
      fmt(h.addedP50, 3),
      fmt(h.supervisor.p95, 3),
      fmt(h.runtime.p95, 3),
      fmt(h.addedP95, 3),
      fmt(h.pairedMedian, 3),
      fmt(h.relayAddedP50, 3),
      `${failures(h.supervisor.failed)} / ${failures(h.runtime.failed)} / ${failures(h.relayFailed)}`,
    ]),
  ];
  const tputRows = [
    [
      "instance",
      "supervisor req/s",
      "runtime req/s",
      "ratio",
      "block pairs' ratios: min / median / max",
      "sup p50 / p95 ms",
      "rt p50 / p95 ms",
      "failed (sup / rt)",
      "CPU ms per request via supervisor: node / workerd / client",
      "via runtime port: node / workerd / client",
    ],
    ...[
      ["A: defaults (DWL_KEY_CONCURRENCY 16, DWL_RUNTIME_CONCURRENCY 64)", tputA],
      ["B: DWL_KEY_CONCURRENCY=100 DWL_RUNTIME_CONCURRENCY=100", tputB],
    ].map(([name, t]) => [
      name,
      fmt(t.supervisor.reqPerS, 0),
      fmt(t.runtime.reqPerS, 0),
      fmt(t.ratio, 2),
      `${fmt(t.pairRatios[0], 2)} / ${fmt(percentile(t.pairRatios, 50), 2)} / ${fmt(t.pairRatios.at(-1), 2)}`,
      `${fmt(t.supervisor.p50, 1)} / ${fmt(t.supervisor.p95, 1)}`,
      `${fmt(t.runtime.p50, 1)} / ${fmt(t.runtime.p95, 1)}`,
      `${failures(t.supervisor.failed)} / ${failures(t.runtime.failed)}`,
      cpuCell(t.supervisor.cpuMsPerReq),
      cpuCell(t.runtime.cpuMsPerReq),
    ]),
  ];
  if (ONLY_HOP_THROUGHPUT) {
    console.log(
      [
        "",
        textTable([["goal", "measured", "target", ""], ...goals.slice(0, 4)]),
        "",
        textTable(hopRows),
        "",
        textTable(tputRows),
        "",
        `supervisor events: ${[...eventsA, ...eventsB].join(" | ") || "none"}`,
        `machine: ${machine}; ${durationS} s`,
      ].join("\n"),
    );
    return 0;
  }
  const burstRows = [
    ["target", "sent", "ok", "429", "other", "time to complete all (s)", "p50 ms", "slowest ms"],
    ...[
      ["supervisor", burstSup],
      ["runtime port (no admission)", burstRt],
    ].map(([name, x]) => [
      name,
      x.sent,
      x.ok,
      x.limited,
      failures(x.other),
      fmt(x.wallMs / 1000, 2),
      fmt(x.p50, 0),
      fmt(x.max, 0),
    ]),
  ];
  const fairRows = [
    [
      "target",
      "other key alone p50 / p95 ms",
      "other key during flood p50 / p95 / p99 ms",
      "during ÷ alone (p95)",
      "other key requests during",
      "flood: sent / ok / 429 / other",
      "flood answers/s",
    ],
    ...[
      ["supervisor", fairSup],
      ["runtime port (no admission)", fairRt],
    ].map(([name, f]) => [
      name,
      `${fmt(f.alone.p50)} / ${fmt(f.alone.p95)}`,
      `${fmt(f.during.p50)} / ${fmt(f.during.p95)} / ${fmt(f.during.p99)}`,
      fmt(f.during.p95 / f.alone.p95, 1),
      `${f.during.n}${f.during.failed.size ? ` (${failures(f.during.failed)})` : ""}`,
      `${f.flood.sent} / ${f.flood.ok} / ${f.flood.limited} / ${failures(f.flood.other)}`,
      fmt((f.flood.sent / f.flood.wallMs) * 1000, 0),
    ]),
  ];
  const footRows = [
    ["started with", "processes", "total RSS (MB)", "ready after (s)", "processes (RSS MB)"],
    ...footprints.map((f) => [
      `\`${f.command}\``,
      f.tree.length,
      fmt(f.rssMb, 0),
      fmt(f.readyMs / 1000, 1),
      f.tree.map((p) => `${p.what} (${fmt(p.rssMb, 0)})`).join("; "),
    ]),
  ];
  const events = [...eventsA.map((l) => `A: ${l}`), ...eventsB.map((l) => `B: ${l}`)];

  console.log(
    [
      "",
      textTable([["goal", "measured", "target", ""], ...goals]),
      "",
      textTable(hopRows),
      "",
      textTable(tputRows),
      "",
      textTable(burstRows),
      "",
      textTable(fairRows),
      "",
      textTable(footRows.map((r) => r.slice(0, 4))),
      "",
      `supervisor events: ${events.length ? events.join(" | ") : "none"}`,
      `machine: ${machine}; ${durationS} s`,
    ].join("\n"),
  );
  if (!writeResults) return 0;
  const md = [
    "# Serving-layer bench results (supervisor v2)",
    "",
    `Date: ${startedAt.toISOString()}  `,
    `Machine: ${machine}  `,
    `Command: \`${COMMAND}\` (bench/serving.mjs; ${durationS} s for this run)`,
    "",
    "Every figure is measured in the same run as its baseline, on a shared machine (the load generator shares its cores with the server): compare the ratios and the differences, not the absolute milliseconds across runs. The baseline is the loader Worker's own socket (the `runtime on http://…` URL of the supervisor's ready line): the same API without the supervisor's hop, admission and queue.",
    "",
    `Instances measured (phases 1–4): \`node scripts/serve.mjs --var DWL_API_KEYS:{"<sha256>":"other"} --var DWL_RATE_PER_MINUTE:1000000 --var DWL_MAX_CONCURRENT:2000\` with \`DWL_RECYCLE_IDLE_MS=0\`, otherwise default settings (A), or \`DWL_KEY_CONCURRENCY=100 DWL_RUNTIME_CONCURRENCY=100\` too (B). The loader's own per-tenant limits (1,200 runs/min, 50 at once by default) are raised because they would answer most of these requests with 429 on both ports alike; idle recycling is off because the supervisor counts only its own traffic and would restart the runtime in the middle of a flood sent straight to the runtime's port.`,
    "",
    markdownTable([["goal", "measured", "target", ""], ...goals]),
    "",
    `## 1. Hop overhead at concurrency 1`,
    "",
    `Command: \`${COMMAND}\`, phase 1. Instance A (default settings). ${HOP_N} requests per route and target, one keep-alive connection per target, the supervisor, the runtime port and a minimal node:http relay in front of that port (bench/lib/relay.mjs: node:http in, a keep-alive client out, bodies piped, nothing checked; the floor of a node:http hop on this machine) request by request in all six orders in turn, after 10 unrecorded requests each. /execute sends \`${TRIVIAL}\` every time (a warm bundle-cache hit). Milliseconds, client-side.`,
    "",
    markdownTable(hopRows),
    "",
    `## 2. Throughput at concurrency ${THROUGHPUT_C}`,
    "",
    `Command: \`${COMMAND}\`, phase 2. Warm trivial /execute with the dev key, ${THROUGHPUT_C} keep-alive connections in a closed loop; ${THROUGHPUT_BLOCKS} blocks of ${THROUGHPUT_BLOCK} requests per target, alternating target block by block (after ${THROUGHPUT_C * 2} unrecorded each); req/s = ok answers ÷ time in that target's blocks; the ratios of the single block pairs (a supervisor block and the runtime block beside it) show how far one short measurement swings. CPU per request (from /proc and the client's own usage, over that target's blocks) shows where the cores went: the machine has ${os.cpus().length}, shared by the client, the supervisor's node process and workerd (node's share while the runtime port is used directly is its idle watchdog). The runtime's port has no per-key limit, so instance A (defaults: at most 16 runs of one key in the runtime) is measured, then, after A stopped, instance B started with \`DWL_KEY_CONCURRENCY=100 DWL_RUNTIME_CONCURRENCY=100\`, each against its own runtime port.`,
    "",
    markdownTable(tputRows),
    "",
    `## 3. Burst`,
    "",
    `Command: \`${COMMAND}\`, phase 3. Instance A (defaults). ${BURST} trivial /execute with the dev key started in the same tick, one connection each; then the same burst on the runtime's port for comparison.`,
    "",
    markdownTable(burstRows),
    "",
    `## 4. Fairness`,
    "",
    `Command: \`${COMMAND}\`, phase 4. Instance A (defaults). The second key ("other", configured with \`--var DWL_API_KEYS:{"<sha256>":"other"}\`) first sends ${ALONE_N} trivial /execute one after another alone; then the dev key keeps ${FLOOD_CONNECTIONS} requests in flight for ${FLOOD_MS / 1000} s (each connection sends again as soon as it has an answer, 429 or not) while "other" keeps sending one after another. Then the same on the runtime's port, for comparison (no admission there).`,
    "",
    markdownTable(fairRows),
    "",
    `## 5. Idle footprint`,
    "",
    `Command: \`${COMMAND}\`, phase 0 (first, with nothing else of the bench running). Each started alone with \`PORT=0\` and a fresh state dir, left idle ${FOOTPRINT_IDLE_MS / 1000} s after its ready line; the tree is the spawned process and all its descendants (from /proc), RSS is VmRSS summed. \`npm run dev\` includes its launchers (npm, sh, bootstrap, pnpm); \`node scripts/serve.mjs\` is what the benches start. Before (from the issue, not measurable any more): 12 processes, ~1.4 GB.`,
    "",
    markdownTable(footRows),
    "",
    `Supervisor events during the run: ${events.length ? events.map((l) => `\`${l}\``).join("; ") : "none"}.`,
    "",
  ].join("\n");
  writeFileSync(RESULTS_FILE, md);
  console.log(`\nwrote ${RESULTS_FILE}`);
  return 0;
}

process.exit(await runBounded(main, DEADLINE_MS, "serving"));
