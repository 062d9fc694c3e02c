/**
 * @module stack
 * Rewrites a child's raw stack (frames in `user.js`, the bundle, and `harness.js`) into frames
 * of the user's own files through the bundle's source map. Frames of the harness and of the
 * runtime's internals are dropped: they are noise to the program's author (and to a model
 * fixing its code) and would expose the loader's internals.
 */
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";

const FRAME = /^(\s*at )(?:(.*?) \()?([^()\s]+):(\d+):(\d+)\)?$/;

export function mapStack(stack: string, map: TraceMap, bundleFile: string): string {
  const lines = stack.split("\n");
  const out: string[] = [];
  for (const line of lines) {
    const frame = FRAME.exec(line);
    if (!frame) {
      // The "Name: message" head (possibly multi-line) comes before the first frame.
      if (!/^\s*at /.test(line)) out.push(line);
      continue;
    }
    const [, at, fn, file, lineNo, colNo] = frame;
    if (file !== bundleFile) continue;
    const pos = originalPositionFor(map, { line: Number(lineNo), column: Number(colNo) - 1 });
    if (pos.source === null || pos.line === null) continue;
    const where = `${pos.source}:${pos.line}:${(pos.column ?? 0) + 1}`;
    const name = fn && fn !== "__dwlScript" ? fn.replace(/^async /, "async ") : undefined;
    out.push(name ? `${at}${name} (${where})` : `${at}${where}`);
  }
  return out.join("\n");
}

/** Parses once per bundle; bundles are cached, so this is paid once per program per isolate. */
const traceMaps = new WeakMap<object, TraceMap>();

export function traceMapFor(owner: object, json: string): TraceMap {
  let map = traceMaps.get(owner);
  if (!map) {
    map = new TraceMap(json);
    traceMaps.set(owner, map);
  }
  return map;
}
