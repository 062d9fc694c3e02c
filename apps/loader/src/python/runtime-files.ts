/**
 * @module python/runtime-files
 * The Pyodide runtime a Python child is built from: the files of the pinned `pyodide` package and
 * a memory snapshot of a booted interpreter, served to the loader as static assets (binding
 * PYODIDE, apps/loader/build-pyodide.mjs), read once per loader isolate and handed to every
 * Python child as modules. Nothing is fetched from
 * the network and nothing is compiled at run time (children may not compile wasm).
 */
import BOOT_SOURCE from "./pyodide-boot.child.js";
import RUNNER_SOURCE from "./runner.py";

/** Module names the child's program module (python-child.child.js) imports. */
const FILES = {
  "pyodide.mjs": "js",
  "pyodide.asm.mjs": "js",
  "pyodide.asm.wasm": "wasm",
  "python_stdlib.zip": "data",
  "pyodide-lock.json": "json",
} as const;

/**
 * Evaluated before pyodide.mjs (the program module imports it first). workerd gives every
 * isolate a `process` with `versions.node`, so Pyodide would take the child for Node.js and load
 * node:fs, ws and a `require`; without it Pyodide uses its workerd and browser paths.
 */
const PRELUDE = `Object.defineProperty(globalThis, "process", { value: undefined, writable: true, configurable: true });`;

/** A Pyodide memory snapshot (gzip, ~7.8 MB; ~31 MB raw) made by build-pyodide.mjs, and its module name in a child. */
const SNAPSHOT_FILE = "snapshot.bin.gz";
const SNAPSHOT_MODULE = "dwl_snapshot.bin";

let loading: Promise<Record<string, WorkerLoaderModule>> | undefined;

async function readAsset(assets: Fetcher, name: string): Promise<Response> {
  const response = await assets.fetch(new Request(`https://assets.invalid/${name}`));
  if (!response.ok)
    throw new Error(
      `the Pyodide runtime file ${name} is missing from the PYODIDE assets (status ${response.status}): run node apps/loader/build-pyodide.mjs`,
    );
  return response;
}

async function load(assets: Fetcher): Promise<Record<string, WorkerLoaderModule>> {
  const modules: Record<string, WorkerLoaderModule> = {
    "dwl_runner.py": { text: RUNNER_SOURCE },
    "dwl_prelude.js": { js: PRELUDE },
    "dwl_boot.js": { js: BOOT_SOURCE },
  };
  // The memory snapshot children start from (build-pyodide.mjs); without it they boot (slower).
  // Decompressed here, once per loader isolate, not by every child (~0.3-0.7 s each).
  const snapshot = await assets.fetch(new Request(`https://assets.invalid/${SNAPSHOT_FILE}`));
  const raw =
    snapshot.ok && snapshot.body
      ? await new Response(snapshot.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer()
      : new ArrayBuffer(0);
  modules[SNAPSHOT_MODULE] = { data: raw };
  await Promise.all(
    Object.entries(FILES).map(async ([name, kind]) => {
      const response = await readAsset(assets, name);
      if (kind === "js") modules[name] = { js: await response.text() };
      else if (kind === "json") modules[name] = { json: await response.json() };
      else if (kind === "wasm") modules[name] = { wasm: await response.arrayBuffer() };
      else modules[name] = { data: await response.arrayBuffer() };
    }),
  );
  return modules;
}

/** The runtime's modules (~13.5 MB, kept by this loader isolate once read). */
function runtimeModules(assets: Fetcher): Promise<Record<string, WorkerLoaderModule>> {
  loading ??= load(assets);
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** Every module of a Python child besides the harness and its program module. */
export function pythonChildModules(env: Pick<Env, "PYODIDE">): Promise<Record<string, WorkerLoaderModule>> {
  return runtimeModules(env.PYODIDE);
}
