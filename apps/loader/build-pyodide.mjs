// Prepares .dwl/pyodide, the Worker's static-assets directory (wrangler.toml [assets], binding
// PYODIDE), from the exact `pyodide` package the loader depends on:
// - the runtime files Python children are built from (python/runtime-files.ts);
// - snapshot.bin.gz, a memory snapshot of a booted interpreter with the runner's preloaded
//   modules imported. A child starts from it several times faster than it boots, and a boot
//   holds the local runtime's one thread (every tenant) for seconds. Made here, in Node, because
//   making it inside the runtime is that very boot.
// Why assets and not modules of the loader: ~20 MB (13 MB gzip) would push the loader past
// Cloudflare's Worker size limit; assets are uploaded beside it and read by the loader.
// Run by scripts/bootstrap.sh and the root postinstall; skipped when its inputs are unchanged.
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

/** The files a Python child needs; everything else in the package (docs, maps, console) is left. */
const PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"];
const SNAPSHOT_FILE = "snapshot.bin.gz";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ASSETS_DIR = join(ROOT, ".dwl", "pyodide");
const RUNNER = fileURLToPath(new URL("./src/python/runner.py", import.meta.url));
const STAMP = join(ROOT, ".dwl", "pyodide.stamp");

function packageDir() {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve("pyodide"));
}

/** Everything the output depends on: the package's files, the runner, this script. */
function inputsHash(dir) {
  const hash = createHash("sha256");
  for (const file of [...PYODIDE_FILES.map((name) => join(dir, name)), RUNNER, fileURLToPath(import.meta.url)])
    hash.update(readFileSync(file));
  return hash.digest("hex");
}

/**
 * Keeps Pyodide from compiling its call-trampoline module, as it cannot in a child (children may
 * not compile wasm at run time; nor could Node 20, whose V8 lacks the GC instructions it uses).
 * Where it compiles (Node >= 22), the interpreter's memory points at a wasm trampoline a child
 * never has, and a snapshot made there fails in the child with "table index is out of bounds".
 * Returns Pyodide's own module.
 */
function refuseTrampolineModule(wasmBytes) {
  const Original = WebAssembly.Module;
  const compiled = new Original(wasmBytes);
  const marker = Buffer.from("trampoline_call");
  function Module(bytes) {
    if (Buffer.from(bytes.buffer ?? bytes, bytes.byteOffset ?? 0, bytes.byteLength).includes(marker)) {
      throw new WebAssembly.CompileError("Wasm code generation disallowed by embedder");
    }
    return new Original(bytes);
  }
  Module.prototype = Original.prototype;
  for (const name of ["customSections", "exports", "imports"]) Module[name] = Original[name];
  WebAssembly.Module = Module;
  return compiled;
}

/** Emscripten's instantiation as in a child (python/pyodide-boot.child.js), heap unbounded. */
function childLikeInstantiate(module) {
  return (imports, receive) => {
    const marker = Symbol("error marker");
    imports.env.Jsv_GetError_import = () => marker;
    imports.env.JsvError_Check = (value) => value === marker;
    receive(new WebAssembly.Instance(module, imports), module);
    return {};
  };
}

async function makeSnapshot(dir) {
  const instantiateWasm = childLikeInstantiate(refuseTrampolineModule(readFileSync(join(dir, "pyodide.asm.wasm"))));
  const { loadPyodide } = await import(pathToFileURL(join(dir, "pyodide.mjs")).href);
  const { default: createPyodideModule } = await import(pathToFileURL(join(dir, "pyodide.asm.mjs")).href);
  const pyodide = await loadPyodide({
    _makeSnapshot: true,
    createPyodideModule: (settings) => createPyodideModule({ ...settings, instantiateWasm }),
  });
  const scope = pyodide.toPy({});
  pyodide.runPython(readFileSync(RUNNER, "utf8"), { globals: scope });
  scope.get("preload")();
  scope.destroy();
  return gzipSync(pyodide.makeMemorySnapshot());
}

export async function buildPyodideAssets() {
  const dir = packageDir();
  const stamp = inputsHash(dir);
  if (existsSync(STAMP) && readFileSync(STAMP, "utf8") === stamp) return;
  mkdirSync(ASSETS_DIR, { recursive: true });
  for (const name of PYODIDE_FILES) copyFileSync(join(dir, name), join(ASSETS_DIR, name));
  const started = Date.now();
  writeFileSync(join(ASSETS_DIR, SNAPSHOT_FILE), await makeSnapshot(dir));
  writeFileSync(STAMP, stamp);
  console.log(`pyodide: runtime files and memory snapshot in ${Date.now() - started} ms → .dwl/pyodide`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPyodideAssets();
