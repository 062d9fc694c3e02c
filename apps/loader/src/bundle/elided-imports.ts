/**
 * @module elided-imports
 * TypeScript drops an import whose names are only used as types, or not at all, before anything
 * resolves it (sucrase and esbuild alike, as tsc emits it), so `import x from "./nope"` in a `.ts`
 * file ran where the same line in a `.js` file is a compile error. tsc itself refuses it ("Cannot
 * find module"): so does the loader now, for the program's own files (relative imports).
 */
import { type Node, parse } from "acorn";
import { transform } from "sucrase";
import { CompileError } from "../compile-error.ts";

/** The relative specifiers `import`/`export … from` statements name (a cheap scan: may over-match). */
const RELATIVE_FROM = /\b(?:import|export)\b[^;'"`]*?\bfrom\s*(["'])(\.\.?\/[^"'\n]*)\1/g;

/** Relative specifiers in `source` that `kept` (the transformed file's imports) lacks. */
export function elidedRelativeImports(source: string, kept: ReadonlySet<string>): string[] {
  const elided = new Set<string>();
  for (const [, , spec] of source.matchAll(RELATIVE_FROM)) if (spec && !kept.has(spec)) elided.add(spec);
  return [...elided];
}

/**
 * Throws the compile error of `spec`, a relative import of TypeScript file `file` that resolves to
 * no file, when it is a real import of a value (the scan may have found it in a comment or a
 * string, and `import type` is no import of a file's code); `missing` says which files there are.
 */
export function refuseUnresolvedImport(file: string, source: string, spec: string, missing: string): void {
  let body: Node[];
  try {
    const { code } = transform(source, {
      transforms: ["typescript"],
      disableESTransforms: true,
      keepUnusedImports: true,
    });
    body = parse(code, {
      ecmaVersion: "latest",
      sourceType: "module",
      allowAwaitOutsideFunction: true,
      locations: true,
    }).body as Node[];
  } catch {
    return;
  }
  const found = body.find((node) => (node as Node & { source?: { value?: unknown } | null }).source?.value === spec);
  if (!found?.loc) return;
  // sucrase keeps every line where it was: the import is on this line of the file as written.
  const line = found.loc.start.line;
  const lineText = source.split("\n")[line - 1] ?? "";
  const column = Math.max(0, lineText.indexOf(spec)) + 1;
  throw new CompileError(
    `${file}:${line}:${column}: Cannot find module "${spec}" imported from ${file}: no such file in \`files\` (${missing})`,
    { file, line, column, lineText },
  );
}
