// Builds dist/: a self-contained, installable @dwl/client (JavaScript for Node >= 20, browsers and
// Workers). @dwl/protocol is bundled in (it is not published); zod stays a dependency. In the
// repo the sources run directly (`pnpm dwl`); dist/ is for `npm install -g packages/client/dist`
// or `npm pack packages/client/dist`. Typings are not emitted yet (they would need @dwl/protocol's).
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";

const root = new URL("../", import.meta.url);
const out = new URL("dist/", root);
const pkg = JSON.parse(await readFile(new URL("package.json", root), "utf8"));

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const common = { bundle: true, format: "esm", external: ["zod"], logLevel: "warning", absWorkingDir: new URL(".", root).pathname };
// The SDK: no Node APIs (platform neutral), so it bundles for browsers and Workers too.
await build({ ...common, entryPoints: ["src/index.ts"], outfile: "dist/index.js", platform: "neutral", target: "es2022" });
await build({ ...common, entryPoints: ["src/cli.ts"], outfile: "dist/cli.js", platform: "node", target: "node20" });

const manifest = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  type: "module",
  main: "./index.js",
  exports: { ".": "./index.js" },
  bin: { dwl: "./cli.js" },
  engines: pkg.engines,
  dependencies: pkg.dependencies,
};
await writeFile(new URL("package.json", out), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`built ${out.pathname} (${pkg.name}@${pkg.version})`);
