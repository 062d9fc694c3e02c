/**
 * `npm run deploy`'s script (scripts/deploy.mjs) with a scripted `wrangler` first on PATH, which
 * records its calls and plays a Cloudflare account: signed out, a first deploy (no Worker yet), a
 * redeploy. The smoke check after the redeploy runs against the real loader (`npm run dev`), as does
 * `npm run smoke`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../test-support/dev-server.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** A `wrangler` that answers from FAKE_* variables and appends each call to $FAKE_STATE/calls.jsonl. */
const FAKE_WRANGLER = `#!${process.execPath}
const fs = require("node:fs");
const [command, ...rest] = process.argv.slice(2);
const state = process.env.FAKE_STATE;
const call = { command, args: rest };
if (command === "deploy") {
  const i = rest.indexOf("--secrets-file");
  if (i >= 0) call.secrets = JSON.parse(fs.readFileSync(rest[i + 1], "utf8")), call.secretsFile = rest[i + 1];
}
fs.appendFileSync(state + "/calls.jsonl", JSON.stringify(call) + "\\n");
if (command === "whoami") {
  if (process.env.FAKE_SIGNED_OUT) { console.log(JSON.stringify({ loggedIn: false })); process.exit(1); }
  console.log(JSON.stringify({ loggedIn: true, email: "dev@example.com", authType: "OAuth Token" }));
} else if (command === "secret") {
  if (!process.env.FAKE_SECRETS) { console.error('✘ [ERROR] Worker "dwl-loader" not found.'); process.exit(1); }
  console.log(JSON.stringify(process.env.FAKE_SECRETS.split(",").map((name) => ({ name, type: "secret_text" }))));
} else if (command === "deploy") {
  fs.appendFileSync(process.env.WRANGLER_OUTPUT_FILE_PATH, JSON.stringify({ type: "wrangler-session", version: 1 }) + "\\n");
  fs.appendFileSync(process.env.WRANGLER_OUTPUT_FILE_PATH, JSON.stringify({ type: "deploy", version: 1, worker_name: "dwl-loader", targets: [process.env.FAKE_URL] }) + "\\n");
  console.log("Uploaded dwl-loader (1.00 sec)");
  console.log("Deployed dwl-loader triggers (0.50 sec)");
  console.log("  " + process.env.FAKE_URL);
  console.log("Current Version ID: 00000000-0000-0000-0000-000000000000");
}
`;

let server: DevServerClient;
let fake: string;
beforeAll(async () => {
  fake = mkdtempSync(join(tmpdir(), "dwl-fake-wrangler-"));
  writeFileSync(join(fake, "wrangler"), FAKE_WRANGLER);
  chmodSync(join(fake, "wrangler"), 0o755);
  server = await sharedDevServer();
});
afterAll(() => {
  if (fake) rmSync(fake, { recursive: true, force: true });
});

interface Call {
  command: string;
  args: string[];
  secrets?: Record<string, string>;
  secretsFile?: string;
}

function deploy(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string; calls: Call[] }> {
  const state = mkdtempSync(join(fake, "state-"));
  writeFileSync(join(state, "calls.jsonl"), "");
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.DWL_KEY; // only the test's own
  Object.assign(
    childEnv,
    { PATH: `${fake}${delimiter}${process.env.PATH}`, FAKE_STATE: state, FAKE_URL: "dwl-loader.example.workers.dev" },
    env,
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["scripts/deploy.mjs", ...args],
      { cwd: ROOT, env: childEnv, encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => {
        const calls = readFileSync(join(state, "calls.jsonl"), "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Call);
        resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr, calls });
      },
    );
  });
}

describe("npm run deploy", () => {
  it("runs with the user's own wrangler configuration (their `wrangler login`), unlike local serving", async () => {
    const xdg = (args: string[]) =>
      new Promise<string>((resolve, reject) => {
        const env = { ...process.env, XDG_CONFIG_HOME: "/home/someone/.config" };
        execFile(
          "sh",
          ["scripts/bootstrap.sh", ...args, "sh", "-c", "echo $XDG_CONFIG_HOME"],
          { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout.trim().split("\n").at(-1) ?? "")),
        );
      });
    expect(await xdg(["--user-config"])).toBe("/home/someone/.config");
    expect(await xdg([])).toBe(join(ROOT, ".dwl/config"));
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }
    ).scripts;
    expect(scripts.deploy).toMatch(/^sh scripts\/bootstrap\.sh --user-config /);
    expect(scripts.wrangler).toMatch(/^sh scripts\/bootstrap\.sh --user-config /);
  });

  it("stops before deploying when wrangler is not signed in, and says how to sign in", async () => {
    const run = await deploy([], { FAKE_SIGNED_OUT: "1" });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("npm run wrangler -- login");
    expect(run.stderr).toContain("CLOUDFLARE_API_TOKEN");
    expect(run.calls.map((c) => c.command)).toEqual(["whoami"]);
  });

  it("deploys a new Worker with a fresh API key and encryption key, shown once and never left on disk", async () => {
    const run = await deploy(["--tenant", "acme", "--skip-smoke"], {});
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const deployCall = run.calls.find((c) => c.command === "deploy");
    expect(deployCall?.args).toContain("--secrets-file");
    const key = /^ {2}(dwl_[A-Za-z0-9_-]{43})$/m.exec(run.stdout)?.[1];
    expect(key).toBeDefined();
    const hash = createHash("sha256").update(key!).digest("hex");
    expect(JSON.parse(deployCall?.secrets?.DWL_API_KEYS ?? "{}")).toEqual({ [hash]: "acme" });
    expect(deployCall?.secrets?.DWL_ENCRYPTION_KEY?.length).toBeGreaterThanOrEqual(32);
    expect(existsSync(deployCall!.secretsFile!)).toBe(false);
    expect(run.stdout).toContain("MCP endpoint: https://dwl-loader.example.workers.dev/mcp");
  });

  it("redeploys without touching the secrets, then passes the smoke check against the loader", async () => {
    const run = await deploy([], {
      FAKE_SECRETS: "DWL_API_KEYS,DWL_ENCRYPTION_KEY",
      FAKE_URL: server.base,
      DWL_KEY: "dwl_local_dev",
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.calls.find((c) => c.command === "deploy")?.args).toEqual([]);
    expect(run.stdout).not.toMatch(/API key for tenant/);
    expect(run.stdout).toMatch(/✓ execute .*\n✓ sandbox .*\n✓ mcp .*search, execute/);
    expect(run.stdout).toContain(`✓ ${server.base} works`);
  });

  it("`npm run smoke -- <url>` checks a loader and exits 0", async () => {
    const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const env = { ...process.env, DWL_KEY: "dwl_local_dev", NO_COLOR: "1" };
      execFile(
        "npm",
        ["run", "--silent", "smoke", "--", server.base],
        { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 },
        (err, stdout) => resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout }),
      );
    });
    expect(run.stdout).toContain(`✓ ${server.base} works`);
    expect(run.code).toBe(0);
  });

  it("keeps an existing encryption key when --new-key replaces the API keys", async () => {
    const run = await deploy(["--new-key", "--skip-smoke"], { FAKE_SECRETS: "DWL_API_KEYS,DWL_ENCRYPTION_KEY" });
    expect(run.code).toBe(0);
    expect(Object.keys(run.calls.find((c) => c.command === "deploy")?.secrets ?? {})).toEqual(["DWL_API_KEYS"]);
    expect(run.stdout).toContain("keys made before no longer work");
  });
});
