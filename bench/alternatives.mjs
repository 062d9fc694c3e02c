// Section g. of `npm run bench` (run by bench/run.mjs as a child process, in a fresh Node so
// that its memory figures start from a clean process): the two usual alternatives to isolates
// for running an untrusted snippet, on the same trivial program (`() => 42`).
//   1. a process per execution: `node -e` via child_process, sequential;
//   2. QuickJS compiled to WebAssembly (quickjs-emscripten), in-process: a new runtime + context
//      per execution inside one shared WebAssembly instance, and (closer to an isolate's
//      separation: its own linear memory) a new WebAssembly instance per execution.
// Prints one JSON line. Every loop is bounded by its run count.
import { spawn } from "node:child_process";
import { newQuickJSWASMModule } from "quickjs-emscripten";

const RUNS = Number(process.env.ALT_RUNS ?? 30);
const WARMUP = 3;
/** Sandboxes kept alive at once to estimate the memory of one (RSS growth / count). */
const LIVE_CONTEXTS = 200;
const LIVE_MODULES = 20;
const PROCESS_TIMEOUT_MS = 10_000;

const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const gc = () => globalThis.gc?.();

/** One `node -e` run: spawn → exit, with the child's own peak RSS. */
function nodeProcess() {
  const code =
    "const fn = () => 42; const result = fn(); process.stdout.write(JSON.stringify({ result, maxRssKb: process.resourceUsage().maxRSS }));";
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), PROCESS_TIMEOUT_MS);
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      try {
        const parsed = JSON.parse(out);
        if (code !== 0 || parsed.result !== 42) throw new Error(`exit ${code}`);
        resolve({ ms, maxRssMb: parsed.maxRssKb / 1024 });
      } catch (err) {
        reject(new Error(`node -e failed (${err.message}): ${out.slice(0, 200)}`));
      }
    });
  });
}

/** Evaluates the program in a fresh runtime + context of `module`, then disposes both. */
function quickjsRun(module) {
  const runtime = module.newRuntime();
  runtime.setMemoryLimit(64 * 2 ** 20);
  const context = runtime.newContext();
  const handle = context.unwrapResult(context.evalCode("(() => 42)()"));
  const result = context.getNumber(handle);
  handle.dispose();
  context.dispose();
  runtime.dispose();
  if (result !== 42) throw new Error(`quickjs returned ${result}`);
}

async function timed(fn, runs) {
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    ms.push(performance.now() - started);
  }
  return ms;
}

const out = {};

// 1. Process per execution.
await timed(nodeProcess, WARMUP);
const processRuns = [];
for (let i = 0; i < RUNS; i++) processRuns.push(await nodeProcess());
out.process = {
  runs: RUNS,
  ms: processRuns.map((r) => r.ms),
  maxRssMb: processRuns.map((r) => r.maxRssMb),
  node: process.version,
};

// 2a. QuickJS: the first module ever (WebAssembly compile + instantiate), then a runtime per run.
let started = performance.now();
const shared = await newQuickJSWASMModule();
const firstModuleMs = performance.now() - started;
started = performance.now();
quickjsRun(shared);
const firstRunMs = performance.now() - started;
await timed(() => quickjsRun(shared), WARMUP);
const contextRuns = await timed(() => quickjsRun(shared), RUNS);

// 2b. QuickJS: a new WebAssembly instance (own linear memory) per run.
await timed(async () => quickjsRun(await newQuickJSWASMModule()), WARMUP);
const moduleRuns = await timed(async () => quickjsRun(await newQuickJSWASMModule()), RUNS);

// Memory: RSS growth with many sandboxes alive at once, per sandbox.
gc();
let before = rssMb();
const live = [];
for (let i = 0; i < LIVE_CONTEXTS; i++) {
  const runtime = shared.newRuntime();
  const context = runtime.newContext();
  context.unwrapResult(context.evalCode("(() => 42)()")).dispose();
  live.push({ runtime, context });
}
const perContextMb = (rssMb() - before) / LIVE_CONTEXTS;
for (const { runtime, context } of live.splice(0)) {
  context.dispose();
  runtime.dispose();
}
gc();
before = rssMb();
const modules = [];
for (let i = 0; i < LIVE_MODULES; i++) {
  const module = await newQuickJSWASMModule();
  const context = module.newContext();
  context.unwrapResult(context.evalCode("(() => 42)()")).dispose();
  modules.push(context);
}
const perModuleMb = (rssMb() - before) / LIVE_MODULES;
for (const context of modules) context.dispose();

out.quickjs = {
  runs: RUNS,
  firstModuleMs,
  firstRunMs,
  contextMs: contextRuns,
  moduleMs: moduleRuns,
  perContextMb,
  perModuleMb,
  liveContexts: LIVE_CONTEXTS,
  liveModules: LIVE_MODULES,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
