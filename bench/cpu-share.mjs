// CPU shares under `npm run dev`: how long another key's runs wait while one key's runs compute.
//
// Command: `sh scripts/bootstrap.sh node bench/cpu-share.mjs` (prints; ~1 min). workerd runs every
// isolate on one thread and a computing run holds it to its end, so the supervisor admits one
// key's runs only up to DWL_KEY_CPU_MS of CPU budget together (docs/local-serving.md, "CPU
// shares"). Instances in one run, the same script against each: default settings, and
// DWL_KEY_CPU_MS and DWL_KEY_THREAD_MS far above any run (admission by run count alone, as before
// the shares).
// On each: key "busy" (the dev key) sends HOGS runs at once that compute for their whole
// HOG_CPU_MS; HEAD_START_MS later key "quiet" sends a run of a program it never ran (its isolate
// cold), then a warm trivial run after another until the busy key's runs have all ended. Reported:
// when each busy run ended, the cold run's wait, and the warm runs' waits.
// Then three floods on each instance (DWL_KEY_THREAD_MS, "Thread time" in docs/local-serving.md):
// the busy key sends FLOOD_RUNS runs at once that compute FLOOD_CPU_MS each (by the clock, within
// budgets a share holds many of), then MIXED_RUNS that compute as long and then wait MIXED_WAIT_MS,
// then FLOOD_RUNS of two programs, three computing twice as long among five trivial ones;
// meanwhile the quiet key sends a trivial run every QUIET_GAP_MS. Reported: when the flood ended,
// and the quiet runs' p50 / p95 / max. A third instance turns the thread-time bound off.
// Bounded: DEADLINE_MS overall, REQUEST_TIMEOUT_MS per request; loopback only; every process it
// starts is killed on exit, error, deadline or signal (lib/procs.mjs).
import { createHash, randomBytes } from "node:crypto";
import os from "node:os";
import { agentFor, request } from "./lib/http.mjs";
import { floodServeArgs, freePort, runBounded, sleep, startDev, stopServer, tempDir } from "./lib/procs.mjs";
import { fmt, median, textTable } from "./lib/stats.mjs";

const HOGS = 3;
/** More than half of the default share (DWL_MAX_CPU_MS, 4,000): two do not fit in it together. */
const HOG_CPU_MS = 2_500;
const HEAD_START_MS = 300;
const REQUEST_TIMEOUT_MS = 60_000;
const DEADLINE_MS = 5 * 60_000;

const BUSY_KEY = "dwl_local_dev";
const QUIET_KEY = `dwl_cpu_share_quiet_${randomBytes(16).toString("hex")}`;
const API_KEYS_JSON = JSON.stringify({ [createHash("sha256").update(QUIET_KEY).digest("hex")]: "quiet" });
/** Native work between fuel checks: it computes until its clock budget, not a step count. */
const HOG = JSON.stringify({
  code: "export default () => { const a = Array.from({ length: 1e5 }, (_, i) => i); for (;;) a.slice().reverse(); }",
  limits: { cpuMs: HOG_CPU_MS, timeoutMs: 30_000 },
});
const TRIVIAL = JSON.stringify({ code: "export default () => 1" });
const FLOOD_RUNS = 300;
const FLOOD_CPU_MS = 20;
const MIXED_RUNS = 64;
const MIXED_WAIT_MS = 300;
const QUIET_GAP_MS = 50;
const computeFor = (ms, waitMs = 0) =>
  JSON.stringify({
    code: `export default async () => { const end = Date.now() + ${ms}; let n = 0; while (Date.now() < end) n++; ${waitMs ? `await new Promise((r) => setTimeout(r, ${waitMs}));` : ""} return n > 0; }`,
    limits: { cpuMs: 200, timeoutMs: 30_000 },
  });
const FLOODS = [
  { label: `${FLOOD_RUNS} × ${FLOOD_CPU_MS} ms computing`, runs: FLOOD_RUNS, bodies: [computeFor(FLOOD_CPU_MS)] },
  {
    label: `${MIXED_RUNS} × (${FLOOD_CPU_MS} ms computing, then ${MIXED_WAIT_MS} ms waiting)`,
    runs: MIXED_RUNS,
    bodies: [computeFor(FLOOD_CPU_MS, MIXED_WAIT_MS)],
  },
  {
    label: `${FLOOD_RUNS} runs, 3 of every 8 computing ${2 * FLOOD_CPU_MS} ms, the rest trivial`,
    runs: FLOOD_RUNS,
    bodies: [0, 1, 2].map(() => computeFor(2 * FLOOD_CPU_MS)).concat([3, 4, 5, 6, 7].map(() => computeFor(0))),
  },
];

const INSTANCES = [
  { label: "CPU shares (defaults)", env: {} },
  {
    label: "run count alone (DWL_KEY_CPU_MS=1e9, DWL_KEY_THREAD_MS=1e9)",
    env: { DWL_KEY_CPU_MS: "1000000000", DWL_KEY_THREAD_MS: "1000000000" },
  },
  { label: "no thread-time bound (DWL_KEY_THREAD_MS=1e9)", env: { DWL_KEY_THREAD_MS: "1000000000" } },
];

const run = (agent, url, key, body) =>
  request(agent, `${url}/execute`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });

async function measure(url) {
  const agent = agentFor(HOGS + 2);
  // Both keys accepted and the trivial program warm for the quiet key; the hog's bundle cached.
  await run(agent, url, QUIET_KEY, TRIVIAL);
  await run(agent, url, BUSY_KEY, JSON.stringify({ ...JSON.parse(HOG), limits: { cpuMs: 10 } }));
  const t0 = performance.now();
  const hogsEnded = [];
  const hogs = Array.from({ length: HOGS }, () =>
    run(agent, url, BUSY_KEY, HOG).then((r) =>
      hogsEnded.push({ s: (performance.now() - t0) / 1000, status: r.status }),
    ),
  );
  let allEnded = false;
  void Promise.all(hogs).then(() => (allEnded = true));
  await sleep(HEAD_START_MS);
  const cold = await run(
    agent,
    url,
    QUIET_KEY,
    // Steps of its own after its start: three storage reads, each giving the thread back.
    JSON.stringify({
      code: `export default async (_, env) => { for (let i = 0; i < 3; i++) await env.KV.get("k" + i); return "${randomBytes(8).toString("hex")}"; }`,
    }),
  );
  const warm = [];
  while (!allEnded) warm.push(await run(agent, url, QUIET_KEY, TRIVIAL));
  await Promise.all(hogs);
  agent.destroy();
  const failed = [cold, ...warm].filter((r) => r.status !== 200).length;
  return { hogsEnded, coldMs: cold.ms, warmMs: warm.map((r) => r.ms), failed };
}

/** One flood of the busy key, and the quiet key's trivial runs while it lasts. */
async function flood(url, { runs, bodies }) {
  const agent = agentFor(runs + 2);
  for (const body of new Set(bodies)) await run(agent, url, BUSY_KEY, body);
  const t0 = performance.now();
  let failed = 0;
  let ended = false;
  const floodRuns = Promise.all(
    Array.from({ length: runs }, (_, i) =>
      run(agent, url, BUSY_KEY, bodies[i % bodies.length]).then((r) => {
        if (r.status !== 200) failed++;
      }),
    ),
  ).then(() => (ended = true));
  const quiet = [];
  while (!ended) {
    const r = await run(agent, url, QUIET_KEY, TRIVIAL);
    if (r.status !== 200) failed++;
    quiet.push(r.ms);
    await sleep(QUIET_GAP_MS);
  }
  await floodRuns;
  agent.destroy();
  const sorted = [...quiet].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
  return {
    endedS: (performance.now() - t0) / 1000,
    quiet: sorted.length,
    p50: median(sorted),
    p95: at(0.95),
    max: at(1),
    failed,
  };
}

async function main() {
  const loadAtStart = os.loadavg()[0].toFixed(2);
  const rows = [
    [
      "instance",
      "busy runs ended at (s)",
      "quiet cold run waited (ms)",
      "quiet warm runs: n, median, max (ms)",
      "failed",
    ],
  ];
  const floodRows = [
    ["instance", "busy key's flood", "flood ended (s)", "quiet runs: n, p50 / p95 / max (ms)", "failed"],
  ];
  for (const { label, env } of INSTANCES) {
    console.log(`${label}: starting ...`);
    const { server, url } = await startDev(label, process.execPath, floodServeArgs(API_KEYS_JSON), {
      PORT: String(await freePort()),
      DWL_STATE_DIR: tempDir("dwl-cpu-share-"),
      DWL_RECYCLE_IDLE_MS: "0",
      ...env,
    });
    const m = await measure(url);
    for (const f of FLOODS) {
      const r = await flood(url, f);
      floodRows.push([
        label,
        f.label,
        fmt(r.endedS, 2),
        `${r.quiet}, ${fmt(r.p50, 0)} / ${fmt(r.p95, 0)} / ${fmt(r.max, 0)}`,
        String(r.failed),
      ]);
    }
    await stopServer(server);
    rows.push([
      label,
      m.hogsEnded.map((h) => fmt(h.s, 1)).join(", "),
      fmt(m.coldMs, 0),
      `${m.warmMs.length}, ${fmt(median(m.warmMs), 0)}, ${fmt(Math.max(...m.warmMs), 0)}`,
      String(m.failed),
    ]);
  }
  console.log(
    `\n${HOGS} runs of one key computing for cpuMs ${HOG_CPU_MS} each; another key's runs meanwhile (${os.cpus().length} cores, load ${loadAtStart} at start)\n`,
  );
  console.log(textTable(rows));
  console.log(`\nFloods of one key; another key's trivial run every ${QUIET_GAP_MS} ms meanwhile\n`);
  console.log(textTable(floodRows));
}

await runBounded(main, DEADLINE_MS, "cpu-share bench");
