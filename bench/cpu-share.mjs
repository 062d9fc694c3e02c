// CPU shares under `npm run dev`: how long another key's runs wait while one key's runs compute.
//
// Command: `sh scripts/bootstrap.sh node bench/cpu-share.mjs` (prints; ~1 min). workerd runs every
// isolate on one thread and a computing run holds it to its end, so the supervisor admits one
// key's runs only up to DWL_KEY_CPU_MS of CPU budget together (docs/local-serving.md, "CPU
// shares"). Two instances in one run, the same script against each: default settings, and
// DWL_KEY_CPU_MS far above any budget (admission by run count alone, as before the shares).
// On each: key "busy" (the dev key) sends HOGS runs at once that compute for their whole
// HOG_CPU_MS; HEAD_START_MS later key "quiet" sends a run of a program it never ran (its isolate
// cold), then a warm trivial run after another until the busy key's runs have all ended. Reported:
// when each busy run ended, the cold run's wait, and the warm runs' waits.
// Bounded: DEADLINE_MS overall, REQUEST_TIMEOUT_MS per request; loopback only; every process it
// starts is killed on exit, error, deadline or signal (lib/procs.mjs).
import { createHash, randomBytes } from "node:crypto";
import os from "node:os";
import { agentFor, request } from "./lib/http.mjs";
import { freePort, ROOT, runBounded, sleep, startDev, stopServer, tempDir } from "./lib/procs.mjs";
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

const INSTANCES = [
  { label: "CPU shares (defaults)", env: {} },
  { label: "run count alone (DWL_KEY_CPU_MS=1e9)", env: { DWL_KEY_CPU_MS: "1000000000" } },
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
  for (const { label, env } of INSTANCES) {
    console.log(`${label}: starting ...`);
    const { server, url } = await startDev(
      label,
      process.execPath,
      [`${ROOT}scripts/serve.mjs`, "--var", `DWL_API_KEYS:${API_KEYS_JSON}`],
      {
        PORT: String(await freePort()),
        DWL_STATE_DIR: tempDir("dwl-cpu-share-"),
        DWL_RECYCLE_IDLE_MS: "0",
        ...env,
      },
    );
    const m = await measure(url);
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
}

await runBounded(main, DEADLINE_MS, "cpu-share bench");
