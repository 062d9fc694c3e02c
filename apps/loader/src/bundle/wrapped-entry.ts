/**
 * @module wrapped-entry
 * An entry that entry-shape.ts wraps (a function body, a CommonJS entry) gets its wrapper's head
 * on line 1, so its lines stay the user's, but line 1's columns move right by the head's length.
 * This moves them back, in the bundle's source maps (stack frames) and in a compile error's
 * location, so both point at the user's own text.
 */
import { decode, encode } from "@jridgewell/sourcemap-codec";
import { CompileError } from "../compile-error.ts";

/** `entry`'s text as the user wrote it, and how many characters the wrapper put before line 1. */
export interface WrappedEntry {
  entry: string;
  original: string;
  headLength: number;
}

/** What of a bundle (bundle.ts) holds source maps: its main module and the modules beside it. */
interface Mapped {
  map: string;
  modules?: Record<string, { map: string }>;
}

/** The bundle with every mapping into line 1 of the entry moved back by the wrapper's head. */
export function unwrapBundle<B extends Mapped>(bundle: B, wrapped: WrappedEntry): B {
  const modules = bundle.modules
    ? Object.fromEntries(
        Object.entries(bundle.modules).map(([name, module]) => [
          name,
          { ...module, map: unwrapMap(module.map, wrapped) },
        ]),
      )
    : undefined;
  return { ...bundle, map: unwrapMap(bundle.map, wrapped), ...(modules ? { modules } : {}) };
}

function unwrapMap(json: string, { entry, headLength }: WrappedEntry): string {
  const map = JSON.parse(json) as { sources: string[]; mappings: string };
  const source = map.sources.indexOf(entry);
  if (source < 0) return json;
  const lines = decode(map.mappings);
  for (const line of lines)
    for (const segment of line) {
      const column = segment[3];
      if (segment[1] === source && segment[2] === 0 && column !== undefined)
        segment[3] = Math.max(0, column - headLength);
    }
  map.mappings = encode(lines);
  return JSON.stringify(map);
}

/** A compile error located on the entry's line 1, its column and line text the user's own. */
export function unwrapCompileError(err: unknown, { entry, original, headLength }: WrappedEntry): unknown {
  if (!(err instanceof CompileError) || err.location?.file !== entry || err.location.line !== 1) return err;
  const column = Math.max(1, err.location.column - headLength);
  const where = `${entry}:1:`;
  const message = err.message.startsWith(`${where}${err.location.column}:`)
    ? `${where}${column}:${err.message.slice(`${where}${err.location.column}:`.length)}`
    : err.message;
  const lineText = original.split("\n", 1)[0] ?? "";
  return new CompileError(message, { ...err.location, column, lineText });
}
