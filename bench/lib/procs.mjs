// Child processes of the bench scripts (bench/run.mjs, bench/load.mjs): every server runs in its
// own process group so that stopping it reaches wrangler's own children (workerd, esbuild) too,
// and every group and temp dir is removed on exit, error, deadline or signal.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { buildHarness } from "../../apps/loader/build-harness.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const WRANGLER = `${ROOT}node_modules/wrangler/bin/wrangler.js`;

/**
 * Arguments of `node`: scripts/serve.mjs (`npm run dev`'s supervisor) with `apiKeysJson` as
 * DWL_API_KEYS and the loader's own per-tenant limits (1,200 runs a minute, 50 at once) raised:
 * they would answer a bench's floods with 429 on every instance and port alike.
 */
export const floodServeArgs = (apiKeysJson) => [
  `${ROOT}scripts/serve.mjs`,
  "--var",
  `DWL_API_KEYS:${apiKeysJson}`,
  "--var",
  "DWL_RATE_PER_MINUTE:1000000",
  "--var",
  "DWL_MAX_CONCURRENT:2000",
];

const STARTUP_TIMEOUT_MS = 90_000;
/** Between SIGTERM to a server's process group and SIGKILL. */
const KILL_GRACE_MS = 4_000;
/**
 * The line that says workerd died and is being restarted (e.g. V8 out of memory): miniflare's
 * under a plain `wrangler dev`, the supervisor's under `npm run dev`.
 */
const CRASH_LINE = /The Workers runtime crashed unexpectedly|\[dwl supervisor\] runtime went down/;
/**
 * wrangler's line when it rebuilds after a source file changed (others may edit the repository
 * while a bench runs): in-flight POSTs then fail with 503 "Your worker restarted mid-request".
 */
const RELOAD_LINE = /Reloading local server/;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @type {Server[]} */
const servers = [];
const tempDirs = [];

/**
 * @typedef {object} Server
 * @property {string} name
 * @property {import("node:child_process").ChildProcess} child
 * @property {boolean} exited
 * @property {string[]} log   the last 300 lines of output, for error reports
 * @property {number} crashes how many times miniflare reported a runtime crash
 * @property {number} reloads how many times wrangler rebuilt after a file change
 * @property {((line: string) => void)[]} lineListeners called with every line of output (`log` keeps only the tail)
 * @property {Promise<void>} exit
 */

/** Signals a whole process group; ignores a group that is gone. */
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

/** Stops one server's whole process group: TERM, then KILL after a grace period. */
export async function stopServer(server) {
  if (groupAlive(server.child.pid)) {
    killGroup(server.child.pid, "SIGTERM");
    const deadline = Date.now() + KILL_GRACE_MS;
    while (groupAlive(server.child.pid) && Date.now() < deadline) await sleep(100);
    // wrangler's own children (workerd) can outlive it: the group kill catches them too.
    killGroup(server.child.pid, "SIGKILL");
  }
  const i = servers.indexOf(server);
  if (i >= 0) servers.splice(i, 1);
}

export function tempDir(prefix) {
  const dir = mkdtempSync(`${os.tmpdir()}/${prefix}`);
  tempDirs.push(dir);
  return dir;
}

let cleaning;
/** Stops every server and removes temp dirs. Idempotent. */
export function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...servers].map(stopServer));
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

/**
 * Installs the exit paths: a synchronous SIGKILL of every group when the process exits without
 * the async cleanup having run, and cleanup on SIGINT/SIGTERM/SIGHUP. Returns a flag object whose
 * `interrupted` says a signal arrived (failures after that are the servers being stopped).
 */
export function installExitHandlers() {
  const state = { interrupted: false };
  process.on("exit", () => {
    for (const s of servers) killGroup(s.child.pid, "SIGKILL");
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ]) {
    process.on(signal, () => {
      state.interrupted = true;
      console.error(`\n${signal}: stopping servers`);
      cleanup().finally(() => process.exit(code));
    });
  }
  return state;
}

/** Runs `main` under a global deadline; always cleans up; returns the exit code. */
export async function runBounded(main, deadlineMs, label) {
  const state = installExitHandlers();
  const watchdog = setTimeout(() => {
    console.error(`${label}: deadline of ${Math.round(deadlineMs / 1000)} s exceeded, stopping`);
    cleanup().finally(() => process.exit(1));
  }, deadlineMs);
  let exitCode = 0;
  try {
    exitCode = (await main()) ?? 0;
  } catch (err) {
    exitCode = 1;
    if (!state.interrupted) console.error(`${label} failed: ${err?.stack ?? err}`);
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
  return exitCode;
}

export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * wrangler's environment: config and logs inside the project, no metrics or update checks, and
 * no local trace explorer, as under `npm run dev` (apps/supervisor/src/runtime.ts), so that the
 * raw baselines run on the same footing as the loader.
 */
export const WRANGLER_ENV = {
  XDG_CONFIG_HOME: `${ROOT}.dwl/config`,
  X_LOCAL_OBSERVABILITY: "false",
  WRANGLER_SEND_METRICS: "false",
  CI_DISABLE_UPDATE_CHECK: "1",
};

/** Spawns a command in its own process group, output drained and its tail kept. */
export function spawnServer(name, command, args, env = {}) {
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: true, // own process group, so cleanup reaches every descendant
    stdio: ["ignore", "pipe", "pipe"],
    // A bench measures the loader built from the sources at start, never a build from the shell.
    env: { ...process.env, ...WRANGLER_ENV, DWL_LOADER_BUILD: "", ...env },
  });
  /** @type {Server} */
  const server = { name, child, exited: false, log: [], crashes: 0, reloads: 0, lineListeners: [], exit: undefined };
  server.exit = new Promise((resolve) => child.once("exit", () => resolve()));
  server.exit.then(() => (server.exited = true));
  servers.push(server);
  // Drain both pipes (a full pipe would stall the server) and keep the tail for error reports.
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8");
    let partial = "";
    stream.on("data", (chunk) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line) continue;
        if (CRASH_LINE.test(line)) server.crashes++;
        if (RELOAD_LINE.test(line)) server.reloads++;
        for (const listen of server.lineListeners) listen(line);
        server.log.push(line);
      }
      if (server.log.length > 300) server.log.splice(0, server.log.length - 300);
    });
  }
  return server;
}

/**
 * The loader's vars in the benches: local mode (the dev key works; wrangler.toml defaults to
 * production) and tenant limits raised (a bench is one tenant).
 */
export const BENCH_LOADER_VARS = [
  "--var",
  "DWL_MODE:local",
  "--var",
  "DWL_RATE_PER_MINUTE:1000000",
  "--var",
  "DWL_MAX_CONCURRENT:2000",
];

/**
 * Starts `wrangler dev` for one Worker. `args` are extra wrangler arguments (config, vars).
 * Returns a handle that `restartWrangler` can start again with the same arguments.
 */
export async function startWrangler(name, args) {
  // The loader ships the minified child harness: rebuild it if sandbox/harness/ changed.
  await buildHarness();
  const port = await freePort();
  // Explicit inspector port: several `wrangler dev` at once would otherwise all want 9229.
  const inspectorPort = await freePort();
  const persistDir = tempDir(`dwl-bench-${name}-`);
  // Deliberately not the regexp V8 flags of `npm run dev` (scripts/serve.mjs): any custom V8
  // flag fails workerd's check of its per-isolate bootstrap compile cache ("scripts will be
  // compiled from source"), adding ~4 ms to every new isolate on both sides. Production has no
  // custom flags, so the bench runs without them.
  const server = spawnServer(name, process.execPath, [
    WRANGLER,
    "dev",
    ...args,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    persistDir,
  ]);
  return { name, args, url: `http://127.0.0.1:${port}`, server };
}

/** Stops a wrangler handle and starts a fresh one with the same arguments (new port, new state). */
export async function restartWrangler(handle) {
  await stopServer(handle.server);
  const fresh = await startWrangler(handle.name, handle.args);
  await waitReady(fresh);
  return fresh;
}

/** Polls GET /healthz until it answers 200, failing early if the server exits. */
export async function waitReady({ name, url, server }, timeoutMs = STARTUP_TIMEOUT_MS) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (server.exited) throw new Error(`${name}: exited during startup\n${server.log.slice(-30).join("\n")}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`${name}: no answer on ${url}/healthz within ${timeoutMs} ms\n${server.log.slice(-30).join("\n")}`);
}

/**
 * The processes of a server's process group, with what they are, their resident memory (VmRSS,
 * MiB) and CPU time so far (user + system, seconds). wrangler runs two workerd processes: its
 * proxy, which owns the public port, and the runtime holding the Worker and its child isolates,
 * the one with the inspector and debug port (its `entry` port is 0 only at first start: a restart
 * reuses the port it got). A restarted runtime is a new pid in the same group, so it is found.
 */
export function processesOf(server) {
  const pgid = server.child.pid;
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesised command name (which may contain spaces): state ppid pgrp
      // session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1] ?? 0) / 1024;
      const cpuS = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      out.push({ pid: Number(entry), kind: kindOf(argv), rssMb, cpuS });
    } catch {
      // exited while scanning
    }
  }
  return out;
}

/** Linux's USER_HZ: /proc times are in 1/100 s on every mainstream architecture. */
const CLOCK_TICKS = 100;

/** Node scripts of the dev server, by file name (wrangler's launcher re-runs Node on cli.js). */
const NODE_SCRIPTS = {
  "main.ts": "supervisor (node)",
  "serve.mjs": "serve.mjs launcher (node)",
  "wrangler.js": "wrangler launcher (node)",
  "cli.js": "wrangler (node)",
};

function kindOf(argv) {
  const exe = argv[0].split("/").pop();
  if (exe === "workerd")
    return argv.some((a) => a.startsWith("--inspector-addr=") || a.startsWith("--debug-port="))
      ? "workerd runtime"
      : "workerd proxy";
  if (exe === "esbuild") return "esbuild";
  const script = argv
    .slice(1)
    .find((a) => !a.startsWith("-"))
    ?.split("/")
    .pop();
  return script ? (NODE_SCRIPTS[script] ?? `node ${script}`) : exe;
}

/** Sum of VmRSS (MiB) of a server's workerd processes (proxy + runtime). */
export function workerdRssMb(server) {
  return processesOf(server)
    .filter((p) => p.kind.startsWith("workerd"))
    .reduce((a, p) => a + p.rssMb, 0);
}

/** Samples a value every `intervalMs` until stopped; keeps the peak. */
export function sampler(read, intervalMs = 200) {
  const state = { peak: read(), last: 0 };
  state.last = state.peak;
  const timer = setInterval(() => {
    state.last = read();
    state.peak = Math.max(state.peak, state.last);
  }, intervalMs);
  state.stop = () => {
    clearInterval(timer);
    state.last = read();
    state.peak = Math.max(state.peak, state.last);
    return state;
  };
  return state;
}

/** The supervisor's ready line (`npm run dev`, scripts/serve.mjs): its public URL and the runtime's. */
const SUPERVISED_READY_LINE =
  /loader ready on (http:\/\/127\.0\.0\.1:\d+) \(supervised; runtime on (http:\/\/127\.0\.0\.1:\d+)\)/;
/** A supervised start builds the loader before it starts the runtime. */
const SUPERVISED_STARTUP_TIMEOUT_MS = 120_000;

/**
 * Starts a supervised dev server (command + args, in its own process group) and waits for its
 * ready line; returns both URLs. Supervisor event lines are collected for the report.
 */
export async function startDev(name, command, args, env) {
  const server = spawnServer(name, command, args, env);
  const events = [];
  const ready = new Promise((resolve) =>
    server.lineListeners.push((line) => {
      const m = SUPERVISED_READY_LINE.exec(line);
      if (m) resolve({ url: m[1], runtimeUrl: m[2] });
      if (line.includes("[dwl supervisor]")) events.push(line);
    }),
  );
  const startedAt = performance.now();
  const failed = Promise.race([server.exit, sleep(SUPERVISED_STARTUP_TIMEOUT_MS)]).then(() => {
    throw new Error(
      `${name}: ${server.exited ? "exited" : `no ready line within ${SUPERVISED_STARTUP_TIMEOUT_MS} ms`}\n${server.log.slice(-30).join("\n")}`,
    );
  });
  const urls = await Promise.race([ready, failed]);
  failed.catch(() => {});
  return { name, server, events, readyMs: performance.now() - startedAt, ...urls };
}
