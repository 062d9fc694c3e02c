// Python programs (docs/python.md) against `npm run dev` (scripts/serve.mjs), on loopback:
//   - cold: the first run of a new tenant scope (a new Python child, started from the snapshot);
//   - warm: runs in a started child, client latency and runMs;
//   - stall: another tenant's trivial JS requests at c=1 while Python children start, against
//     the same requests with nothing else going on (max and p95 latency);
//   - loop: a 200,000-iteration Python loop, runMs (metered), against the same loop in JS.
// Writes bench/python-results.md. Bounded: every request has a timeout, the whole run a deadline.
import { writeFileSync } from "node:fs";
import os from "node:os";
import { freePort, ROOT, runBounded, sleep, spawnServer, stopServer, tempDir, waitReady } from "./lib/procs.mjs";
import { fmt, markdownTable, percentile, textTable } from "./lib/stats.mjs";

const KEY = "dwl_local_dev";
const COLD_STARTS = 5;
const WARM_RUNS = 60;
const STALL_PROBES = 40;
const DEADLINE_MS = 10 * 60_000;

async function post(url, body) {
  const started = performance.now();
  const res = await fetch(`${url}/execute`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const json = await res.json();
  const ms = performance.now() - started;
  if (!json.ok) throw new Error(`run failed: ${JSON.stringify(json.error ?? json)}`);
  return { ms, json };
}

const python = (namespace, code) => ({ language: "python", code, storage: { namespace }, limits: { cpuMs: 5_000 } });
const LOOP_PY = "n = 0\nfor i in range(200000):\n    n += i\nn";
const LOOP_JS = "export default () => { let n = 0; for (let i = 0; i < 200000; i++) n += i; return n; }";

async function main() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawnServer("python", process.execPath, ["scripts/serve.mjs"], {
    PORT: String(port),
    DWL_STATE_DIR: tempDir("dwl-bench-python-"),
  });
  try {
    await waitReady({ name: "python", url, server });
    const rows = [];

    // Baseline of the other tenant's JS requests, before any Python child exists.
    const probe = () => post(url, { code: "export default () => 1", storage: { namespace: "js-probe" } });
    await probe();
    const quiet = [];
    for (let i = 0; i < STALL_PROBES; i++) quiet.push((await probe()).ms);

    // Cold starts, with the JS probe running beside them.
    const cold = [];
    const during = [];
    let starting = true;
    const prober = (async () => {
      while (starting) {
        during.push((await probe()).ms);
        await sleep(5);
      }
    })();
    for (let i = 0; i < COLD_STARTS; i++) {
      const { ms, json } = await post(url, python(`cold-${i}-${Date.now()}`, "1"));
      cold.push({ ms, startMs: json.timing.startMs, runMs: json.timing.runMs });
    }
    starting = false;
    await prober;

    const warm = [];
    const warmRun = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const { ms, json } = await post(url, python("warm", `sum(range(${i}))`));
      warm.push(ms);
      warmRun.push(json.timing.runMs);
    }

    const loopPy = [];
    const loopJs = [];
    for (let i = 0; i < 8; i++) {
      loopPy.push((await post(url, python("warm", LOOP_PY))).json.timing.runMs);
      loopJs.push((await post(url, { code: LOOP_JS, limits: { cpuMs: 5_000 } })).json.timing.runMs);
    }

    const p = (values, q) => fmt(percentile(values, q), 1);
    rows.push([
      "Python cold start (new tenant scope), client ms",
      `p50 ${p(
        cold.map((c) => c.ms),
        50,
      )}, max ${p(
        cold.map((c) => c.ms),
        100,
      )}`,
      `startMs p50 ${p(
        cold.map((c) => c.startMs),
        50,
      )}`,
    ]);
    rows.push(["Python warm run, client ms", `p50 ${p(warm, 50)}, p95 ${p(warm, 95)}`, `runMs p50 ${p(warmRun, 50)}`]);
    rows.push([
      "other tenant's JS request, nothing else running",
      `p95 ${p(quiet, 95)}, max ${p(quiet, 100)}`,
      `${quiet.length} requests`,
    ]);
    rows.push([
      "same, while Python children start",
      `p95 ${p(during, 95)}, max ${p(during, 100)}`,
      `${during.length} requests`,
    ]);
    rows.push([
      "200,000-iteration loop, runMs (Python metered / JS metered)",
      `${p(loopPy.slice(2), 50)} / ${p(loopJs.slice(2), 50)}`,
      `×${fmt(percentile(loopPy.slice(2), 50) / percentile(loopJs.slice(2), 50), 1)}`,
    ]);

    const header = ["measure", "figure", "detail"];
    console.log(textTable([header, ...rows]));
    const machine = `${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`;
    writeFileSync(
      `${ROOT}bench/python-results.md`,
      `# Python programs\n\nMeasured by \`node bench/python.mjs\` (part of \`npm run bench\`) against \`npm run dev\` on loopback; ${machine}; ${new Date().toISOString()}.\n\n${markdownTable([header, ...rows])}\n`,
    );
  } finally {
    await stopServer(server);
  }
}

process.exitCode = await runBounded(main, DEADLINE_MS, "python bench");
