// `npm run deploy`: the loader on the user's own Cloudflare account, the first time and every
// time after (docs/deploy.md). Runs after `scripts/bootstrap.sh --user-config`, so wrangler sees the
// user's `wrangler login` or CLOUDFLARE_API_TOKEN, and Node can import the SDK's TypeScript.
//
//   1. signed in?      `wrangler whoami --json`; if not, say how, before anything else happens
//   2. secrets         a Worker without DWL_API_KEYS / DWL_ENCRYPTION_KEY (a first deploy) gets fresh
//                      ones uploaded with the deploy itself (`--secrets-file`): it never runs without
//   3. deploy          `wrangler deploy`: wrangler creates the KV namespace and R2 bucket when missing,
//                      the Durable Object classes come from wrangler.toml's migrations
//   4. smoke check     an execution, a sandbox and MCP tools/list against the deployed URL
//
// Options: --tenant <name> (the new key's tenant, default "default"), --new-key (replace
// DWL_API_KEYS with one new key: older keys stop working), --skip-smoke.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DwlClient } from "../packages/client/src/client.ts";
import { newApiKey, newEncryptionKey } from "../packages/client/src/cli/keys.ts";
import { smoke } from "../packages/client/src/cli/smoke.ts";

/** A workers.dev hostname can take a little while to answer after a Worker's first deploy. */
const SMOKE_PATIENCE_MS = 60_000;
const SMOKE_RETRY_DELAY_MS = 5_000;

const { values } = parseArgs({
  options: {
    tenant: { type: "string", default: "default" },
    "new-key": { type: "boolean", default: false },
    "skip-smoke": { type: "boolean", default: false },
  },
});
if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(values.tenant))
  fail("--tenant must be 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit");

function fail(message) {
  process.stderr.write(`\n✗ ${message}\n`);
  process.exit(1);
}

/**
 * Runs wrangler, capturing its output; with `terminal` it has the terminal instead, so it stays
 * interactive (wrangler asks only when stdin and stdout are TTYs, e.g. to register a workers.dev
 * subdomain on a first deploy) and `env` carries anything else it needs.
 */
function wrangler(args, { terminal = false, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn("wrangler", args, {
      stdio: terminal ? "inherit" : ["inherit", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stderr += d));
    child.on("error", (err) => resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` }));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

// 1. Signed in, with the user's own credentials.
const who = await wrangler(["whoami", "--json"]);
let account;
try {
  account = JSON.parse(who.stdout);
} catch {
  account = undefined;
}
if (who.code !== 0 || account?.loggedIn !== true) {
  fail(
    [
      "wrangler is not signed in to Cloudflare, so there is nowhere to deploy.",
      "  Sign in once in a browser:   npm run wrangler -- login",
      '  or use an API token:         CLOUDFLARE_API_TOKEN=… npm run deploy   (template "Edit Cloudflare Workers";',
      "                               add CLOUDFLARE_ACCOUNT_ID=… when the token reaches several accounts)",
      "A login made with your own wrangler (`npx wrangler login` elsewhere) works too: it is the same one.",
      ...(who.code !== 0 && !who.stdout.includes("loggedIn")
        ? ["", `wrangler whoami said: ${(who.stderr || who.stdout).trim().slice(0, 500)}`]
        : []),
    ].join("\n"),
  );
}
console.log(`Deploying as ${account.email ?? account.authType ?? "the signed-in user"}`);

// 2. Secrets the Worker must not run without. A Worker that does not exist yet has none.
const listed = await wrangler(["secret", "list", "--format", "json"]);
let present = [];
if (listed.code === 0) {
  try {
    present = JSON.parse(listed.stdout).map((s) => s.name);
  } catch {
    fail(`\`wrangler secret list\` answered something that is not JSON:\n${listed.stdout.slice(0, 500)}`);
  }
} else if (!/not found/i.test(listed.stdout + listed.stderr)) {
  fail(`\`wrangler secret list\` failed:\n${(listed.stderr || listed.stdout).trim().slice(0, 1000)}`);
}
const secrets = {};
let apiKey;
if (!present.includes("DWL_API_KEYS") || values["new-key"]) {
  apiKey = newApiKey(values.tenant);
  secrets.DWL_API_KEYS = JSON.stringify(apiKey.apiKeys);
}
// Never replaced here: credentials stored under the old one would become unreadable.
if (!present.includes("DWL_ENCRYPTION_KEY")) secrets.DWL_ENCRYPTION_KEY = newEncryptionKey();

// 3. Deploy, with the new secrets in the same upload. A private folder holds the secrets file
//    and wrangler's machine-readable output (where the deployed URLs are), and is removed after.
const work = mkdtempSync(join(tmpdir(), "dwl-deploy-"));
const outputFile = join(work, "wrangler-output.ndjson");
const args = ["deploy"];
if (Object.keys(secrets).length > 0) {
  const file = join(work, "secrets.json");
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  args.push("--secrets-file", file);
  console.log(
    `Setting ${Object.keys(secrets).join(" and ")} with this deploy (generated here, never written to the project)`,
  );
}
let deployed;
let output = "";
try {
  deployed = await wrangler(args, { terminal: true, env: { WRANGLER_OUTPUT_FILE_PATH: outputFile } });
  output = existsSync(outputFile) ? readFileSync(outputFile, "utf8") : "";
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (deployed.code !== 0)
  fail(
    "`wrangler deploy` failed (its output is above); nothing was changed by this script. See docs/deploy.md, Troubleshooting.",
  );

// One JSON object per line; the "deploy" entry lists the URLs it serves (workers.dev, routes).
const targets = output
  .split("\n")
  .flatMap((line) => {
    try {
      const entry = JSON.parse(line);
      return entry?.type === "deploy" && Array.isArray(entry.targets) ? entry.targets.map(String) : [];
    } catch {
      return [];
    }
  })
  .map((t) => (/^https?:\/\//.test(t) ? t : t.endsWith("workers.dev") ? `https://${t}` : t));
const url = targets.find((t) => /^https?:\/\/[^/*]+\/?$/.test(t))?.replace(/\/$/, "");

console.log("");
if (url) {
  console.log(`Loader:       ${url}`);
  console.log(`MCP endpoint: ${url}/mcp   (header Authorization: Bearer <API key>)`);
} else {
  console.log(
    "Deployed, but wrangler printed no workers.dev URL (workers_dev off, or routes only): use your route's URL below.",
  );
}
if (apiKey) {
  console.log(`API key for tenant "${apiKey.tenant}" (shown once: store it now; the Worker keeps only its hash):`);
  console.log(`  ${apiKey.key}`);
  if (values["new-key"] && present.includes("DWL_API_KEYS"))
    console.log("  (DWL_API_KEYS was replaced: keys made before no longer work)");
}

// 4. Smoke check with the new key, or DWL_KEY from the environment.
const key = apiKey?.key ?? process.env.DWL_KEY;
if (values["skip-smoke"] || !url) process.exit(0);
if (!key) {
  console.log(`\nCheck it with your key:  npm run smoke -- ${url} --key <API key>`);
  process.exit(0);
}
console.log(`\nSmoke check (npm run smoke -- ${url} --key …):`);
const client = new DwlClient({ url, key, retries: 3 });
const started = Date.now();
let checks = await smoke(client);
// Only "not reachable yet" is worth waiting for; any other failure is the answer.
while (
  checks.some((c) => !c.ok && /^network|^not_found|^internal \(5\d\d\)/.test(c.detail)) &&
  Date.now() - started < SMOKE_PATIENCE_MS
) {
  console.log(
    `  not answering yet (${checks.find((c) => !c.ok)?.detail.slice(0, 120)}); retrying in ${SMOKE_RETRY_DELAY_MS / 1000} s`,
  );
  await new Promise((r) => setTimeout(r, SMOKE_RETRY_DELAY_MS));
  checks = await smoke(client);
}
for (const c of checks) console.log(`${c.ok ? "✓" : "✗"} ${c.name.padEnd(8)}${c.detail} (${c.ms} ms)`);
if (checks.every((c) => c.ok)) console.log(`✓ ${url} works`);
else fail("the loader is deployed but the smoke check failed (above). See docs/deploy.md, Troubleshooting.");
