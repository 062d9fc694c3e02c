// Where a new program's time goes (issue 21, row 3): the runtime's CPU per request, read from
// /proc for the workerd process that holds the Worker and its child isolates, at concurrency 100,
// for the loader's cold paths and for raw LOADER.load children that add the loader's parts one
// at a time. CPU per request is what bounds throughput on the runtime's one thread, and unlike
// req/s it barely moves with the machine's load, so parts of a millisecond show between rows of
// one run. Sides alternate in rounds.
//
//   sh scripts/bootstrap.sh node bench/cold-cost.mjs [--rounds=3] [--n=300]
//
// Rows (raw-worker: bench/raw-worker/index.js; loader: POST /execute under `wrangler dev`):
//   raw load              a trivial child, new per request (issue 21's baseline)
//   raw load + harness    the loader's harness as the child's main module, loaded, no run
//   raw load + harness run   the same and one run of a one-line program through it
//   loader warm           one program, cached bundle and warm isolate (the request path alone)
//   loader JS miss        a new one-module program per request
//   loader TS miss        a new 3-file TypeScript program per request (issue 21's row 3)
// Loopback only; every process it starts is killed on exit, error, deadline or signal.
import { agentFor, closedLoop, request } from "./lib/http.mjs";
import { BENCH_LOADER_VARS, processesOf, runBounded, sleep, startWrangler, waitReady } from "./lib/procs.mjs";
import { threeFileTs } from "./lib/programs.mjs";
import { mean, textTable } from "./lib/stats.mjs";
import { arg } from "./lib/args.mjs";

const args = { rounds: Number(arg("rounds", "3")), n: Number(arg("n", "300")) };
const CONCURRENCY = 100;
const DEADLINE_MS = 20 * 60_000;

const RUN = `${process.pid}-${Date.now().toString(36)}`;
let unique = 0;
const HEADERS = { "content-type": "application/json", authorization: "Bearer dwl_local_dev" };

const ROWS = [
  { label: "raw load", side: "raw", path: "/load" },
  { label: "raw load + harness", side: "raw", path: "/load?child=harness" },
  { label: "raw load + harness run", side: "raw", path: "/load?child=run" },
  { label: "loader warm", side: "loader", body: () => ({ code: "export default () => 42;" }) },
  { label: "loader JS miss", side: "loader", body: () => ({ code: `export default () => 42; // ${RUN}-${++unique}` }) },
  { label: "loader TS miss", side: "loader", body: () => ({ files: threeFileTs(`${RUN}-${++unique}`) }) },
];

function send(row, servers, agent) {
  const { url } = servers[row.side];
  if (row.side === "raw")
    return request(agent, `${url}${row.path}`).then((r) => ({
      ms: r.ms,
      error: r.status === 200 && r.text === "42" ? undefined : `HTTP ${r.status} ${r.text.slice(0, 160)}`,
    }));
  return request(agent, `${url}/execute`, { method: "POST", headers: HEADERS, body: JSON.stringify(row.body()) }).then(
    (r) => ({
      ms: r.ms,
      error: r.status === 200 && r.text.includes('"ok":true') ? undefined : `HTTP ${r.status} ${r.text.slice(0, 160)}`,
    }),
  );
}

/** CPU seconds so far of the server's runtime process (the workerd holding the Worker). */
const runtimeCpuS = (server) =>
  processesOf(server.server)
    .filter((p) => p.kind === "workerd runtime")
    .reduce((a, p) => a + p.cpuS, 0);

async function main() {
  const servers = {
    loader: await startWrangler("loader", BENCH_LOADER_VARS),
    raw: await startWrangler("raw", ["--config", "bench/raw-worker/wrangler.toml"]),
  };
  await Promise.all(Object.values(servers).map((s) => waitReady(s)));
  const warmup = agentFor(1);
  for (const row of ROWS)
    for (let i = 0; i < 20; i++) {
      const r = await send(row, servers, warmup);
      if (r.error) throw new Error(`warm-up of ${row.label}: ${r.error}`);
    }
  warmup.destroy();
  const cpuMs = new Map(ROWS.map((row) => [row, []]));
  const rps = new Map(ROWS.map((row) => [row, []]));
  for (let round = 0; round < args.rounds; round++) {
    for (const row of round % 2 ? [...ROWS].reverse() : ROWS) {
      const server = servers[row.side];
      const agent = agentFor(CONCURRENCY);
      const before = runtimeCpuS(server);
      const out = await closedLoop({ count: args.n, concurrency: CONCURRENCY, send: () => send(row, servers, agent) });
      agent.destroy();
      await sleep(200); // the runtime's last bookkeeping of the side, before its CPU is read
      if (out.failed) throw new Error(`${row.label}: ${out.failed} failed, e.g. ${[...out.details.values()][0]}`);
      cpuMs.get(row).push(((runtimeCpuS(server) - before) * 1000) / args.n);
      rps.get(row).push((out.completed / out.wallMs) * 1000);
    }
    console.log(`round ${round + 1}/${args.rounds} done`);
  }
  const base = mean(cpuMs.get(ROWS[0]));
  const baseRps = mean(rps.get(ROWS[0]));
  console.log(
    `\nRuntime CPU per request at c=${CONCURRENCY}, ${args.n} requests per row and round, ${args.rounds} rounds (mean; per round):`,
  );
  console.log(
    textTable([
      ["row", "CPU ms/request", "vs raw load", "per round", "req/s", "÷ raw load req/s"],
      ...ROWS.map((row) => [
        row.label,
        mean(cpuMs.get(row)).toFixed(2),
        `${mean(cpuMs.get(row)) - base >= 0 ? "+" : ""}${(mean(cpuMs.get(row)) - base).toFixed(2)}`,
        cpuMs
          .get(row)
          .map((v) => v.toFixed(2))
          .join(" "),
        mean(rps.get(row)).toFixed(0),
        (mean(rps.get(row)) / baseRps).toFixed(2),
      ]),
    ]),
  );
}

process.exit(await runBounded(main, DEADLINE_MS, "cold-cost"));
