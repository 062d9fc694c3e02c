// Serves the loader locally with `wrangler dev` (started by `npm run dev` after the bootstrap).
// Local KV/R2 state persists under .wrangler/state (DWL_STATE_DIR overrides; PORT sets the port). V8 flags make catastrophic regular
// expressions fall back to a linear-time engine instead of freezing the runtime (facts.md).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const port = process.env.PORT ?? "8787";
const stateDir = process.env.DWL_STATE_DIR ?? ".wrangler/state";
const v8Flags = ["--enable-experimental-regexp-engine-on-excessive-backtracks", "--regexp-backtracks-before-fallback=10000"];

const child = spawn(
  process.execPath,
  [`${root}node_modules/wrangler/bin/wrangler.js`, "dev", "--ip", "127.0.0.1", "--port", port, "--persist-to", stateDir, ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, MINIFLARE_WORKERD_V8_FLAGS: [process.env.MINIFLARE_WORKERD_V8_FLAGS ?? "", ...v8Flags].join(" ").trim() },
  },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
