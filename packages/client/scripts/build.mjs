// Builds dist/: the publishable @dwl/client package (`npm pack ./packages/client/dist`).
//
//   dist/index.js      the SDK, ESM, platform neutral (Node >= 20, browsers, Workers)
//   dist/ai.js         `@dwl/client/ai`: Code Mode for the Vercel AI SDK (`ai`, an optional peer)
//   dist/cli.js        the `dwl` bin, ESM for Node >= 20
//   dist/types/        declarations (tsc, tsconfig.build.json), @dwl/protocol's included
//   dist/package.json  exports map, bin, zod as the one dependency, `ai` an optional peer; README.md
//                      and LICENSE
//
// @dwl/protocol is bundled into the JS and its declarations shipped beside the SDK's: it is a
// workspace-only package of .ts sources and is not published. `--js` builds only the three JS files,
// and only when a source is newer (~0.1 s): what the repository's launcher (bin/dwl.mjs) needs.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const repo = join(root, "../..");
const out = join(root, "dist");
const SOURCE_DIRS = [join(root, "src"), join(repo, "packages/protocol/src")];

/** Newest modification time (ms) of the files under `dirs`, or 0. */
async function newest(dirs) {
  let max = 0;
  for (const dir of dirs) {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) max = Math.max(max, (await stat(join(entry.parentPath ?? entry.path, entry.name))).mtimeMs);
    }
  }
  return max;
}

/**
 * Bundles `entry` to `<outDir>/<name>` through a temporary file and a rename: concurrent launchers
 * (parallel tests, two terminals) never import a half-written file.
 */
async function bundle(entry, name, platform, outDir, plugins = []) {
  const result = await build({
    plugins,
    entryPoints: [join(root, entry)],
    bundle: true,
    format: "esm",
    platform,
    target: platform === "node" ? "node20" : "es2022",
    // ai.js imports the user's own `ai`; it is never bundled.
    external: ["zod", "ai"],
    write: false,
    logLevel: "warning",
    absWorkingDir: root,
  });
  const [file] = result.outputFiles;
  const tmp = join(outDir, `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, file.contents);
  await rename(tmp, join(outDir, name));
}

/** ai.js imports the SDK from dist/index.js, so both share one `DwlRequestError` class. */
const sdkEntryExternal = {
  name: "sdk-entry-external",
  setup(b) {
    b.onResolve({ filter: /^\.\/index\.ts$/ }, () => ({ path: "./index.js", external: true }));
  },
};

/**
 * Builds dist/index.js, dist/ai.js and dist/cli.js when missing or older than a source file;
 * `outDir` builds them elsewhere (inside this package, where they resolve its zod).
 */
export async function buildJs({ force = false, outDir: requested = out } = {}) {
  const outDir = resolve(root, requested);
  const target = join(outDir, "cli.js");
  if (!force) {
    const built = await stat(target).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    if (built > (await newest(SOURCE_DIRS))) return false;
  }
  await mkdir(outDir, { recursive: true });
  // The SDK uses no Node APIs, so it bundles for browsers and Workers too.
  await bundle("src/index.ts", "index.js", "neutral", outDir);
  await bundle("src/ai.ts", "ai.js", "neutral", outDir, [sdkEntryExternal]);
  await bundle("src/cli.ts", "cli.js", "node", outDir);
  return true;
}

/** Emits declarations and points their `.ts` and `@dwl/protocol` specifiers at the shipped files. */
async function buildTypes() {
  const tsc = createRequire(join(repo, "package.json")).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
  const types = join(out, "types");
  const protocolIndex = join(types, "protocol/src/index.js");
  for (const entry of await readdir(types, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".d.ts")) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    let toProtocol = relative(dirname(path), protocolIndex);
    if (!toProtocol.startsWith(".")) toProtocol = `./${toProtocol}`;
    const text = (await readFile(path, "utf8"))
      .replace(/(from\s+|import\()"(\.{1,2}\/[^"]+)\.ts"/g, '$1"$2.js"')
      .replace(/(from\s+|import\()"@dwl\/protocol"/g, `$1"${toProtocol}"`);
    await writeFile(path, text);
  }
}

/** The whole package. */
export async function buildPackage() {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
  await rm(out, { recursive: true, force: true });
  await buildJs({ force: true });
  await buildTypes();
  const manifest = {
    name: pkg.name,
    version: pkg.version,
    description: pkg.description,
    license: pkg.license,
    type: "module",
    main: "./index.js",
    types: "./types/client/src/index.d.ts",
    exports: {
      ".": { types: "./types/client/src/index.d.ts", import: "./index.js", default: "./index.js" },
      "./ai": { types: "./types/client/src/ai.d.ts", import: "./ai.js", default: "./ai.js" },
      "./package.json": "./package.json",
    },
    bin: { dwl: "./cli.js" },
    files: ["index.js", "ai.js", "cli.js", "types", "README.md", "LICENSE"],
    engines: pkg.engines,
    dependencies: pkg.dependencies,
    peerDependencies: pkg.peerDependencies,
    peerDependenciesMeta: pkg.peerDependenciesMeta,
  };
  await writeFile(join(out, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await copyFile(join(root, "README.md"), join(out, "README.md"));
  await copyFile(join(repo, "LICENSE"), join(out, "LICENSE"));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  if (process.argv.includes("--js")) await buildJs();
  else {
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
    await buildPackage();
    // Under `npm run`, INIT_CWD is the user's folder (the script runs in packages/client).
    const shown = relative(process.env.INIT_CWD ?? process.cwd(), out) || ".";
    console.log(
      `built ${out} (${pkg.name}@${pkg.version}) in ${Math.round(performance.now() - started)} ms; pack it with \`npm pack ${shown.startsWith(".") ? shown : `./${shown}`}\``,
    );
  }
}
