/**
 * Runs the package.json scripts named on the command line at once (`pnpm run <name>` each), for
 * `npm test`'s checks before vitest: type checks, lint and the deploy dry run are independent,
 * and one after the other they left a core idle for ~45 s. Each script's output is printed whole
 * when it ends, so the log reads as if they had run in turn; the exit code is 1 when any failed.
 *
 *   node scripts/run-scripts.mjs typecheck lint deploy:dry-run
 */
import { spawn } from "node:child_process";

/** @param {string} name */
function run(name) {
  return new Promise((resolve) => {
    const child = spawn("pnpm", ["run", name], { stdio: ["ignore", "pipe", "pipe"] });
    /** @type {Buffer[]} */
    const output = [];
    child.stdout.on("data", (chunk) => output.push(chunk));
    child.stderr.on("data", (chunk) => output.push(chunk));
    child.on("error", (err) => resolve({ name, ok: false, output: Buffer.from(`${err}\n`) }));
    child.on("close", (code) => resolve({ name, ok: code === 0, output: Buffer.concat(output) }));
  });
}

const names = process.argv.slice(2);
const runs = names.map(run);
const failed = [];
for (const pending of runs) {
  const { name, ok, output } = await pending;
  process.stdout.write(output);
  if (!ok) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
