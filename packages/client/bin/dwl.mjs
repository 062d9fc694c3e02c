#!/usr/bin/env node
// The `dwl` CLI from a checkout, on plain Node >= 20: `npx dwl …` (the root package links this as
// its bin) or `npm run dwl -- …`. Builds dist/cli.js first when a source is newer (esbuild, ~0.1 s),
// so no .ts runs and no pnpm is needed. The published package's bin is dist/cli.js itself.

// `npm run` starts scripts in the repository root; the user's relative paths are from the folder
// they ran it in, which npm passes as INIT_CWD.
if (process.env.npm_lifecycle_event === "dwl" && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);

let buildJs;
try {
  ({ buildJs } = await import("../scripts/build.mjs"));
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND") throw err;
  process.stderr.write(
    "error: the workspace is not installed (esbuild is missing)\n  run `npm run dev` or `sh scripts/bootstrap.sh true` once in the repository, then try again\n",
  );
  process.exit(2);
}
await buildJs();
const { runProcess } = await import(new URL("../dist/cli.js", import.meta.url).href);
await runProcess(process.argv.slice(2));
