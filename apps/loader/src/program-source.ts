/**
 * @module program-source
 * From a request's `code` / `files` / `entry` / `dependencies` to what bundling needs, and the
 * content key that addresses the bundle in the cache.
 */
import { defaultEntry, type ExecuteRequest } from "@dwl/protocol";
import { sha256Hex } from "./hash.ts";
import type { SourceFiles } from "./bundle/virtual-files.ts";

/** The name a single `code` module gets in stack traces and compile errors. */
export const SINGLE_MODULE_NAME = "index.ts";
/** Bumped whenever bundling or rewriting changes its output for the same input. */
const BUNDLE_FORMAT_VERSION = "3";

export interface ProgramSource {
  files: SourceFiles;
  entry: string;
  meter: boolean;
  /** npm package name → range, as requested (resolved while bundling). */
  dependencies: Record<string, string>;
  /**
   * Content hash of everything that determines the bundle. Dependencies count as their ranges,
   * not the versions they resolve to: a cached bundle keeps the versions it was built with
   * (until it is evicted or the loader restarts), so a repeat run needs no registry at all.
   */
  key: string;
}

type SourceFields = Pick<ExecuteRequest, "code" | "files" | "entry" | "dependencies">;

export function sourceBytes(body: SourceFields): number {
  const encoder = new TextEncoder();
  if (body.code !== undefined) return encoder.encode(body.code).byteLength;
  let total = 0;
  for (const [path, text] of Object.entries(body.files ?? {}))
    total += encoder.encode(path).byteLength + encoder.encode(text).byteLength;
  return total;
}

export async function programSource(body: SourceFields, meter: boolean): Promise<ProgramSource> {
  const files: SourceFiles = body.code !== undefined ? { [SINGLE_MODULE_NAME]: body.code } : (body.files ?? {});
  const entry = body.entry ?? defaultEntry(files);
  if (entry === undefined) throw new Error("a program without an entry file passed the request check");
  const dependencies = Object.fromEntries(
    Object.entries(body.dependencies ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const parts: unknown[] = [
    BUNDLE_FORMAT_VERSION,
    meter,
    entry,
    Object.keys(files)
      .sort()
      .map((name) => [name, files[name]]),
  ];
  // Appended only when present, so the keys of programs without dependencies stay as they were.
  if (Object.keys(dependencies).length > 0) parts.push(Object.entries(dependencies));
  return { files, entry, meter, dependencies, key: await sha256Hex(JSON.stringify(parts)) };
}
