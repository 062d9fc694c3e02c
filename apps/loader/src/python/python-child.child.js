// The program module (`user.js`) of a Python child: the harness calls its default export like a
// JS program's, `(input, env, python)`, where `python` carries the program's files for this run.
// Pyodide boots once per child, on the first run, from the modules the loader gave the child
// (python/runtime-files.ts): nothing is fetched, nothing is compiled at run time.
import "./dwl_prelude.js";
import { loadPyodide } from "./pyodide.mjs";
import createPyodideModule from "./pyodide.asm.mjs";
import pyodideWasm from "./pyodide.asm.wasm";
import stdlibZip from "./python_stdlib.zip";
import lockFile from "./pyodide-lock.json";
import RUNNER_SOURCE from "./dwl_runner.py";

// Pyodide builds URLs for its files; none of them is fetched from the network (see fetch below).
const BASE = "https://pyodide.dwl.invalid/";
const STDLIB_URL = `${BASE}python_stdlib.zip`;

// Monitored Python events per charge of the harness's fuel batch (4,096 units, 100,000 per ms):
// a Python event (a call or a loop iteration, with the monitoring callback) costs ~0.2 µs here,
// about 20 units (bench: python-meter).
const EVENTS_PER_BATCH = 200;

// pyodide.mjs reads `location` to resolve URLs, even for files it never loads.
globalThis.location ??= new URL(BASE);

// Pyodide fetches its standard library from a URL; it is answered from the child's own module.
const harnessFetch = globalThis.fetch;
globalThis.fetch = function fetch(input, init) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input?.url;
  if (typeof url === "string" && url.startsWith(BASE)) {
    return Promise.resolve(url === STDLIB_URL ? new Response(stdlibZip) : new Response(null, { status: 404 }));
  }
  return harnessFetch.call(this, input, init);
};

// Without it Emscripten listens for `message` events with useCapture=true, which workerd refuses.
globalThis.setImmediate ??= (callback, ...args) => setTimeout(callback, 0, ...args);

/** The bound of the wasm heap (the Python memory of every run of this child); set by the loader. */
let heapLimitBytes = 128 * 1024 * 1024;

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
    if (memory.buffer.byteLength + pages * 65_536 > heapLimitBytes) {
      throw new RangeError(`the Python heap would exceed ${heapLimitBytes} bytes`);
    }
    return grow(pages);
  };
  receive(instance, pyodideWasm);
  return {};
}

let booting;
function boot() {
  booting ??= (async () => {
    const pyodide = await loadPyodide({
      indexURL: BASE,
      packageBaseUrl: BASE,
      stdLibURL: STDLIB_URL,
      lockFileContents: lockFile,
      createPyodideModule: (settings) => createPyodideModule({ ...settings, instantiateWasm }),
      stdout: (line) => console.log(line),
      stderr: (line) => console.error(line),
    });
    pyodide.setStdout({ batched: (line) => console.log(line) });
    pyodide.setStderr({ batched: (line) => console.error(line) });
    const runner = pyodide.runPython(`
import sys, types
_dwl_runner = types.ModuleType("_dwl_runner")
exec(compile(${JSON.stringify(RUNNER_SOURCE)}, "<dwl runner>", "exec"), _dwl_runner.__dict__)
sys.modules["_dwl_runner"] = _dwl_runner
_dwl_runner`);
    runner.setup(EVENTS_PER_BATCH);
    return { pyodide, run: runner.run };
  })();
  booting.catch(() => {
    booting = undefined;
  });
  return booting;
}

/** Values Python hands to a capability, as plain JS (dicts become objects, bytes Uint8Arrays). */
function toJsArgument(pyodide, value) {
  return value instanceof pyodide.ffi.PyProxy ? value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false }) : value;
}

/** Plain data (no functions, streams or class instances) converts to dicts and lists for Python. */
function isPlainData(value, depth = 0) {
  if (value === null || typeof value !== "object") return typeof value !== "function" && typeof value !== "symbol";
  if (depth > 64) return false;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) return value.every((item) => isPlainData(item, depth + 1));
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((item) => isPlainData(item, depth + 1));
}

/** A capability (`env.KV`, `env.FILES`, a tool) whose methods take Python values and give back Python data. */
function forPython(pyodide, capability) {
  return new Proxy(Object.freeze({}), {
    get(_target, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      const member = capability[name];
      if (typeof member !== "function") return member;
      return async (...args) => {
        const value = await member(...args.map((arg) => toJsArgument(pyodide, arg)));
        return isPlainData(value) && value !== null && typeof value === "object" ? pyodide.toPy(value) : value;
      };
    },
  });
}

function pythonEnv(pyodide, env) {
  const wrapped = {};
  for (const [name, value] of Object.entries(env)) {
    wrapped[name] = name === "SECRETS" ? pyodide.toPy({ ...value }) : forPython(pyodide, value);
  }
  return Object.freeze(wrapped);
}

/** A Python SyntaxError: the harness reports it as a `compile` failure with its location. */
const ProgramCompileError = globalThis.__dwlCompileError;

function failureOf(report) {
  if (report.jsError) return report.jsError;
  if (report.kind === "compile") return new ProgramCompileError(report.message, report.location);
  if (report.kind === "cpu_limit") {
    // The harness has already failed the run with its own cpu_limit error; this one only ends it.
    return Object.assign(new Error(report.message), { name: "CpuLimitError" });
  }
  if (report.kind === "memory_limit") return globalThis.__dwlMemoryLimitError(`out of memory: the Python heap reached its bound of ${heapLimitBytes} bytes (${report.name})`);
  const err = new Error(report.message);
  err.name = report.name;
  err.stack = report.stack;
  return err;
}

export default async function runPython(input, env, python) {
  if (python?.heapLimitBytes) heapLimitBytes = python.heapLimitBytes;
  const { pyodide, run } = await boot();
  if (python?.boot) return null;
  const answer = await run(JSON.stringify(python.files), python.entry, JSON.stringify(input ?? null), pythonEnv(pyodide, env), globalThis.__dwlRefuel);
  const report = answer.toJs({ dict_converter: Object.fromEntries });
  answer.destroy();
  if (!report.ok) throw failureOf(report);
  return report.result;
}
