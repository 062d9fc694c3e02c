/**
 * @module runtime-modules
 * What the runtime serves a child by name: its `cloudflare:` modules, and the names each module it
 * serves exports. An import of a module or a name it lacks would otherwise pass bundling and fail
 * as the child links the program ("No such module", "does not provide an export named"), a
 * `runtime` error without a location, and a sandbox with one would be stored, then fail every run.
 */
import type { SourceLocation } from "@dwl/protocol";
import { CompileError } from "../compile-error.ts";

/**
 * `cloudflare:` modules a child can import at CHILD_COMPATIBILITY_DATE, named when one it lacks
 * is imported. A hint, not the test: that is whether the module imports (runtimeExports).
 */
export const CLOUDFLARE_MODULES = [
  "cloudflare:ai",
  "cloudflare:br",
  "cloudflare:durable-objects",
  "cloudflare:node",
  "cloudflare:pipelines",
  "cloudflare:sockets",
  "cloudflare:vectorize",
  "cloudflare:workers",
  "cloudflare:workflows",
];

/** What a program is told when it imports a `cloudflare:` module the runtime lacks. */
export const noSuchModule = (spec: string): string =>
  `No such module "${spec}": the runtime's cloudflare: modules include ${CLOUDFLARE_MODULES.map((name) => `"${name}"`).join(", ")}`;

/**
 * Modules the loader has and a child does not: `cloudflare:email` needs an internal module the
 * runtime gives Workers but not dynamic workers (a child's import of it fails to link).
 */
const NOT_IN_CHILDREN: ReadonlySet<string> = new Set(["cloudflare:email"]);

/** Modules the loader could import, by specifier. Only those: a program may name any other. */
const exportsOf = new Map<string, Promise<ReadonlySet<string> | undefined>>();

/**
 * The names `spec` exports, learned by importing it here: the loader runs with the children's
 * compatibility date and flags (limits.ts CHILD_COMPATIBILITY_*, wrangler.toml), so its
 * built-in modules are theirs. Undefined when the runtime has no such module. Only asked for
 * specifiers the runtime serves (virtual-files.ts `servedBy`); a failed import is not kept, so
 * programs naming made-up `cloudflare:` modules cannot grow the map.
 */
export function runtimeExports(spec: string): Promise<ReadonlySet<string> | undefined> {
  if (NOT_IN_CHILDREN.has(spec)) return Promise.resolve(undefined);
  let names = exportsOf.get(spec);
  if (!names) {
    names = import(/* @vite-ignore */ spec).then(
      (namespace: object) => new Set(Object.keys(namespace)),
      () => {
        exportsOf.delete(spec);
        return undefined;
      },
    );
    exportsOf.set(spec, names);
  }
  return names;
}

/** One import of a module the runtime serves: the names it takes (`*` for a namespace) and where. */
export interface RuntimeImport {
  spec: string;
  names: string[];
  /** 1-based line of the import in the file, as the user wrote it. */
  line: number;
}

const NAMES_SHOWN = 40;

/**
 * Throws a CompileError at the first of `imports` (of `file`, whose text is `source`) of a
 * `cloudflare:` module the runtime lacks, or that takes a name its module does not export.
 */
export async function checkRuntimeImports(imports: RuntimeImport[], file: string, source: string): Promise<void> {
  for (const { spec, names, line } of imports) {
    const exported = await runtimeExports(spec);
    if (exported === undefined && spec.startsWith("cloudflare:")) {
      const location = locate(source, file, line, spec);
      throw new CompileError(`${file}:${location.line}:${location.column}: ${noSuchModule(spec)}`, location);
    }
    const missing = exported && names.find((name) => name !== "*" && !exported.has(name));
    if (missing === undefined || exported === undefined) continue;
    const available = [...exported].filter((name) => name !== "default").sort();
    const list = available.slice(0, NAMES_SHOWN).join(", ") + (available.length > NAMES_SHOWN ? ", …" : "");
    const what = missing === "default" ? "no default export" : `no export named "${missing}"`;
    const location = locate(source, file, line, missing === "default" ? spec : missing);
    throw new CompileError(
      `${file}:${location.line}:${location.column}: "${spec}" has ${what} (it exports: ${list})`,
      location,
    );
  }
}

/** Where `word` is on `line` of `source` (its start when the line does not hold it). */
function locate(source: string, file: string, line: number, word: string): SourceLocation {
  const lineText = source.split("\n")[line - 1] ?? "";
  const at = lineText.search(new RegExp(`(?<![\\w$])${word.replace(/[$.*+?^()[\]{}|\\/:-]/g, "\\$&")}(?![\\w$])`));
  return { file, line, column: Math.max(at, 0) + 1, lineText };
}

interface ModuleDeclaration {
  type: string;
  start: number;
  specifiers?: { type: string; imported?: NameNode; local?: NameNode }[];
}
type NameNode = { name?: string; value?: string } | null;
/** An identifier's name, or a string export name's value (`export { x as "a b" }`). */
export const nameOf = (node: NameNode | undefined) => node?.name ?? node?.value ?? "";

/**
 * The names an `import`, `export … from` or `export * from` takes from its module: `*` for a
 * namespace (and for `export *`), `default` for a default import.
 */
export function importedNames(node: ModuleDeclaration): string[] {
  if (node.type === "ExportAllDeclaration") return ["*"];
  return (node.specifiers ?? []).map((s) =>
    s.type === "ImportNamespaceSpecifier"
      ? "*"
      : s.type === "ImportDefaultSpecifier"
        ? "default"
        : nameOf(node.type === "ImportDeclaration" ? s.imported : s.local),
  );
}

/** The runtime import that `node` of `code` is: of a module the runtime serves, the names it takes. */
export function runtimeImport(node: ModuleDeclaration, spec: string, code: string): RuntimeImport {
  let line = 1;
  for (let at = code.indexOf("\n"); at !== -1 && at < node.start; at = code.indexOf("\n", at + 1)) line++;
  return { spec, names: importedNames(node), line };
}
