// Copies the Pyodide runtime files Python children are built from (from the exact `pyodide`
// package the loader depends on) into .dwl/pyodide, the Worker's static-assets directory
// (wrangler.toml [assets], binding PYODIDE). Why assets and not modules of the loader: the files
// are 13.5 MB (6.3 MB gzip), which would push the loader past Cloudflare's Worker size limit;
// assets are uploaded beside it and read by the loader when it creates a Python child.
// Run by scripts/bootstrap.sh and the root postinstall; skipped when the copies are current.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The files a Python child needs; everything else in the package (docs, maps, console) is left. */
export const PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"];

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const PYODIDE_ASSETS_DIR = join(ROOT, ".dwl", "pyodide");

export function buildPyodideAssets() {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve("pyodide/package.json"));
  mkdirSync(PYODIDE_ASSETS_DIR, { recursive: true });
  for (const name of PYODIDE_FILES) {
    const from = join(packageDir, name);
    const to = join(PYODIDE_ASSETS_DIR, name);
    if (existsSync(to) && statSync(to).size === statSync(from).size && readFileSync(to).equals(readFileSync(from))) continue;
    copyFileSync(from, to);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildPyodideAssets();
