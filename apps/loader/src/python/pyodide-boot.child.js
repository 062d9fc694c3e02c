// Starts Pyodide inside a Python child (its module `dwl_boot.js`), from the modules the loader gave the child (python/runtime-files.ts): nothing is
// fetched from the network and nothing is compiled at run time, which children may not do.
import "./dwl_prelude.js";
import { loadPyodide } from "./pyodide.mjs";
import createPyodideModule from "./pyodide.asm.mjs";
import pyodideWasm from "./pyodide.asm.wasm";
import stdlibZip from "./python_stdlib.zip";
import lockFile from "./pyodide-lock.json";

// Pyodide builds URLs for its files; none of them is fetched from the network (see fetch below).
const BASE = "https://pyodide.dwl.invalid/";
const STDLIB_URL = `${BASE}python_stdlib.zip`;

// pyodide.mjs reads `location` to resolve URLs, even for files it never loads.
globalThis.location ??= new URL(BASE);

// Pyodide fetches its standard library from a URL; it is answered from the child's own module.
const outerFetch = globalThis.fetch;
globalThis.fetch = function fetch(input, init) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input?.url;
  if (typeof url === "string" && url.startsWith(BASE)) {
    return Promise.resolve(url === STDLIB_URL ? new Response(stdlibZip) : new Response(null, { status: 404 }));
  }
  return outerFetch.call(this, input, init);
};

// Without it Emscripten listens for `message` events with useCapture=true, which workerd refuses.
globalThis.setImmediate ??= (callback, ...args) => setTimeout(callback, 0, ...args);

/** The bound of the wasm heap (the Python memory of every run of this child); set by the loader. */
let heapLimitBytes = 128 * 1024 * 1024;
export function setHeapLimit(bytes) {
  heapLimitBytes = bytes;
}
export function heapLimit() {
  return heapLimitBytes;
}

/** Emscripten's wasm instantiation, on the precompiled module and with the heap bounded. */
function instantiateWasm(imports, receive) {
  // pyodide compiles two tiny helpers at run time, which children may not do; these are its own
  // JS fallbacks for them.
  const marker = Symbol("error marker");
  imports.env.Jsv_GetError_import = () => marker;
  imports.env.JsvError_Check = (value) => value === marker;
  const instance = new WebAssembly.Instance(pyodideWasm, imports);
  const memory = instance.exports.memory;
  const grow = memory.grow.bind(memory);
  memory.grow = (pages) => {
    if (memory.buffer.byteLength + pages * 65_536 > heapLimitBytes)
      throw new RangeError(`the Python heap would exceed ${heapLimitBytes} bytes`);
    return grow(pages);
  };
  receive(instance, pyodideWasm);
  return {};
}

/** A started Pyodide: from a memory snapshot when one is given (several times faster), or booted. */
export async function startPyodide({ snapshot } = {}) {
  return loadPyodide({
    indexURL: BASE,
    packageBaseUrl: BASE,
    stdLibURL: STDLIB_URL,
    lockFileContents: lockFile,
    createPyodideModule: (settings) => createPyodideModule({ ...settings, instantiateWasm }),
    ...(snapshot ? { _loadSnapshot: snapshot } : {}),
  });
}

/**
 * The Python runner (runner.py) as a module object held only by the caller: not in sys.modules
 * and not in __main__, where `import` or a global would hand a program its CPU meter.
 */
export function loadRunner(pyodide, source) {
  const scope = pyodide.toPy({});
  try {
    return pyodide.runPython(
      `import types\nrunner = types.ModuleType("dwl_runner")\nexec(compile(${JSON.stringify(source)}, "<dwl runner>", "exec"), runner.__dict__)\nrunner`,
      { globals: scope },
    );
  } finally {
    scope.destroy();
  }
}
