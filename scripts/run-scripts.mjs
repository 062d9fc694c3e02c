/**
 * Runs the package.json scripts named on the command line at once (`pnpm run <name>` each), for
 * `npm test`: the checks (type checks, lint, the deploy dry run) and the two halves of the test
 * suite are independent, and most of the suite's time is spent waiting on runtimes and child
 * processes, so one after the other they left a core idle for minutes. Each script's output is
 * printed whole as soon as it ends, so the log reads as if they had run in turn; the exit code
 * is 1 when any failed.
 *
 *   node scripts/run-scripts.mjs typecheck lint deploy:dry-run test:rest test:own-servers
 */
import { spawn } from "node:child_process";

/** @param {string} name @returns {Promise<{ name: string, ok: boolean, output: Buffer, ms: number }>} */
function run(name) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("pnpm", ["run", name], { stdio: ["ignore", "pipe", "pipe"] });
    /** @type {Buffer[]} */
    const output = [];
    child.stdout.on("data", (chunk) => output.push(chunk));
    child.stderr.on("data", (chunk) => output.push(chunk));
    const done = (ok, extra = "") =>
      resolve({ name, ok, output: Buffer.concat([...output, Buffer.from(extra)]), ms: Date.now() - started });
    child.on("error", (err) => done(false, `${err}\n`));
    child.on("close", (code) => done(code === 0));
  });
}

const names = process.argv.slice(2);
const pending = new Map(names.map((name) => [name, run(name)]));
const failed = [];
while (pending.size > 0) {
  const { name, ok, output, ms } = await Promise.race(pending.values());
  pending.delete(name);
  process.stdout.write(output);
  const still = pending.size > 0 ? `; still running: ${[...pending.keys()].join(", ")}` : "";
  console.log(`\n[${name} ${ok ? "passed" : "FAILED"} in ${(ms / 1000).toFixed(1)} s${still}]\n`);
  if (!ok) failed.push(name);
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
