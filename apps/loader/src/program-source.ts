/**
 * @module program-source
 * From a request's `code` / `files` / `entry` to the files and entry point to bundle, and the
 * content key that addresses the bundle in the cache.
 */
import type { ExecuteRequest } from "@dwl/protocol";
import { sha256Hex } from "./bundle/cache.ts";
import type { SourceFiles } from "./bundle/virtual-files.ts";
import { DwlHttpError } from "./errors.ts";

/** The name a single `code` module gets in stack traces and compile errors. */
export const SINGLE_MODULE_NAME = "index.ts";
const DEFAULT_ENTRIES = ["index.ts", "index.js", "index.tsx", "index.jsx", "index.mjs"];
/** Bumped whenever bundling or rewriting changes its output for the same input. */
const BUNDLE_FORMAT_VERSION = "1";

export interface ProgramSource {
  files: SourceFiles;
  entry: string;
  meter: boolean;
  /** Content hash of everything that determines the bundle. */
  key: string;
}

type SourceFields = Pick<ExecuteRequest, "code" | "files" | "entry">;

function pickEntry(files: SourceFiles): string {
  const names = Object.keys(files);
  const found = DEFAULT_ENTRIES.find((name) => name in files) ?? (names.length === 1 ? names[0] : undefined);
  if (found === undefined) {
    throw new DwlHttpError(400, "invalid_request", "no entry file: add index.ts (or index.js) to `files`, or set `entry`", [
      { path: ["entry"], message: "required when `files` has no index.ts or index.js", code: "custom" },
    ]);
  }
  return found;
}

export function sourceBytes(body: SourceFields): number {
  const encoder = new TextEncoder();
  if (body.code !== undefined) return encoder.encode(body.code).byteLength;
  let total = 0;
  for (const [path, text] of Object.entries(body.files ?? {})) total += encoder.encode(path).byteLength + encoder.encode(text).byteLength;
  return total;
}

export async function programSource(body: SourceFields, meter: boolean): Promise<ProgramSource> {
  const files: SourceFiles = body.code !== undefined ? { [SINGLE_MODULE_NAME]: body.code } : (body.files ?? {});
  const entry = body.entry ?? pickEntry(files);
  const canonical = JSON.stringify([BUNDLE_FORMAT_VERSION, meter, entry, Object.keys(files).sort().map((name) => [name, files[name]])]);
  return { files, entry, meter, key: await sha256Hex(canonical) };
}
