// Metering overhead of loader trees, recursive fib(32) (bench/run.mjs d.'s program): each tree's
// loader (metered) and one loader with DWL_CPU_ENFORCEMENT=platform (unmetered) take a new
// program text every round (a new isolate: a new JIT draw, which decides a single-isolate figure)
// and its runs interleaved across servers. Prints each round's p50/mean runMs, then the totals.
//   git clone -q . /tmp/before && git -C /tmp/before checkout <commit> && (cd /tmp/before && sh scripts/bootstrap.sh true)
//   sh scripts/bootstrap.sh node bench/metering-ab.mjs --trees=/tmp/before,. --rounds=8 --runs=15
import { arg, treesArg } from "./lib/args.mjs";
import { BENCH_LOADER_VARS, cleanup, installExitHandlers, startWrangler, waitReady } from "./lib/procs.mjs";
import { mean, median } from "./lib/stats.mjs";
installExitHandlers();
const trees = treesArg();
const ROUNDS = Number(arg("rounds", "6"));
const RUNS = Number(arg("runs", "15"));
const N = Number(arg("n", "32"));
const servers = [];
for (const [i, tree] of trees.entries()) {
  const h = await startWrangler(`meterab-${i}`, ["--config", `${tree}/wrangler.toml`, ...BENCH_LOADER_VARS]);
  servers.push({ ...h, label: `metered ${tree}` });
}
const p = await startWrangler("meterab-platform", [
  "--config",
  `${trees[0]}/wrangler.toml`,
  ...BENCH_LOADER_VARS,
  "--var",
  "DWL_CPU_ENFORCEMENT:platform",
]);
servers.push({ ...p, label: "unmetered (platform)" });
await Promise.all(servers.map((s) => waitReady(s)));
for (const s of servers) {
  s.samples = [];
  s.roundMeans = [];
}
const code = (tag) =>
  `function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\nexport default (n) => fib(n);\n// ${tag}\n`;
async function run(s, tag) {
  const res = await fetch(`${s.url}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer dwl_local_dev" },
    body: JSON.stringify({ code: code(tag), input: N, limits: { cpuMs: 30000, timeoutMs: 30000 } }),
  });
  const j = await res.json();
  if (!j.ok) throw new Error(JSON.stringify(j).slice(0, 500));
  return j.timing.runMs;
}
for (let r = 0; r < ROUNDS; r++) {
  const tag = `${Date.now()} ${r}`;
  for (const s of servers) for (let w = 0; w < 3; w++) await run(s, tag);
  const per = servers.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? [...servers.keys()].reverse() : [...servers.keys()];
    for (const k of order) per[k].push(await run(servers[k], tag));
  }
  servers.forEach((s, k) => {
    s.samples.push(...per[k]);
    s.roundMeans.push(mean(per[k]));
  });
  console.log(`round ${r}: ${per.map((p) => `${median(p)}/${mean(p).toFixed(2)}`).join("  ")}`);
}
const base = servers[servers.length - 1];
for (const s of servers)
  console.log(
    `${s.label}: runMs p50 ${median(s.samples)} (${((median(s.samples) / median(base.samples) - 1) * 100).toFixed(1)} %), mean ${mean(s.samples).toFixed(2)} (${((mean(s.samples) / mean(base.samples) - 1) * 100).toFixed(1)} %)`,
  );
await cleanup();
process.exit(0);
