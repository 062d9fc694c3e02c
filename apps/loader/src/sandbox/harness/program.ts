/**
 * @module program
 * Calls the program: its module is imported inside the first run (so the harness has captured
 * its intrinsics and installed its hooks before any program code runs), then its default export
 * is called as the program's shape says.
 */
import type { ProgramRequest } from "@dwl/protocol";
import type { ChildCall } from "../child-protocol.ts";
import { trackWaitUntil } from "./background.ts";
import { ChildLostError, LimitError, ProgramCompileError } from "./errors.ts";
import {
  arraySlice,
  decodeBase64,
  functionSource,
  now,
  objectKeys,
  ownPropertyDescriptor,
  stringCharCodeAt,
  stringIncludes,
  stringIndexOf,
  stringSlice,
  toText,
} from "./intrinsics.ts";
import { currentRun } from "./state.ts";

let moduleEvaluated = false;

/**
 * The program's default export. Its module is evaluated by the first import, synchronously within
 * it: that run records how long it took (its top-level work, outside the clock: `moduleMs`).
 */
export async function programModule(): Promise<unknown> {
  if (moduleEvaluated) return (await import("./user.js")).default;
  const started = now();
  try {
    return (await import("./user.js")).default;
  } catch (err) {
    throw linkFailure(err) ?? err;
  } finally {
    moduleEvaluated = true;
    const run = currentRun();
    if (run) run.moduleMs = now() - started;
  }
}

/**
 * The runtime's words when the program's modules do not link: an import of a module or a name it
 * lacks that bundling could not see (bundle/runtime-modules.ts checks those it can). Nothing of the
 * program has run: a `compile` error, its message without the child's module names.
 */
const NO_SUCH_MODULE = 'No such module "';
const REQUESTED_MODULE = "The requested module '";
const NO_EXPORT = "' does not provide an export named '";

function linkFailure(err: unknown): ProgramCompileError | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const message: unknown = ownPropertyDescriptor(err, "message")?.value;
  if (typeof message !== "string") return undefined;
  const noModule = stringIndexOf(message, NO_SUCH_MODULE) === 0;
  if (!noModule && !(stringIndexOf(message, REQUESTED_MODULE) === 0 && stringIncludes(message, NO_EXPORT)))
    return undefined;
  // Its first line: the next names the child's module that imported it.
  const end = stringIndexOf(message, "\n");
  const what = end < 0 ? message : stringSlice(message, 0, end);
  return new ProgramCompileError(what, undefined, noModule ? "Error" : "SyntaxError");
}

/** What a run's program produced, before encoding (result.ts). */
export type ProgramOutcome = { kind: "result"; value: unknown } | { kind: "response"; response: unknown };

type ProgramFunction = (input: unknown, env: unknown, python?: unknown) => unknown;
interface FetchHandler {
  fetch(request: Request, env: unknown, ctx: ProgramContext): unknown;
}
interface ProgramContext {
  waitUntil(promise: unknown): void;
  passThroughOnException(): void;
  props: Record<string, never>;
}

export function hasFetchHandler(program: unknown): program is FetchHandler {
  return (
    program !== null && typeof program === "object" && typeof (program as { fetch?: unknown }).fetch === "function"
  );
}

/**
 * The `ctx` a fetch handler gets: waitUntil work never fails the run; a run's answer waits for it
 * (background.ts), a sandbox's HTTP answer does not (its child stays).
 */
export function programContext(): ProgramContext {
  return {
    waitUntil(promise) {
      Promise.resolve(promise).catch(() => {});
      trackWaitUntil(currentRun(), promise);
    },
    passThroughOnException() {},
    props: {},
  };
}

/**
 * What a Python child's program module (python-child.child.js) reports failures with, handed to
 * it with each call rather than put on globalThis: its SyntaxErrors, and its heap bound, which it
 * enforces itself.
 */
const PYTHON_FAILURES = Object.freeze({
  compile: (message: string, location: ProgramCompileError["location"], name?: string) =>
    new ProgramCompileError(message, location, name),
  memoryLimit: (message: string) => new LimitError("memory_limit", "MemoryLimitError", message),
  lost: (message: string) => {
    const lost = new ChildLostError("PythonFatalError", message);
    lostBy ??= lost;
    return lost;
  },
});

/**
 * What lost this child, once its Pyodide failed fatally (the child reports it the moment it
 * happens, whether or not a run is waiting for it): module state, as it is the isolate's, not a
 * run's. A run already answered some other way (a deep recursion that reached its CPU limit,
 * then overflowed the C stack) is answered with it instead (entrypoint.ts).
 */
let lostBy: ChildLostError | undefined;

/** The failure that lost this child, if one did. */
export function childLostBy(): ChildLostError | undefined {
  return lostBy;
}

const REQUEST_IGNORED =
  "[dwl] this run has a `request`, but the program has no fetch handler, so nothing received it; to receive it, export default { fetch(request, env, ctx) { … } }";
const REQUEST_IGNORED_PYTHON =
  "[dwl] this run has a `request`, but a Python program has no fetch handler, so nothing received it; pass what it needs in `input`";

/** The bytes `text` (base64, checked by the request schema) stands for. */
function base64Bytes(text: string): Uint8Array {
  const binary = decodeBase64(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = stringCharCodeAt(binary, i);
  return bytes;
}

function toRequest(spec: ProgramRequest | undefined): Request {
  // Concatenated, not resolved: a path like "//evil.example/x" must not change the host.
  const url = new URL(`http://localhost${spec?.path ?? "/"}`);
  const body = spec?.body !== undefined && spec.bodyEncoding === "base64" ? base64Bytes(spec.body) : spec?.body;
  return new Request(url, { method: spec?.method ?? "GET", headers: spec?.headers, body });
}

/**
 * Runs the program once: a script, a function `(input, env)`, or a fetch handler given
 * `call.request`. `ended` settles when the run is answered early (a limit, its deadline).
 */
export async function invoke(call: ChildCall, env: unknown, ended: Promise<unknown>): Promise<ProgramOutcome> {
  const program = await programModule();
  if (call.request && (call.python || !hasFetchHandler(program)))
    currentRun()?.logs.add("warn", [call.python ? REQUEST_IGNORED_PYTHON : REQUEST_IGNORED]);
  if (call.shape === "script") {
    await (program as () => unknown)();
    return { kind: "result", value: null };
  }
  if (typeof program === "function" && /^class\b/.test(functionSource(program))) {
    // Called, it throws "Class constructor X cannot be invoked without 'new'", with no line.
    const name = program.name || "Program";
    throw new TypeError(
      `the default export is a class (${name}), which cannot be called: export an instance whose fetch(request, env, ctx) answers (export default new ${name}()), or a function (input, env) => result`,
    );
  }
  // A Python child's program module takes the run's Python files as a third argument.
  if (typeof program === "function") {
    const run = program as ProgramFunction;
    const value = await (call.python
      ? run(call.input, env, { ...call.python, failures: PYTHON_FAILURES, timeoutMs: call.limits.timeoutMs, ended })
      : run(call.input, env));
    // A function that answers a Response (as a fetch handler would) gets a fetch handler's result.
    return value instanceof Response ? { kind: "response", response: value } : { kind: "result", value };
  }
  if (hasFetchHandler(program)) {
    const response = await program.fetch(toRequest(call.request), env, programContext());
    return { kind: "response", response };
  }
  throw new TypeError(
    `the default export is ${describeExport(program)}; it must be a function \`(input, env) => result\` or an object with a \`fetch(request, env, ctx)\` method`,
  );
}

/** What a default export that cannot run is, for the error: a model fixes what it can see. */
function describeExport(program: unknown): string {
  if (program === undefined) return "missing (the program has no `export default`)";
  if (program === null || typeof program !== "object") return `${toText(program)} (${typeof program})`;
  const keys = objectKeys(program);
  if (keys.length === 0) return "an empty object";
  const shown = keys.length > 5 ? [...arraySlice(keys, 0, 5), "…"] : keys;
  return `an object with ${keys.length === 1 ? "key" : "keys"} ${shown.join(", ")} and no fetch method`;
}
