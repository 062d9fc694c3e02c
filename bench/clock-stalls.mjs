// Innocent runs under load: how many I/O-bound runs end with cpu_limit by the clock.
//
// Command: `sh scripts/bootstrap.sh node bench/clock-stalls.mjs [cpuMs]` (prints; ~2.5 min). Locally
// the harness charges each run the time by the clock of its slices of work (docs/metering.md), and
// a stall of workerd's one thread (a major GC, the OS giving the core to another process) lands
// whole on whichever run's slice is open. Here ROUNDS × RUNS runs of bench/run.mjs's storage
// program (two KV and two R2 calls, well under a millisecond of work) at concurrency CONCURRENCY,
// with BUSY processes spinning beside the loader, at `limits.cpuMs` from the command line (default
// 10: the clock budget is then cpuMs + DWL_CPU_CLOCK_STALL_MS; with DWL_CPU_CLOCK_STALL_MS=0 in
// the environment it is twice cpuMs). Reported: runs per outcome, and the clock totals the
// cpu_limit messages give. Bounded: DEADLINE_MS overall, REQUEST_TIMEOUT_MS per request; loopback
// only; every process it starts is killed on exit, error, deadline or signal (lib/procs.mjs).
import { agentFor, request } from "./lib/http.mjs";
import { BENCH_LOADER_VARS, runBounded, spawnServer, startWrangler, waitReady } from "./lib/procs.mjs";

const ROUNDS = 4;
const RUNS = 2_000;
const CONCURRENCY = 1_000;
const BUSY = 2;
const REQUEST_TIMEOUT_MS = 60_000;
const DEADLINE_MS = 8 * 60_000;

const cpuMs = Number(process.argv[2] ?? 10);
const STORAGE_PROGRAM =
  "export default async (i, env) => { const k = `k${i}`; await env.KV.put(k, 'v'); const v = await env.KV.get(k); " +
  "await env.FILES.put(`f${i}`, 'x'); const f = await env.FILES.get(`f${i}`); return v + (await f.text()) === 'vx' ? 42 : 0; }\n";
const stallVar = process.env.DWL_CPU_CLOCK_STALL_MS;

async function main() {
  const loader = await startWrangler("clock-stalls", [
    ...BENCH_LOADER_VARS,
    ...(stallVar === undefined ? [] : ["--var", `DWL_CPU_CLOCK_STALL_MS:${stallVar}`]),
  ]);
  await waitReady(loader);
  for (let i = 0; i < BUSY; i++) spawnServer(`busy-${i}`, process.execPath, ["-e", "for (;;) {}"]);
  const outcomes = new Map();
  const clockTotals = [];
  for (let round = 0; round < ROUNDS; round++) {
    const agent = agentFor(CONCURRENCY);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < RUNS) {
          const i = next++;
          const res = await request(agent, `${loader.url}/execute`, {
            method: "POST",
            headers: { authorization: "Bearer dwl_local_dev", "content-type": "application/json" },
            body: JSON.stringify({ code: STORAGE_PROGRAM, input: i % 100, limits: { cpuMs } }),
            timeoutMs: REQUEST_TIMEOUT_MS,
          });
          let outcome = `HTTP ${res.status}`;
          try {
            const body = JSON.parse(res.text);
            outcome = body.ok ? "ok" : (body.error?.type ?? outcome);
            const clock = /(\d+) ms by the clock/.exec(body.error?.message ?? "");
            if (clock) clockTotals.push(Number(clock[1]));
          } catch {
            // not JSON: counted by its status
          }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }),
    );
    agent.destroy();
  }
  const budget =
    stallVar === undefined ? `cpuMs + DWL_CPU_CLOCK_STALL_MS (default)` : `DWL_CPU_CLOCK_STALL_MS=${stallVar}`;
  console.log(
    `${ROUNDS * RUNS} runs at c=${CONCURRENCY}, cpuMs ${cpuMs}, ${BUSY} busy processes, clock budget ${budget}`,
  );
  for (const [outcome, count] of outcomes) console.log(`  ${outcome}: ${count}`);
  if (clockTotals.length > 0) console.log(`  cpu_limit clock totals (ms): ${clockTotals.join(", ")}`);
  return 0;
}

process.exitCode = await runBounded(main, DEADLINE_MS, "clock-stalls");
