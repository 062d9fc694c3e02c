// The main module of every child isolate. It is evaluated before the user's program (which it
// imports lazily, inside a run), so it captures the intrinsics it relies on before user code
// can replace them. One isolate may serve several runs at once (a warm, content-addressed
// isolate): everything per run lives in an AsyncLocalStorage store, never in module state.
// Loaded as text by the loader (wrangler.toml rule "Text" for *.child.js); plain JS on purpose.
import { WorkerEntrypoint } from "cloudflare:workers";
import { AsyncLocalStorage } from "node:async_hooks";

const runs = new AsyncLocalStorage();
// Bound now: a program may replace AsyncLocalStorage.prototype.getStore (a native no-op would
// otherwise switch off metering, subrequest counting and log capture for its runs).
const currentRun = AsyncLocalStorage.prototype.getStore.bind(runs);
const runWith = AsyncLocalStorage.prototype.run.bind(runs);
const stringify = JSON.stringify;
const mathRound = Math.round;
const mathMax = Math.max;
const mathCeil = Math.ceil;
const arraySlice = Function.prototype.call.bind(Array.prototype.slice);
const arrayPush = Function.prototype.call.bind(Array.prototype.push);
const roundMs = (ms) => mathRound(ms * 100) / 100;
const stringIncludes = Function.prototype.call.bind(String.prototype.includes);
const stringSlice = Function.prototype.call.bind(String.prototype.slice);
const objectIs = Object.is;
const toText = String;

/**
 * node:util, loaded on first need. Importing it statically made every new isolate build it:
 * ~1.5 ms of a cold run's ~8 ms (measured with perf on workerd), for a module most runs never
 * use; so does touching `process` early. The price: a program that breaks built-ins (say
 * `Array.prototype.map = null`) before its first object log breaks node:util's initialisation,
 * and its logs fall back to JSON (plainFormat). It only changes how that program's own logs
 * read: the text is still coerced, cut and counted.
 */
let utilFormat; // undefined: not loaded yet; null: loading failed
function nodeFormat(...args) {
  if (utilFormat === undefined) {
    try {
      utilFormat = globalThis.process.getBuiltinModule("node:util").format;
    } catch {
      utilFormat = null;
    }
  }
  if (utilFormat) {
    try {
      return toText(utilFormat(...args));
    } catch {
      // built-ins broken after loading: fall through
    }
  }
  return plainFormat(args);
}

/** Without node:util: primitives as util.format prints them, objects as JSON. */
function plainFormat(args) {
  let text = "";
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    const part =
      value !== null && typeof value === "object"
        ? (stringify(value) ?? toText(value))
        : typeof value === "function"
          ? "[Function]"
          : primitiveText(value);
    text += i === 0 ? part : ` ${part}`;
  }
  return text;
}

/** util.format's text of a primitive (strings raw, -0 and BigInt as Node prints them). */
function primitiveText(value) {
  if (typeof value === "string") return value;
  if (typeof value === "bigint") return `${toText(value)}n`;
  if (typeof value === "number" && objectIs(value, -0)) return "-0";
  return toText(value);
}

/**
 * Console arguments as Node's util.format renders them. Primitives without format specifiers
 * (most log lines) are joined here; objects and `%` specifiers go to node:util itself.
 */
function formatLog(args) {
  if (typeof args[0] === "string" && stringIncludes(args[0], "%")) return nodeFormat(...args);
  let text = "";
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (value !== null && (typeof value === "object" || typeof value === "function")) return nodeFormat(...args);
    text += i === 0 ? primitiveText(value) : ` ${primitiveText(value)}`;
  }
  return text;
}

/**
 * Only the loader may start a run: it bakes this per-isolate key into the module text (see
 * sandbox/load.ts) and sends it with every call. A program can reach the Run entrypoint (through
 * cloudflare:workers exports or by importing this module) but cannot name the key: it appears in
 * no function's source text.
 */
const CALLER_KEY = "__DWL_CALLER_KEY__";
const now = performance.now.bind(performance);
const originalFetch = globalThis.fetch.bind(globalThis);
const startTimer = setTimeout;
const stopTimer = clearTimeout;
const encoder = new TextEncoder();
const LOG_LEVELS = ["log", "info", "warn", "error", "debug"];

/** A failure that ends the run with this `type`, whatever the program does afterwards. */
class LimitError extends Error {
  constructor(type, name, message) {
    super(message);
    this.name = name;
    this.type = type;
  }
}

/** Records the first limit a run hit and ends it now, even if the program swallows the error. */
function failRun(run, err) {
  run.failure ??= err;
  run.ended?.({ kind: "failed" });
}

function byteLength(text) {
  // Cheap bound first: UTF-16 length * 3 is an upper bound of the UTF-8 length.
  return text.length * 3 <= 1024 ? text.length * 3 : encoder.encode(text).length;
}

class LogBuffer {
  constructor(maxLines, maxBytes, started) {
    this.entries = [];
    this.bytes = 0;
    this.dropped = 0;
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
    this.started = started;
  }

  add(level, args) {
    if (this.dropped > 0) return void this.dropped++;
    let message;
    try {
      message = formatLog(args);
    } catch (err) {
      message = `[unprintable log arguments: ${err?.message ?? err}]`;
    }
    const room = this.maxBytes - this.bytes;
    const size = byteLength(message);
    if (this.entries.length >= this.maxLines || room <= 0) return void this.dropped++;
    if (size > room) {
      // One huge line is cut rather than dropped: its start is usually what matters.
      message = `${message.slice(0, mathMax(0, room - 64))}… [line cut at ${room} bytes]`;
    }
    this.bytes += size < room ? size : room;
    arrayPush(this.entries, { level, message, time: this.elapsed() });
  }

  /**
   * ms since the run began. While workerd evaluates the program's module (its top-level code,
   * on the first run of an isolate) the clock reads 0 as in any global scope, so such lines
   * would be stamped -<epoch ms>: they get 0, which is when they ran.
   */
  elapsed() {
    return roundMs(mathMax(0, now() - this.started));
  }

  toJSON() {
    const entries = arraySlice(this.entries);
    if (this.dropped > 0) {
      entries.push({
        level: "warn",
        message: `[dwl] logs truncated: ${this.dropped} more line(s) dropped (limits: ${this.maxLines} lines, ${this.maxBytes} bytes)`,
        time: this.elapsed(),
      });
    }
    return { logs: entries, truncated: this.dropped > 0 || this.entries.some((e) => e.message.endsWith(" bytes]")) };
  }
}

/**
 * Metered code (bundle/rewrite.ts) counts down a local counter and calls this every FUEL_BATCH
 * checks. Two budgets, whichever runs out first:
 * - fuel: checks executed, converted from cpuMs by FUEL_PER_CPU_MS (deterministic; works where
 *   the clock is frozen during execution, as on Cloudflare);
 * - the clock, where it advances during execution (local workerd): the time of each continuous
 *   slice of work (openSlice). A slice starts at the first check after the program waited, or
 *   when a wait the harness mediates ends, and ends when the program starts such a wait or a
 *   macrotask gets to run, so microtask storms, costly operations per check (a stack overflow
 *   caught and retried) and native calls are charged at their real cost, and I/O waits are not.
 * Once either is spent every later check of that run throws again at once, so catching the
 * error (try/catch, finally, a loop in the catch) cannot buy more time.
 */
const FUEL_BATCH = 4_096;
function refuel() {
  const run = currentRun() ?? orphanRun();
  if (run.fuel === null) return FUEL_BATCH;
  if (run.cpuError) throw run.cpuError;
  run.fuelUsed += FUEL_BATCH;
  if (run.fuelUsed > run.fuel || clockCpuMs(run) > run.limits.cpuMs) {
    run.cpuError = new LimitError(
      "cpu_limit",
      "CpuLimitError",
      `CPU limit reached: the program used more than ${run.limits.cpuMs} ms of CPU (limits.cpuMs)`,
    );
    failRun(run, run.cpuError);
    throw run.cpuError;
  }
  return FUEL_BATCH;
}

/**
 * The run that pays for metered code running outside any run's async context ("orphan" code):
 * callbacks the runtime calls from nowhere, such as a FinalizationRegistry cleanup, a WebSocket
 * or WebSocketPair `message` listener, or whatever such code schedules in turn. Handing those a
 * free batch ran them unmetered, and locally a loop there held the whole runtime (every tenant).
 * They are charged to the run that started last in this isolate: still in flight, it ends with
 * cpu_limit; already settled, its unused budget is all the orphan code gets (the same rule as a
 * timer it left behind), and once that is spent every later check throws again at once. Before
 * any run there is no budget at all (program code only loads inside a run, so none should run).
 */
let lastRun;
let noRunError;
function orphanRun() {
  if (lastRun !== undefined) return lastRun;
  noRunError ??= new LimitError("cpu_limit", "CpuLimitError", "CPU limit reached: program code ran outside any run");
  throw noRunError;
}

/**
 * Callbacks the runtime calls without any run's context are charged (see orphanRun) to the run
 * that registered them, when it can be known: a FinalizationRegistry's cleanup and an event
 * listener (WebSocket and WebSocketPair messages, EventSource, AbortSignal…). Called from inside
 * a run, they keep that run's context as before. Code that gets around these wrappers still pays
 * through orphanRun(); they only pick the fairer payer.
 */
const reflectApply = Reflect.apply;
const inRunOf = (registrant, fn, self, args) => {
  const run = currentRun() ?? registrant;
  return run === undefined ? reflectApply(fn, self, args) : runWith(run, reflectApply, fn, self, args);
};
const OriginalRegistry = globalThis.FinalizationRegistry;
if (typeof OriginalRegistry === "function") {
  const FinalizationRegistry = function FinalizationRegistry(cleanup) {
    if (new.target === undefined) throw new TypeError("Constructor FinalizationRegistry requires 'new'");
    const registrant = currentRun();
    const wrapped = typeof cleanup === "function" ? (held) => inRunOf(registrant, cleanup, undefined, [held]) : cleanup;
    return Reflect.construct(
      OriginalRegistry,
      [wrapped],
      new.target === FinalizationRegistry ? OriginalRegistry : new.target,
    );
  };
  FinalizationRegistry.prototype = OriginalRegistry.prototype;
  Object.defineProperty(OriginalRegistry.prototype, "constructor", {
    value: FinalizationRegistry,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  globalThis.FinalizationRegistry = FinalizationRegistry;
}
if (typeof EventTarget === "function") {
  const add = EventTarget.prototype.addEventListener;
  const remove = EventTarget.prototype.removeEventListener;
  const wrappers = new WeakMap();
  const weakGet = Function.prototype.call.bind(WeakMap.prototype.get);
  const weakSet = Function.prototype.call.bind(WeakMap.prototype.set);
  const wrapperOf = (listener) => {
    if (listener === null || (typeof listener !== "function" && typeof listener !== "object")) return listener;
    let wrapper = weakGet(wrappers, listener);
    if (wrapper === undefined) {
      const registrant = currentRun();
      wrapper = function (event) {
        return typeof listener === "function"
          ? inRunOf(registrant, listener, this, [event])
          : inRunOf(registrant, listener.handleEvent, listener, [event]);
      };
      weakSet(wrappers, listener, wrapper);
    }
    return wrapper;
  };
  EventTarget.prototype.addEventListener = function addEventListener(type, listener, options) {
    return reflectApply(add, this, [type, wrapperOf(listener), options]);
  };
  EventTarget.prototype.removeEventListener = function removeEventListener(type, listener, options) {
    const wrapper =
      listener !== null && (typeof listener === "function" || typeof listener === "object")
        ? weakGet(wrappers, listener)
        : undefined;
    return reflectApply(remove, this, [type, wrapper ?? listener, options]);
  };
}

/**
 * The clock's slices (see refuel): one is open while the program works, closed while it waits.
 * The harness closes it at every wait it mediates (a fetch, an env.KV/env.FILES/tool call, a body
 * read, a timer) and reopens it when that wait ends and the program runs again (its last pending
 * call answered, a timer callback starting), or at the next fuel check. A macrotask closes it
 * too, for waits the harness does not see. Before, a slice stayed open until a setTimeout(0) ran,
 * and locally that timer waited behind the I/O itself (the loader and the KV simulation run on
 * the same thread), so an I/O-bound run was charged its waits (commit d55b2c8).
 */
function openSlice(run) {
  if (run.sliceStart !== undefined) return;
  if (!run.backstopPending) {
    try {
      startTimer(() => {
        run.backstopPending = false;
        closeSlice(run);
      }, 0);
    } catch {
      // Module evaluation runs in workerd's global scope, where timers are forbidden: there
      // only fuel applies.
      return;
    }
    run.backstopPending = true;
  }
  run.sliceStart = now();
}

function closeSlice(run) {
  if (run.sliceStart === undefined) return;
  run.clockMs += now() - run.sliceStart;
  run.sliceStart = undefined;
}

function clockCpuMs(run) {
  openSlice(run);
  return run.clockMs + (run.sliceStart === undefined ? 0 : now() - run.sliceStart);
}

/**
 * The program starts waiting on something the harness mediates. The slice closes in a microtask,
 * not now, so that work the program does synchronously after starting the call (a native sort
 * before its `await`) is still on the clock.
 */
const queueTask = queueMicrotask;
const promiseThen = Function.prototype.call.bind(Promise.prototype.then);
const resolvePromise = Promise.resolve.bind(Promise);
function waitStarts(run, counted) {
  if (run === undefined || !run.clockAtWaits) return;
  if (counted) run.pendingWaits++;
  if (run.closeQueued) return;
  run.closeQueued = true;
  queueTask(() => {
    run.closeQueued = false;
    closeSlice(run);
  });
}

/** A mediated wait ended: once nothing else it started is pending, the program runs again. */
function waitEnds(run) {
  if (run === undefined || !run.clockAtWaits) return;
  run.pendingWaits--;
  if (run.pendingWaits === 0 && !run.cpuError) openSlice(run);
}

/** Runs `promise` as a mediated wait of the current run (see waitStarts). */
function awaited(promise) {
  const run = currentRun();
  waitStarts(run, true);
  const ends = () => waitEnds(run);
  return promiseThen(
    resolvePromise(promise),
    (value) => (ends(), value),
    (err) => {
      ends();
      throw err;
    },
  );
}

/**
 * A run that ends over its clock budget ends with cpu_limit, never ok: a native call (a default
 * sort of a million numbers, a giant JSON.parse, a catastrophic regex) runs no fuel check, so its
 * slice is seen at the next fuel check or here, when the program has returned. Only where the
 * clock advances during execution (local workerd); deployed, the platform's cpuMs bounds it.
 */
function endedOverBudget(run) {
  if (run.fuel === null || !run.clockAtWaits || run.cpuError) return run.cpuError;
  closeSlice(run);
  if (run.clockMs <= run.limits.cpuMs) return undefined;
  run.cpuError = new LimitError(
    "cpu_limit",
    "CpuLimitError",
    `CPU limit reached: the program used more than ${run.limits.cpuMs} ms of CPU (limits.cpuMs), ${mathRound(run.clockMs)} ms by the clock, some of it in native calls no fuel check could interrupt`,
  );
  failRun(run, run.cpuError);
  return run.cpuError;
}
Object.defineProperty(globalThis, "__dwlRefuel", {
  value: refuel,
  writable: false,
  configurable: false,
  enumerable: false,
});

for (const level of LOG_LEVELS) {
  console[level] = (...args) => currentRun()?.logs.add(level, args);
}
console.trace = (...args) => currentRun()?.logs.add("debug", args);
console.dir = (value) => currentRun()?.logs.add("log", [value]);
console.table = (value) => currentRun()?.logs.add("log", [value]);

/** Headers shared with the egress gateway (egress/gateway.ts, egress/run-token.ts). */
const RUN_TOKEN_HEADER = "x-dwl-run";
const EGRESS_DENIED_HEADER = "x-dwl-egress-denied";
const EGRESS_AUDIT_HEADER = "x-dwl-egress";

/** Thrown in the program when the gateway refuses a request; the run goes on if it is caught. */
class EgressDeniedError extends Error {
  constructor(message) {
    super(message);
    this.name = "EgressDeniedError";
    this.type = "egress_denied";
  }
}

/**
 * `connect()` of `cloudflare:sockets` (the bundler swaps in a module that calls this): raw TCP
 * cannot pass the egress gateway, so the attempt is refused with a reason the model can act on,
 * and recorded in the audit like a refused fetch.
 */
function refuseSocket(address) {
  let target;
  try {
    target = stringSlice(typeof address === "string" ? address : `${address?.hostname}:${address?.port}`, 0, 256);
  } catch {
    target = "?";
  }
  const reason = `raw TCP sockets are not available to programs (cloudflare:sockets connect("${target}")); reach the network with fetch() to a host in egress.allow`;
  const run = currentRun();
  // Counted like any outbound attempt, which also bounds the audit a loop of attempts can grow.
  chargeSubrequest(run);
  if (run) arrayPush(run.egress, { method: "CONNECT", url: `tcp://${target}`, status: 0, ms: 0, denied: reason });
  return new EgressDeniedError(reason);
}
Object.defineProperty(globalThis, "__dwlRefuseSocket", {
  value: refuseSocket,
  writable: false,
  configurable: false,
  enumerable: false,
});

/**
 * Every outbound request is counted against `subRequests`, tagged with the run's signed token
 * for the gateway, and recorded for the egress audit (with what the gateway reports back).
 */
function chargeSubrequest(run) {
  // Orphan code (see orphanRun) spends the last run's allowance, like its fuel.
  run ??= lastRun;
  if (!run) return;
  run.subRequests++;
  if (run.subRequests > run.limits.subRequests) {
    const err = new LimitError(
      "subrequest_limit",
      "SubrequestLimitError",
      `subrequest limit reached: this run may make at most ${run.limits.subRequests} outbound request(s) (limits.subRequests)`,
    );
    failRun(run, err);
    throw err;
  }
}

async function harnessFetch(input, init) {
  const run = currentRun();
  const request = new Request(input, init);
  chargeSubrequest(run);
  const headers = new Headers(request.headers);
  headers.delete(RUN_TOKEN_HEADER);
  if (run?.runToken) headers.set(RUN_TOKEN_HEADER, run.runToken);
  const started = now();
  const record = { method: request.method, url: request.url, status: 0, ms: 0 };
  run?.egress.push(record);
  try {
    const response = await awaited(originalFetch(new Request(request, { headers })));
    if (response.headers.get(EGRESS_DENIED_HEADER)) {
      let reason = "egress refused by the gateway";
      try {
        reason = (await response.json()).reason ?? reason;
      } catch {
        // keep the generic reason
      }
      record.denied = reason;
      throw new EgressDeniedError(reason);
    }
    record.status = response.status;
    const audit = response.headers.get(EGRESS_AUDIT_HEADER);
    if (audit === null) return response;
    try {
      const { url, credentials } = JSON.parse(audit);
      if (typeof url === "string") record.url = url;
      if (Array.isArray(credentials) && credentials.length > 0) record.credentials = credentials;
    } catch {
      // a malformed audit header only costs the audit detail
    }
    const clean = new Response(response.body, response);
    clean.headers.delete(EGRESS_AUDIT_HEADER);
    return clean;
  } finally {
    record.ms = roundMs(now() - started);
  }
}

// Kept apart from globalThis.fetch, which the program may replace: tools use this one.
globalThis.fetch = harnessFetch;

/**
 * The network a tool call gets (tools/tool-entrypoint.ts `egressFetch`): the harness's fetch, as
 * the run that called the tool, so a tool's requests are counted, audited and policed exactly
 * like the program's. Refusals come back as values (an error thrown across RPC loses its name).
 */
function toolNetwork(run) {
  return (request) =>
    runWith(run, async () => {
      if (!run || run.failure) return { denied: "egress refused: the run that called this tool has ended" };
      try {
        return { response: await harnessFetch(request) };
      } catch (err) {
        if (err instanceof EgressDeniedError) return { denied: err.message };
        if (err instanceof LimitError) return { limit: err.message };
        throw err;
      }
    });
}

/**
 * WebSocket and EventSource open connections without calling fetch: they are counted and
 * audited here too (the gateway's policy applies to them as to any outbound request).
 */
for (const name of ["WebSocket", "EventSource"]) {
  const Original = globalThis[name];
  if (typeof Original !== "function") continue;
  const Wrapped = class extends Original {
    constructor(url, ...rest) {
      const run = currentRun();
      chargeSubrequest(run);
      if (run) arrayPush(run.egress, { method: "GET", url: String(url), status: 0, ms: 0 });
      super(url, ...rest);
    }
  };
  Object.defineProperty(Wrapped, "name", { value: name });
  globalThis[name] = Wrapped;
}

/**
 * Timers and body reads are waits the harness mediates too (see waitStarts): scheduling a timer
 * closes the clock's slice, its callback reopens it; `scheduler.wait` is a wait like a call; a
 * body read (a fetch response's, an R2 object's, a sandbox request's) closes it until the body is
 * there. `json()` parses after the wait, on the clock, since a giant body's parse is work.
 */
for (const name of ["setTimeout", "setInterval"]) {
  const original = globalThis[name];
  if (typeof original !== "function") continue;
  globalThis[name] = {
    [name](callback, ...rest) {
      const run = currentRun();
      if (run === undefined || !run.clockAtWaits || typeof callback !== "function")
        return reflectApply(original, globalThis, [callback, ...rest]);
      waitStarts(run, false);
      const wrapped = function (...args) {
        if (!run.cpuError) openSlice(run);
        return reflectApply(callback, this, args);
      };
      return reflectApply(original, globalThis, [wrapped, ...rest]);
    },
  }[name];
}
const scheduler = globalThis.scheduler;
if (typeof scheduler?.wait === "function") {
  const wait = scheduler.wait;
  try {
    scheduler.wait = function (...args) {
      return awaited(reflectApply(wait, scheduler, args));
    };
  } catch {
    // not writable here: its waits are closed by the macrotask backstop instead
  }
}
const parseJson = JSON.parse;
for (const Body of [Request, Response]) {
  const text = Body.prototype.text;
  for (const method of ["arrayBuffer", "bytes", "text", "blob", "formData"]) {
    const original = Body.prototype[method];
    if (typeof original !== "function") continue;
    Body.prototype[method] = {
      [method]() {
        return awaited(reflectApply(original, this, arguments));
      },
    }[method];
  }
  Body.prototype.json = function json() {
    return promiseThen(awaited(reflectApply(text, this, [])), parseJson);
  };
}

function toJsonValue(_key, value) {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Array.from(value.entries());
  if (value instanceof Set) return Array.from(value.values());
  if (ArrayBuffer.isView(value)) {
    return value instanceof DataView
      ? Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      : Array.from(value);
  }
  if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** The documented encoding of results (README "Results"); throws LimitError or a plain Error. */
function encodeResult(value, maxBytes) {
  let json;
  try {
    json = stringify(value, toJsonValue);
  } catch (err) {
    if (err instanceof LimitError) throw err;
    const why =
      err instanceof TypeError && /circular/i.test(String(err.message))
        ? "it contains a circular reference"
        : String(err?.message ?? err);
    throw Object.assign(new TypeError(`the result cannot be serialised to JSON: ${why}`), { name: "ResultError" });
  }
  json ??= "null";
  if (json.length > maxBytes || byteLength(json) > maxBytes) {
    throw new LimitError(
      "output_too_large",
      "OutputTooLargeError",
      `the result is ${byteLength(json)} bytes of JSON, over the ${maxBytes}-byte limit`,
    );
  }
  return json;
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|image\/svg|[^;]*\+(json|xml))/i;

const tooLarge = (what, size, maxBytes) =>
  new LimitError(
    "output_too_large",
    "OutputTooLargeError",
    `the response ${what} ${size} bytes, over the ${maxBytes}-byte limit (headers and body)`,
  );

/** Reads a body up to `maxBytes`, cancelling the stream as soon as it is over (never buffers more). */
async function readCapped(body, maxBytes, budget) {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > budget) {
      await reader.cancel().catch(() => {});
      throw new LimitError(
        "output_too_large",
        "OutputTooLargeError",
        `the response is over the ${maxBytes}-byte limit (headers and body; reading stopped there)`,
      );
    }
    arrayPush(chunks, value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * A fetch program's Response as `{ status, headers, body, bodyEncoding }`. Headers and body
 * together count against the result limit, and the body is read under that cap.
 */
async function encodeResponse(response, maxBytes) {
  if (!(response instanceof Response)) throw new TypeError("the fetch handler must return a Response");
  // No prototype: a program's Object.prototype.toJSON cannot replace the envelope.
  const headers = Object.create(null);
  let headerBytes = 0;
  response.headers.forEach((value, name) => {
    headers[name] = value;
    headerBytes += byteLength(name) + byteLength(value) + 6;
  });
  if (headerBytes > maxBytes) throw tooLarge("headers are", headerBytes, maxBytes);
  const bytes = await readCapped(response.body, maxBytes, maxBytes - headerBytes);
  const envelope = (body, bodyEncoding) =>
    Object.assign(Object.create(null), { status: response.status, headers, body, bodyEncoding });
  const type = response.headers.get("content-type") ?? "text/plain";
  if (TEXT_TYPES.test(type)) {
    try {
      return envelope(new TextDecoder("utf-8", { fatal: true }).decode(bytes), "text");
    } catch {
      // not valid UTF-8 after all: fall through to base64
    }
  }
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const encoded = btoa(binary);
  if (headerBytes + encoded.length > maxBytes) throw tooLarge("is", headerBytes + encoded.length, maxBytes);
  return envelope(encoded, "base64");
}

/**
 * V8's own allocation limits (string length, array and buffer sizes) mean the run ran out of
 * memory. V8 marks them only by message, so that is what is matched.
 */
const ENGINE_MEMORY_ERROR = /^(Invalid (string|array|typed array) length|Array buffer allocation failed)/;

/**
 * A program that does not compile, found inside the child (Python parses its files there):
 * reported as `compile` with the location, like a bundling error of the loader.
 */
class ProgramCompileError extends Error {
  constructor(message, location) {
    super(message);
    this.name = "SyntaxError";
    this.location = location;
  }
}

/**
 * What a Python child's program module (python-child.child.js) reports failures with, handed to
 * it with each call rather than put on globalThis: its SyntaxErrors, and its heap bound, which it
 * enforces itself.
 */
const PYTHON_FAILURES = Object.freeze({
  compile: (message, location) => new ProgramCompileError(message, location),
  memoryLimit: (message) => new LimitError("memory_limit", "MemoryLimitError", message),
});

function describeError(err) {
  if (err instanceof LimitError) return { type: err.type, name: err.name, message: err.message };
  if (err instanceof ProgramCompileError)
    return {
      type: "compile",
      name: err.name,
      message: err.message,
      ...(err.location ? { location: err.location } : {}),
    };
  if (err instanceof EgressDeniedError)
    return { type: "egress_denied", name: err.name, message: err.message, stack: err.stack };
  if (err instanceof RangeError && ENGINE_MEMORY_ERROR.test(String(err.message))) {
    return {
      type: "memory_limit",
      name: "MemoryLimitError",
      message: `out of memory: ${err.message}`,
      stack: err.stack,
    };
  }
  if (err instanceof Error) {
    return {
      type: "runtime",
      name: String(err.name),
      message: String(err.message),
      stack: typeof err.stack === "string" ? err.stack : undefined,
    };
  }
  let message;
  try {
    message = typeof err === "string" ? err : nodeFormat("%o", err);
  } catch {
    message = "[unprintable thrown value]";
  }
  return { type: "runtime", name: "Error", message: `Uncaught ${message}` };
}

const ERROR_CLASSES = { TypeError, RangeError, SyntaxError };

/** Capabilities answer `{ value } | { error }` (bindings/rpc-result.ts); programs see exceptions. */
async function unwrap(resultPromise) {
  const result = await awaited(resultPromise);
  if (result && typeof result === "object" && "error" in result) {
    const { name, message } = result.error;
    const err = new (ERROR_CLASSES[name] ?? Error)(message);
    if (!(name in ERROR_CLASSES)) err.name = name;
    throw err;
  }
  return result?.value;
}

function kvFacade(stub) {
  return Object.freeze({
    get: (key, type) => unwrap(stub.get(key, type)),
    getWithMetadata: (key, type) => unwrap(stub.getWithMetadata(key, type)),
    put: (key, value, options) => unwrap(stub.put(key, value, options)),
    delete: (key) => unwrap(stub.delete(key)),
    list: (options) => unwrap(stub.list(options)),
  });
}

/** Operator tools: every method answers `{ value } | { error }`; the program sees values and exceptions. */
function toolFacade(stub) {
  return new Proxy(Object.freeze({}), {
    get(_target, method) {
      if (typeof method !== "string" || method === "then") return undefined;
      // Through the tool framework's one entry, handing over this run's network.
      return (...args) => unwrap(stub.invokeTool(method, args, toolNetwork(currentRun())));
    },
  });
}

/**
 * `env.FILES` as programs expect R2 to behave (sync `size`/`etag`, `text()`, `json()`, `body`…),
 * built over the loader's ScopedFiles RPC stub, which can only carry plain data and streams.
 */
function filesFacade(stub) {
  const toObject = (info, body) => {
    const object = {
      ...info,
      writeHttpMetadata(headers) {
        const m = info.httpMetadata ?? {};
        if (m.contentType) headers.set("content-type", m.contentType);
        if (m.contentLanguage) headers.set("content-language", m.contentLanguage);
        if (m.contentDisposition) headers.set("content-disposition", m.contentDisposition);
        if (m.contentEncoding) headers.set("content-encoding", m.contentEncoding);
        if (m.cacheControl) headers.set("cache-control", m.cacheControl);
      },
    };
    if (body) {
      const response = new Response(body);
      Object.assign(object, {
        body: response.body,
        get bodyUsed() {
          return response.bodyUsed;
        },
        text: () => response.text(),
        json: () => response.json(),
        arrayBuffer: () => response.arrayBuffer(),
        bytes: async () => new Uint8Array(await response.arrayBuffer()),
        blob: () => response.blob(),
      });
    }
    return object;
  };
  const toValue = async (value) => {
    if (value instanceof Blob) return value.arrayBuffer();
    if (value instanceof Response || value instanceof Request) return value.arrayBuffer();
    return value;
  };
  return Object.freeze({
    async head(key) {
      const info = await unwrap(stub.head(key));
      return info && toObject(info);
    },
    async get(key) {
      const found = await unwrap(stub.get(key));
      return found && toObject(found.info, found.body);
    },
    async put(key, value, options) {
      return toObject(await unwrap(stub.put(key, await toValue(value), options)));
    },
    delete: (keys) => unwrap(stub.delete(keys)),
    async list(options) {
      const page = await unwrap(stub.list(options));
      return { ...page, objects: page.objects.map((info) => toObject(info)) };
    },
  });
}

/**
 * The `env` programs see: the isolate's capabilities with R2-like and KV-like surfaces, plus
 * `SECRETS`, this run's credential placeholders (opaque strings the gateway swaps for the real
 * values on requests to the credential's hosts).
 */
let capabilities;
function envFor(raw, secrets) {
  if (!capabilities) {
    capabilities = {};
    const facades = { KV: kvFacade, FILES: filesFacade };
    for (const [name, value] of Object.entries(raw ?? {})) capabilities[name] = (facades[name] ?? toolFacade)(value);
  }
  return Object.freeze({ ...capabilities, SECRETS: Object.freeze({ ...secrets }) });
}

function toRequest(spec) {
  // Concatenated, not resolved: a path like "//evil.example/x" must not change the host.
  const url = new URL(`http://localhost${spec?.path ?? "/"}`);
  return new Request(url, { method: spec?.method ?? "GET", headers: spec?.headers, body: spec?.body });
}

async function invoke(call, env) {
  const module = await import("./user.js");
  const program = module.default;
  if (call.shape === "script") {
    await program();
    return { kind: "result", value: null };
  }
  // A Python child's program module takes the run's Python files as a third argument.
  if (typeof program === "function") {
    return {
      kind: "result",
      value: await (call.python
        ? program(call.input, env, { ...call.python, failures: PYTHON_FAILURES })
        : program(call.input, env)),
    };
  }
  if (program !== null && typeof program === "object" && typeof program.fetch === "function") {
    const ctx = {
      waitUntil(promise) {
        Promise.resolve(promise).catch(() => {});
      },
      passThroughOnException() {},
      props: {},
    };
    const response = await program.fetch(toRequest(call.request), env, ctx);
    return { kind: "response", response };
  }
  throw new TypeError(
    "the default export must be a function `(input, env) => result` or an object with a `fetch(request, env, ctx)` method",
  );
}

/** The per-run state every hook (console, fetch, refuel) finds through the AsyncLocalStorage. */
function newRun(call, started) {
  lastRun = {
    limits: call.limits,
    logs: new LogBuffer(call.maxLogLines, call.maxLogBytes, started),
    egress: [],
    subRequests: 0,
    runToken: call.runToken,
    fuel: call.fuel,
    fuelUsed: 0,
    clockMs: 0,
    sliceStart: undefined,
    // Python has its own meter (python/runner.py calls refuel); its clock keeps the old rule.
    clockAtWaits: call.python === undefined,
    pendingWaits: 0,
    backstopPending: false,
    closeQueued: false,
    cpuError: undefined,
    failure: undefined,
    ended: undefined,
  };
  return lastRun;
}

/** The end of a run, reported to the loader in a header (URI-encoded JSON, cut to fit). */
const REPORT_HEADER = "x-dwl-report";
const MAX_REPORT_CHARS = 16 * 1024;

function reportHeader(report) {
  let logs = report.logs;
  for (;;) {
    const encoded = encodeURIComponent(stringify({ ...report, logs }));
    if (encoded.length <= MAX_REPORT_CHARS || logs.length === 0) return encoded.slice(0, MAX_REPORT_CHARS);
    logs = arraySlice(logs, mathCeil(logs.length / 2));
  }
}

/** Entry point the loader calls over RPC. Per-run settings arrive as the argument. */
export class Run extends WorkerEntrypoint {
  /**
   * Serves one HTTP request of a persistent sandbox with the program's fetch handler; per-run
   * settings arrive in the entrypoint's props. The response streams back as the program made it;
   * logs and any error travel in the x-dwl-report header, which the loader removes.
   */
  async fetch(request) {
    const call = this.ctx.props?.call;
    if (!call || this.ctx.props?.callerKey !== CALLER_KEY)
      return new Response("DWL child isolate: nothing to serve", { status: 404 });
    const started = now();
    const run = newRun(call, started);
    const outcome = await runWith(run, () => this.#serve(run, call, request));
    const { logs } = run.logs.toJSON();
    const runMs = roundMs(now() - started);
    if (outcome.response) {
      const response = new Response(outcome.response.body, outcome.response);
      response.headers.set(REPORT_HEADER, reportHeader({ logs, egress: run.egress, runMs }));
      return response;
    }
    return new Response(null, {
      status: 500,
      headers: { [REPORT_HEADER]: reportHeader({ logs, egress: run.egress, runMs, error: outcome.error }) },
    });
  }

  async #serve(run, call, request) {
    let timer;
    const ended = new Promise((resolve) => {
      run.ended = resolve;
      timer = startTimer(() => resolve({ kind: "timeout" }), call.limits.timeoutMs);
    });
    try {
      const serve = (async () => {
        const program = (await import("./user.js")).default;
        if (program === null || typeof program !== "object" || typeof program.fetch !== "function") {
          throw new TypeError(
            "this sandbox's program has no fetch handler: export default { fetch(request, env, ctx) { … } }",
          );
        }
        const ctx = {
          waitUntil(promise) {
            Promise.resolve(promise).catch(() => {});
          },
          passThroughOnException() {},
          props: {},
        };
        const response = await program.fetch(request, envFor(this.env, call.secrets), ctx);
        if (!(response instanceof Response)) throw new TypeError("the fetch handler must return a Response");
        return { kind: "response", response };
      })();
      const done = await Promise.race([serve, ended]);
      if (done.kind === "response") endedOverBudget(run);
      if (run.failure) return { error: describeError(run.failure) };
      if (done.kind === "timeout") {
        return {
          error: {
            type: "timeout",
            name: "TimeoutError",
            message: `the request was not answered within ${call.limits.timeoutMs} ms (limits.timeoutMs)`,
          },
        };
      }
      return { response: done.response };
    } catch (err) {
      return { error: describeError(run.failure ?? err) };
    } finally {
      stopTimer(timer);
    }
  }

  async run(call) {
    if (call?.callerKey !== CALLER_KEY) throw new TypeError("runs are started by the loader only");
    const started = now();
    const run = newRun(call, started);
    const outcome = await runWith(run, () => this.#settle(run, call));
    const { logs, truncated } = run.logs.toJSON();
    return { ...outcome, logs, logsTruncated: truncated, egress: run.egress, runMs: roundMs(now() - started) };
  }

  async #settle(run, call) {
    let timer;
    const ended = new Promise((resolve) => {
      run.ended = resolve;
      timer = startTimer(() => resolve({ kind: "timeout" }), call.limits.timeoutMs);
    });
    try {
      const done = await Promise.race([invoke(call, envFor(this.env, call.secrets)), ended]);
      if (done.kind !== "timeout") endedOverBudget(run);
      if (run.failure) return { ok: false, error: describeError(run.failure) };
      if (done.kind === "timeout") {
        return {
          ok: false,
          error: {
            type: "timeout",
            name: "TimeoutError",
            message: `the program did not finish within ${call.limits.timeoutMs} ms (limits.timeoutMs)`,
          },
        };
      }
      if (done.kind === "response") {
        // The body is read under the same deadline (a body that never ends is a timeout), and
        // waitUntil work keeps running in the isolate but does not hold the response.
        const encoded = await Promise.race([encodeResponse(done.response, call.maxResultBytes), ended]);
        if (run.failure) return { ok: false, error: describeError(run.failure) };
        if (encoded.kind === "timeout") {
          done.response.body?.cancel().catch(() => {});
          return {
            ok: false,
            error: {
              type: "timeout",
              name: "TimeoutError",
              message: `the response body was not complete within ${call.limits.timeoutMs} ms (limits.timeoutMs)`,
            },
          };
        }
        return { ok: true, result: stringify(encoded) };
      }
      return { ok: true, result: encodeResult(done.value, call.maxResultBytes) };
    } catch (err) {
      return { ok: false, error: describeError(run.failure ?? err) };
    } finally {
      stopTimer(timer);
    }
  }
}

export default {
  fetch() {
    return new Response("DWL child isolate: call the Run entrypoint over RPC", { status: 404 });
  },
};
