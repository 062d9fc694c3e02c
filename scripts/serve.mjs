// `npm run dev` after the bootstrap: the supervised loader (apps/supervisor/src/main.ts, run by
// Node's built-in TypeScript type stripping). See that file for the configuration variables.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../apps/supervisor/src/main.ts", import.meta.url));
const child = spawn(process.execPath, [main, ...process.argv.slice(2)], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
