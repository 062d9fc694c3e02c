/**
 * Starts the loader the way a user does (`scripts/serve.mjs`, what `npm run dev` runs after the
 * bootstrap) and drives it over real HTTP on loopback.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExecuteResponseSchema, RequestErrorBodySchema } from "@dwl/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url).pathname;
let server: ChildProcess | undefined;
let base = "";
let stateDir = "";
let output = "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitForHealth(deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`wrangler dev did not become healthy:\n${output}`);
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  stateDir = mkdtempSync(join(tmpdir(), "dwl-state-"));
  server = spawn(process.execPath, ["scripts/serve.mjs"], {
    cwd: root,
    env: { ...process.env, PORT: String(port), DWL_STATE_DIR: stateDir, XDG_CONFIG_HOME: join(root, ".dwl/config") },
    detached: true,
  });
  server.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  server.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  await waitForHealth(90_000);
});

afterAll(() => {
  if (server?.pid) process.kill(-server.pid, "SIGTERM");
  rmSync(stateDir, { recursive: true, force: true });
});

async function post(path: string, body: unknown, key: string | null = "dwl_local_dev"): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
}

describe("wrangler dev over HTTP", () => {
  it("runs a TypeScript program with the dev key", async () => {
    const res = await post("/execute", { code: "export default (input: { n: number }) => { console.log('n is', input.n); return input.n * 2; }", input: { n: 21 } });
    expect(res.status).toBe(200);
    const body = ExecuteResponseSchema.parse(await res.json());
    expect(body).toMatchObject({ ok: true, result: 42, logs: [{ level: "log", message: "n is 21" }] });
  });

  it("answers 401 with a JSON error without a key", async () => {
    const res = await post("/execute", { code: "1" }, null);
    expect(res.status).toBe(401);
    expect(RequestErrorBodySchema.parse(await res.json()).error.type).toBe("unauthorized");
  });

  it("defuses a catastrophic regular expression (V8 flags from scripts/serve.mjs)", async () => {
    // Without the linear-time fallback this backtracks for minutes and freezes the whole runtime.
    const res = await post("/execute", { code: 'export default () => /(a+)+$/.test("a".repeat(40) + "b")', limits: { timeoutMs: 5_000 } });
    expect(ExecuteResponseSchema.parse(await res.json())).toMatchObject({ ok: true, result: false });
  });

  it("ends a never-settling program with `timeout` and keeps serving", async () => {
    const slow = ExecuteResponseSchema.parse(await (await post("/execute", { code: "await new Promise(() => {})", limits: { timeoutMs: 200 } })).json());
    expect(slow.ok).toBe(false);
    if (!slow.ok) expect(slow.error.type).toBe("timeout");
    const next = ExecuteResponseSchema.parse(await (await post("/execute", { code: "export default () => 'still here'" })).json());
    expect(next).toMatchObject({ ok: true, result: "still here" });
  });
});
