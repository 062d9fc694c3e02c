// A/B of loader trees on the new-program path: each tree's loader (`wrangler dev --config
// <tree>/wrangler.toml`) and the raw baseline (bench/raw-worker, `LOADER.load`) take one new
// program after another at c=1, interleaved request by request (the order alternating), so a busy
// machine slows them alike. Compare a change with the commit before it in a worktree:
//   git worktree add /tmp/before HEAD~1 && (cd /tmp/before && pnpm install)
//   sh scripts/bootstrap.sh node bench/ab.mjs --trees=/tmp/before,. --program=ts --n=200
// Identical trees differ by ~0.15 ms p50 this way on the reference machine. Bounded: n + 20
// requests per server; every server is stopped on exit.
import { agentFor, request } from "./lib/http.mjs";
import { arg, treesArg } from "./lib/args.mjs";
import { BENCH_LOADER_VARS, cleanup, installExitHandlers, startWrangler, waitReady } from "./lib/procs.mjs";
import { threeFileTs } from "./lib/programs.mjs";
import { median } from "./lib/stats.mjs";

installExitHandlers();

const trees = treesArg();
const program = arg("program", "js");
const n = Number(arg("n", "200"));
const WARMUP = 20;
if (!["js", "ts"].includes(program) || !Number.isInteger(n) || n < 1)
  throw new Error("usage: node bench/ab.mjs --trees=<dir>[,<dir>…] [--program=js|ts] [--n=<requests>]");

/** `name` goes into temp dir names; `label` is what the results call it. */
async function start(name, label, args) {
  const handle = await startWrangler(name, args);
  await waitReady(handle);
  return { ...handle, label, agent: agentFor(1), samples: [] };
}

/** A program no loader has seen: plain JS, or bench/run.mjs's 3-file TypeScript program. */
const newProgram = (tag) =>
  JSON.stringify(
    program === "ts" ? { entry: "index.ts", files: threeFileTs(tag) } : { code: `export default () => 42; // ${tag}` },
  );

const headers = { "content-type": "application/json", authorization: "Bearer dwl_local_dev" };
const loaders = [];
for (const [i, tree] of trees.entries()) {
  const loader = await start(`ab-loader-${i + 1}`, tree, ["--config", `${tree}/wrangler.toml`, ...BENCH_LOADER_VARS]);
  loader.send = (round) => {
    const body = newProgram(`${loader.name} ${round} ${crypto.randomUUID()}`);
    return request(loader.agent, `${loader.url}/execute`, { method: "POST", headers, body });
  };
  loader.answered = (res) => res.text.includes('"ok":true');
  loaders.push(loader);
}
const raw = await start("ab-raw", "raw LOADER.load", ["--config", "bench/raw-worker/wrangler.toml"]);
raw.send = (round) => request(raw.agent, `${raw.url}/load?i=${round}`);
raw.answered = () => true;

const servers = [...loaders, raw];
for (let round = 0; round < n + WARMUP; round++) {
  for (const server of round % 2 ? [...servers].reverse() : servers) {
    const started = performance.now();
    const res = await server.send(round);
    if (res.status !== 200 || !server.answered(res))
      throw new Error(`${server.label}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    if (round >= WARMUP) server.samples.push(performance.now() - started);
  }
}
const rawP50 = median(raw.samples);
for (const server of servers)
  console.log(
    `${server.label}: p50 ${median(server.samples).toFixed(2)} ms, ÷ raw ${(median(server.samples) / rawP50).toFixed(3)}`,
  );
await cleanup();
process.exit(0);
