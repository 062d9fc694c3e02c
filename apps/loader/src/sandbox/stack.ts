/**
 * @module stack
 * Rewrites a child's raw stack (frames in `user.js`, the bundle, or in the modules of a program
 * linked file by file, and in `harness.js`) into frames of the user's own files through their
 * source maps. Frames of the harness and of the
 * runtime's internals are dropped: they are noise to the program's author (and to a model
 * fixing its code) and would expose the loader's internals.
 */
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { type Bundle, USER_MODULE } from "../bundle/bundle.ts";
import { ENTRY_BINDING } from "../bundle/entry-shape.ts";
import { isLoaderShim } from "../bundle/virtual-files.ts";

const FRAME = /^(\s*at )(?:(.*?) \()?([^()\s]+):(\d+):(\d+)\)?$/;

/**
 * Maps a child's error stack, in place, to the user's files. A Python bundle's tracebacks are the
 * runner's own (trimmed to the user's files in the child) and stay as they are.
 */
export function mapErrorStack(error: { stack?: string | undefined }, bundle: Bundle): void {
  if (error.stack && !bundle.python) error.stack = mapStack(error.stack, (file) => mapOf(bundle, file));
}

/** The map of the child's module `file`, or undefined for a module that is not the program's. */
function mapOf(bundle: Bundle, file: string): TraceMap | undefined {
  if (file === USER_MODULE) return traceMapFor(bundle, bundle.map);
  const module = bundle.modules && Object.hasOwn(bundle.modules, file) ? bundle.modules[file] : undefined;
  return module && traceMapFor(module, module.map);
}

/**
 * Maps the stacks a program printed (`console.error(err)`, `err.stack`) as its errors' are
 * mapped: its own frames to its files, the harness's and the runtime's dropped. Only lines that
 * are frames change; the rest of a message stays as it was.
 */
export function mapLoggedStacks(logs: { message: string }[], bundle: Bundle): void {
  if (bundle.python) return;
  for (const entry of logs)
    if (STACK_IN_TEXT.test(entry.message))
      entry.message = mapStack(entry.message, (file) => mapOf(bundle, file), { keepOtherLines: true });
}

/** A line break, then a frame: `    at name (file:line:column)` or `    at file:line:column`. */
const STACK_IN_TEXT = /\n\s*at \S/;

function mapStack(
  stack: string,
  mapFor: (file: string) => TraceMap | undefined,
  { keepOtherLines = false } = {},
): string {
  const lines = stack.split("\n");
  const out: string[] = [];
  for (const line of lines) {
    const frame = FRAME.exec(line);
    if (!frame) {
      // The "Name: message" head (possibly multi-line) comes before the first frame.
      if (keepOtherLines || !/^\s*at /.test(line)) out.push(line);
      continue;
    }
    const [, at, fn, file, lineNo, colNo] = frame;
    const map = file === undefined ? undefined : mapFor(file);
    if (!map) continue;
    const pos = originalPositionFor(map, { line: Number(lineNo), column: Number(colNo) - 1 });
    if (pos.source === null || pos.line === null || isLoaderShim(pos.source)) continue;
    const where = `${pos.source}:${pos.line}:${(pos.column ?? 0) + 1}`;
    const name =
      fn === ENTRY_BINDING ? "default" : fn && fn !== "__dwlScript" ? fn.replace(/^async /, "async ") : undefined;
    out.push(name ? `${at}${name} (${where})` : `${at}${where}`);
  }
  return out.join("\n");
}

/** Parses once per bundle; bundles are cached, so this is paid once per program per isolate. */
const traceMaps = new WeakMap<object, TraceMap>();

function traceMapFor(owner: object, json: string): TraceMap {
  let map = traceMaps.get(owner);
  if (!map) {
    map = new TraceMap(json);
    traceMaps.set(owner, map);
  }
  return map;
}
