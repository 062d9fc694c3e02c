// The program module (`user.js`) of a Python child: the harness calls its default export like a
// JS program's, `(input, env, python)`, where `python` carries the program's files for this run.
// Pyodide starts once per child, on its first call (python/boot.ts makes that a call of its
// own), from the memory snapshot the loader hands it (uncompressed) when there is one.
import { heapLimit, loadRunner, setHeapLimit, startPyodide } from "./dwl_boot.js";
import RUNNER_SOURCE from "./dwl_runner.py";
import snapshot from "./dwl_snapshot.bin";

const yieldThread = () => new Promise((resolve) => setTimeout(resolve, 0));

// Monitored Python events per charge of the harness's fuel batch (4,096 units, 100,000 per ms):
// a Python event (a call or a loop iteration, with the monitoring callback) costs ~0.2 µs here,
// about 20 units.
const EVENTS_PER_BATCH = 200;

const WARM_UP = `
import json, sys
def f(n):
    return [i * i for i in range(n) if i % 2] + list({i: i for i in range(n)})
try:
    raise ValueError(sum(f(50)))
except ValueError as err:
    print(json.dumps({"v": str(err)}), file=sys.stderr)
async def main(input, env):
    return {"ok": [f(10), (1, 2.5, None, True)]}
`;

/**
 * What Pyodide failed with, once it has failed fatally (a C stack overflow, `os._exit`): it can run
 * nothing more, so every run in progress ends at once, and every later one, with that failure,
 * which also asks the loader to replace this child (python/generations.ts).
 */
let fatal;
/** Ends a run in progress with the fatal failure. */
const endOnFatal = new Set();
let reportingFatal = false;

function fatalFailure(failures) {
  const cause =
    typeof fatal?.status === "number"
      ? "the program ended the Python interpreter (os._exit, or an exit from C code)"
      : `Python's runtime failed fatally (${fatal?.name ?? "Error"}: ${fatal?.message ?? String(fatal)}); the usual cause is a C stack overflow, from recursion deeper than the runtime's stack after sys.setrecursionlimit was raised, or from printing or serialising a deeply nested value`;
  return failures.lost(
    `${cause}. Every Python run in progress in this namespace ended with this error; the next one starts a new Python runtime`,
  );
}

let booting;
/** `failures`: the harness's failure types (every call hands over the same ones). */
function boot(failures) {
  booting ??= (async () => {
    // Each step yields to the event loop before the next: locally every isolate shares one
    // thread, and other tenants' requests get it between the steps of a start.
    const pyodide = await startPyodide({ snapshot: snapshot.byteLength > 0 ? new Uint8Array(snapshot) : undefined });
    const api = pyodide._api;
    api.on_fatal = (error) => {
      fatal = error ?? new Error("unknown");
      // Told to the harness now, not only to the runs in progress: the run that caused it may
      // have been answered already (a limit it reached on the way), and is answered with this
      // instead, so that the loader replaces the child before giving it another run.
      if (failures) fatalFailure(failures);
      for (const end of endOnFatal) end();
      endOnFatal.clear();
    };
    // Pyodide's own report of a fatal failure (its console lines and a dump of the C-level Python
    // stack, ~100 lines naming the runtime's internal paths) says nothing the run's error does
    // not: the run's logs do not get it.
    const reportFatal = api.fatal_error;
    api.fatal_error = function (...args) {
      const { error } = console;
      reportingFatal = true;
      console.error = () => {};
      try {
        return reportFatal.apply(this, args);
      } finally {
        console.error = error;
        reportingFatal = false;
      }
    };
    await yieldThread();
    pyodide.setStdout({ batched: (line) => reportingFatal || console.log(line) });
    pyodide.setStderr({ batched: (line) => reportingFatal || console.error(line) });
    const runner = loadRunner(pyodide, RUNNER_SOURCE);
    runner.preload();
    runner.setup(EVENTS_PER_BATCH);
    await yieldThread();
    // One program through every common path (calls, loops, comprehensions, exceptions, output,
    // JSON) before the first real run, which would otherwise pay for compiling them (~100 ms). Its
    // output goes to the boot call's logs, which nobody reads.
    await runner.run(JSON.stringify({ "main.py": WARM_UP }), "main.py", "null", {}, () => {});
    return { pyodide, run: runner.run, check: runner.check, jsData: runner.js_data, pyData: runner.py_data };
  })();
  booting.catch(() => {
    booting = undefined;
  });
  return booting;
}

/**
 * Values Python hands to a capability, as plain JS (dicts become objects, bytes Uint8Arrays; a
 * None inside them null, as JSON has it: toJs alone would make it undefined and drop its key).
 */
function toJsArgument(python, value) {
  if (!(value instanceof python.pyodide.ffi.PyProxy)) return value;
  const data = python.jsData(value);
  try {
    return data.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
  } finally {
    if (data !== value) data.destroy?.();
  }
}

const NOT_PLAIN = Symbol("not plain data");
const LEFT_OUT = Symbol("left out");

/**
 * `value` as plain data for Python (dicts and lists): methods left out (a FILES.head() answer's
 * writeHttpMetadata), dates as ISO strings, null as undefined (toPy makes null `jsnull`, which is
 * not None); NOT_PLAIN when it holds anything else (a FILES.get() answer's stream), which Python
 * then reaches as the JS object it is.
 */
function plainCopy(value, depth = 0) {
  if (typeof value === "function" || typeof value === "symbol") return LEFT_OUT;
  if (value === null) return undefined;
  if (typeof value !== "object") return value;
  if (depth > 64) return NOT_PLAIN;
  if (value instanceof Date) return value.toISOString();
  const items = Array.isArray(value) ? value : undefined;
  const proto = Object.getPrototypeOf(value);
  if (!items && proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const copy = items ? [] : {};
  for (const [key, item] of Object.entries(value)) {
    const plain = plainCopy(item, depth + 1);
    if (plain === NOT_PLAIN) return NOT_PLAIN;
    if (plain === LEFT_OUT) continue;
    if (items) copy.push(plain);
    else copy[key] = plain;
  }
  return copy;
}

/** A capability (`env.KV`, `env.FILES`, a tool) whose methods take Python values and give back Python data. */
function forPython(python, capability) {
  return new Proxy(Object.freeze({}), {
    get(_target, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      const member = capability[name];
      if (typeof member !== "function") return member;
      return async (...args) => {
        const value = await member(...args.map((arg) => toJsArgument(python, arg)));
        if (value === null) return undefined;
        const plain = typeof value === "object" ? plainCopy(value) : NOT_PLAIN;
        if (plain === NOT_PLAIN) return value;
        const converted = python.pyodide.toPy(plain);
        try {
          return python.pyData(converted);
        } finally {
          converted.destroy?.();
        }
      };
    },
  });
}

function pythonEnv(python, env) {
  const wrapped = {};
  for (const [name, value] of Object.entries(env)) {
    wrapped[name] = name === "SECRETS" ? python.pyodide.toPy({ ...value }) : forPython(python, value);
  }
  return Object.freeze(wrapped);
}

/** The error to end the run with, made with the harness's own failure types (`failures`). */
function failureOf(report, failures) {
  if (report.jsError) {
    // Classified by the harness as it is (egress_denied), with the Python traceback as its stack.
    report.jsError.stack = report.stack;
    return report.jsError;
  }
  if (report.kind === "compile") return failures.compile(report.message, report.location, report.name);
  if (report.kind === "cpu_limit") {
    // The harness has already failed the run with its own cpu_limit error; this one only ends it.
    return Object.assign(new Error(report.message), { name: "CpuLimitError" });
  }
  if (report.kind === "memory_limit")
    return failures.memoryLimit(
      `out of memory: the Python heap reached its bound of ${heapLimit()} bytes (${report.name})`,
    );
  const err = new Error(report.message);
  err.name = report.name;
  err.stack = report.stack;
  return err;
}

/**
 * Runs take the interpreter one at a time. It has one working directory, one `sys.path` and one
 * `sys.modules` (where every run's files are the package `dwl_program`): two runs of this
 * namespace interleaved at their awaits read each other's files and modules, and the first to
 * end deleted the other's directory, failing a run that had finished (FileNotFoundError) and
 * leaving the interpreter with a working directory that no longer existed. `holder` has the
 * interpreter; `waiting` are those after it, in order (each `{ deadlineAt, poke }`).
 */
let holder;
const waiting = [];

/**
 * Waits for this run's turn: first in line, and the interpreter free. A holder past its deadline
 * holds it no longer (answered as a timeout, it may await forever), and a waiter past its own is
 * skipped (answered as a timeout, it will never take its turn): either would otherwise hold the
 * rest for good, and a run behind an expired waiter ran beside the holder. Every wait is on this
 * run's own timer or poke: workerd cancels a run's timers once it is answered. Resolves with the
 * function that ends this run's turn, or undefined when its own deadline passed first.
 */
async function takeTurn(timeoutMs) {
  const me = { deadlineAt: Date.now() + timeoutMs, poke: undefined };
  waiting.push(me);
  for (;;) {
    const now = Date.now();
    if (me.deadlineAt <= now) {
      // Another waiter may have skipped it already (splice(-1) would drop the last one instead).
      const at = waiting.indexOf(me);
      if (at !== -1) waiting.splice(at, 1);
      return undefined;
    }
    if (holder && holder.deadlineAt <= now) holder = undefined;
    while (waiting[0] !== me && waiting[0].deadlineAt <= now) waiting.shift();
    if (!holder && waiting[0] === me) {
      waiting.shift();
      holder = me;
      // The others wait on timers set for the previous holder's deadline: they set new ones for
      // this one's (left alone, they slept on while this holder expired: 20 s stalls).
      for (const other of waiting) other.poke?.();
      return () => {
        if (holder !== me) return;
        holder = undefined;
        const next = waiting.find((w) => w.deadlineAt > Date.now());
        next?.poke?.();
      };
    }
    await new Promise((resolve) => {
      me.poke = resolve;
      setTimeout(resolve, Math.max(1, Math.min(me.deadlineAt, holder ? holder.deadlineAt : now + 50) - now));
    });
  }
}

export default async function runPython(input, env, python) {
  if (python?.heapLimitBytes) setHeapLimit(python.heapLimitBytes);
  if (fatal) throw fatalFailure(python.failures);
  const booted = await boot(python?.failures);
  const { run } = booted;
  if (python?.boot) return null;
  if (python?.check) {
    // Compiling runs no Python of the program's and takes no turn: one synchronous call.
    const answer = booted.check(JSON.stringify(python.files), python.entry);
    const report = answer.toJs({ dict_converter: Object.fromEntries });
    answer.destroy();
    if (!report.ok) throw failureOf(report, python.failures);
    return null;
  }
  const endTurn = await takeTurn(python.timeoutMs);
  // Its deadline passed while it waited: it has been answered as a timeout, and runs nothing.
  if (endTurn === undefined) throw new Error("the run's timeoutMs passed while it waited for its turn");
  // A run answered early (cpu_limit, a timeout) gives up the interpreter then: its Python may
  // never resume (workerd cancels an answered run's timers), and held until its deadline it
  // kept the next runs waiting past theirs (3 of 16 runs timed out beside a computing tenant).
  python.ended?.then(endTurn, endTurn);
  try {
    return await runInTurn(input, env, python, booted, run);
  } finally {
    endTurn();
  }
}

async function runInTurn(input, env, python, booted, run) {
  if (fatal) throw fatalFailure(python.failures);
  const answer = await new Promise((resolve, reject) => {
    const end = () => reject(fatalFailure(python.failures));
    endOnFatal.add(end);
    run(
      JSON.stringify(python.files),
      python.entry,
      JSON.stringify(input ?? null),
      pythonEnv(booted, env),
      globalThis.__dwlRefuel,
    )
      .then(resolve, (error) => reject(fatal ? fatalFailure(python.failures) : error))
      .finally(() => endOnFatal.delete(end));
  });
  const report = answer.toJs({ dict_converter: Object.fromEntries });
  answer.destroy();
  if (!report.ok) throw failureOf(report, python.failures);
  return report.result;
}
