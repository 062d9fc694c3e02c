/**
 * Starts the loader the way a user does (`scripts/serve.mjs`, what `npm run dev` runs after the
 * bootstrap) on a free loopback port with a throw-away state directory. For node-side tests.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface DevServer {
  base: string;
  post(path: string, body: unknown, key?: string | null): Promise<Response>;
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  stop(): void;
}

const root = new URL("../../../", import.meta.url).pathname;

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

/** `args` go to `npm run dev` (scripts/serve.mjs): `--var NAME:VALUE` sets a Worker var. */
export async function startDevServer(env: Record<string, string> = {}, args: string[] = []): Promise<DevServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const stateDir = mkdtempSync(join(tmpdir(), "dwl-state-"));
  let output = "";
  const child = spawn(process.execPath, ["scripts/serve.mjs", ...args], {
    cwd: root,
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      DWL_STATE_DIR: stateDir,
      XDG_CONFIG_HOME: join(root, ".dwl/config"),
    },
    detached: true,
  });
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const stop = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    rmSync(stateDir, { recursive: true, force: true });
  };

  const until = Date.now() + 90_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      stop();
      throw new Error(`the dev server did not become healthy:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    base,
    stop,
    output: () => output,
    post: (path, body, key = "dwl_local_dev") =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      }),
  };
}
