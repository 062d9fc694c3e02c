/**
 * The loader served the way a user serves it (`scripts/serve.mjs`, what `npm run dev` runs after
 * the bootstrap), on a free loopback port with a throw-away state directory, for the `node` tests.
 *
 * Most files share one server with the default settings: `sharedDevServer()`, started once per
 * run by global-setup.node.ts. A file that needs other settings, or that crashes, recycles or
 * floods its runtime, starts its own with `startDevServer(env, args)` (the `node-own-server`
 * project, one file at a time). A server's output goes to a file, never to the test log; it is
 * shown when the server fails to start.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** The shared dev server of the `node` project (global-setup.node.ts). */
    devServer: { base: string; log: string };
  }
}

/** What a test may do with a server it shares with other files. */
export interface DevServerClient {
  base: string;
  post(path: string, body: unknown, key?: string | null): Promise<Response>;
}

export interface DevServer extends DevServerClient {
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  /** Resident memory of the server's runtime (its workerd process) now, MB; 0 while there is none. */
  runtimeResidentMb(): number;
  stop(): void;
}

const root = new URL("../", import.meta.url).pathname;
const START_TIMEOUT_MS = 90_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

function client(base: string): DevServerClient {
  return {
    base,
    post: (path, body, key = "dwl_local_dev") =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      }),
  };
}

/** Resolves once `base` answers /healthz; rejects with `describe()` after START_TIMEOUT_MS. */
async function untilHealthy(base: string, describe: () => string): Promise<void> {
  const until = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`the dev server at ${base} did not become healthy:\n${describe()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The workerd process among `root`'s descendants (Linux /proc), as the supervisor's memory cap reads it. */
function workerdUnder(root: number): number | undefined {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name in parentheses may hold spaces: the parent pid is the 2nd field after it.
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  for (const [pid] of parentOf) {
    let up = parentOf.get(pid);
    while (up !== undefined && up !== root && up > 1) up = parentOf.get(up);
    if (up !== root) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd") return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function residentMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/**
 * Spawns a dev server and returns at once; `healthy` settles when it answers. `args` go to
 * `npm run dev` (scripts/serve.mjs): `--var NAME:VALUE` sets a Worker var.
 */
export async function spawnDevServer(
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<DevServer & { log: string; healthy: Promise<void> }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), "dwl-dev-server-"));
  const log = join(dir, "output.log");
  const out = openSync(log, "a");
  const child = spawn(process.execPath, ["scripts/serve.mjs", ...args], {
    cwd: root,
    env: {
      ...process.env,
      // Built at start unless the caller hands over a build: never one from the user's shell.
      DWL_LOADER_BUILD: "",
      ...env,
      PORT: String(port),
      DWL_STATE_DIR: join(dir, "state"),
      XDG_CONFIG_HOME: join(root, ".dwl/config"),
    },
    detached: true,
    stdio: ["ignore", out, out],
  });
  const output = () => {
    try {
      return readFileSync(log, "utf8");
    } catch {
      return "";
    }
  };
  const stop = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const runtimeResidentMb = () => {
    const pid = child.pid === undefined ? undefined : workerdUnder(child.pid);
    return pid === undefined ? 0 : residentMb(pid);
  };
  const healthy = untilHealthy(base, output).catch((err: unknown) => {
    stop();
    throw err;
  });
  return { ...client(base), log, output, runtimeResidentMb, stop, healthy };
}

/**
 * Starts a dev server of this file's own and waits until it answers, serving the loader build
 * made once for the project (global-setup.own-server.ts). Only files of the `node-own-server`
 * project call it (vitest.config.ts): they run one at a time, because they crash, recycle or
 * flood their runtime and time what follows.
 */
export async function startDevServer(env: Record<string, string> = {}, args: string[] = []): Promise<DevServer> {
  const build = inject("loaderBuild");
  const { healthy, ...server } = await spawnDevServer({ ...(build ? { DWL_LOADER_BUILD: build } : {}), ...env }, args);
  await healthy;
  // A start that built anyway would pass every test, only slower: say so instead.
  if (build && !server.output().includes("(DWL_LOADER_BUILD)")) {
    server.stop();
    throw new Error(`the dev server did not serve the project's build ${build}:\n${server.output()}`);
  }
  return server;
}

/** The dev server this run's `node` files share (default settings), once it answers. */
export async function sharedDevServer(): Promise<DevServerClient> {
  const { base, log } = inject("devServer");
  await untilHealthy(base, () => {
    try {
      return readFileSync(log, "utf8");
    } catch {
      return `(no output: ${log} is gone)`;
    }
  });
  return client(base);
}
