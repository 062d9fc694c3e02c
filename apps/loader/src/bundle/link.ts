/**
 * @module link
 * Links modules transformed one per file (modules.ts for the program's files, package-files.ts
 * for its npm packages) the way one esbuild bundle would check them, leaving the linking itself
 * to the runtime: every named import must find its name in what its target exports (`export *`
 * chains and cycles included), and where the runtime would look an import up under a name that
 * is not its target's own (no extension, `.js` for `.ts`, a folder's index, a bare specifier), a
 * module of that name re-exports the target. The runtime resolves every specifier as a URL
 * against its importer's module name, a bare one too, as if it were relative.
 */
import type { RuntimeImport } from "./runtime-modules.ts";

/** A module of the child besides the entry alias: its code and its source map. */
export interface ChildModule {
  code: string;
  map: string;
}

/** One file as the child runs it, with what linking it needs to know. */
export interface ModuleFile extends ChildModule {
  /** Export names, `default` included (a wrapped script and a lone function export one). */
  exports: string[];
  /** Specifiers of `export * from`, whose names (but `default`) it exports too. */
  stars: string[];
  /** Imports the runtime does not serve itself: each specifier and the names it imports (`*` for a namespace). */
  imports: { spec: string; names: string[] }[];
  /** Node built-ins imported by their bare names (`fs`), left as written for the runtime. */
  builtins?: string[];
  /** Imports of modules the runtime serves (`node:*`, `cloudflare:*`, bare built-ins), checked by name. */
  runtime?: RuntimeImport[];
  /** Relative imports TypeScript dropped (names used only as types, or not at all): must still resolve. */
  elided?: string[];
}

/** Folder of the packages' modules in the child (the program's files are under `user/`). */
export const PACKAGES_FOLDER = "npm/";

/** A program's npm packages as modules of the child (package-modules.ts). */
export interface PackageModules {
  /** Code and source map of each module, by its name in the child. */
  modules: Record<string, ChildModule>;
  /** Each imported specifier's entry module (a name in `modules`) and its export names. */
  entries: Record<string, { module: string; exports: string[] }>;
}

/** A plain path of URL-safe segments: the runtime resolves relative specifiers as URLs. */
export const PLAIN_PATH = /^[\w@-]+(?:\.[\w-]+)*(?:\/[\w@-]+(?:\.[\w-]+)*)*$/;

/** Where a name exported through two `export *` from different modules comes from: nowhere. */
const AMBIGUOUS = "";

export interface Graph {
  /** The transformed modules, by module name. */
  files: Map<string, ModuleFile>;
  /** The module name `spec` means when `importer` imports it (in `files` or not); undefined: none. */
  target(importer: string, spec: string): string | undefined;
  /** Export names of a module outside `files` (already linked: the packages' entries). */
  outside(name: string): string[] | undefined;
}

export interface Linked {
  /** Alias modules to add to the child's, by name. */
  aliases: Record<string, ChildModule>;
  /** The names a module exports, through its `export *` chains; names two of them make ambiguous are left out. */
  exportNames(name: string): string[];
}

/**
 * Checks every import of `graph` and names the alias modules the runtime needs; undefined when
 * an import cannot be served so (a missing or ambiguous name, a lookup name that is no plain
 * path, leaves the importer's top folder, or is taken by another module or another target).
 * `taken`: module names already given to the child.
 */
export function link(graph: Graph, taken: (name: string) => boolean): Linked | undefined {
  const exported = new Map<string, Map<string, string>>();
  /** Each export name of `name` and the module it comes from (its own names: `name`). */
  const namesOf = (name: string, seen = new Set<string>()): Map<string, string> => {
    const known = exported.get(name);
    if (known) return known;
    const file = graph.files.get(name);
    if (!file) {
      const names = new Map((graph.outside(name) ?? []).map((n) => [n, name]));
      exported.set(name, names);
      return names;
    }
    const names = new Map(file.exports.map((n) => [n, name]));
    seen.add(name);
    const starred = new Map<string, string>();
    for (const spec of file.stars) {
      const target = graph.target(name, spec);
      if (target === undefined || seen.has(target)) continue;
      for (const [n, origin] of namesOf(target, seen)) {
        if (n === "default" || names.has(n)) continue;
        const other = starred.get(n);
        starred.set(n, other === undefined || other === origin ? origin : AMBIGUOUS);
      }
    }
    for (const [n, origin] of starred) names.set(n, origin);
    // Names seen from inside a cycle may be partial: only the outermost call's are kept.
    if (seen.size === 1) exported.set(name, names);
    seen.delete(name);
    return names;
  };

  const aliases = new Map<string, string>();
  for (const [importer, file] of graph.files) {
    for (const { spec, names } of file.imports) {
      const target = graph.target(importer, spec);
      if (target === undefined) return undefined;
      // Every named import and re-export must find its name, as esbuild checks when it links; a
      // name that two `export *` bring from different modules is ambiguous: the runtime would
      // refuse to link an import of it (a SyntaxError without a line), esbuild says where.
      const available = namesOf(target);
      if (names.some((n) => n !== "*" && (available.get(n) ?? AMBIGUOUS) === AMBIGUOUS)) return undefined;
      const alias = lookupName(importer, spec);
      if (alias === undefined) return undefined;
      if (alias === target) continue;
      if ((aliases.get(alias) ?? target) !== target || graph.files.has(alias) || taken(alias)) return undefined;
      aliases.set(alias, target);
    }
  }
  const modules: Record<string, ChildModule> = {};
  for (const [alias, target] of aliases) {
    const exports = graph.files.get(target)?.exports ?? graph.outside(target) ?? [];
    modules[alias] = { code: reexport(relativeSpecifier(alias, target), exports), map: emptyMap(target) };
  }
  return {
    aliases: modules,
    exportNames: (name) => [...namesOf(name)].filter(([, origin]) => origin !== AMBIGUOUS).map(([n]) => n),
  };
}

/** The module name the runtime looks up when `importer` imports `spec`; undefined when it is no plain path in the importer's top folder. */
function lookupName(importer: string, spec: string): string | undefined {
  // A query or fragment (`#internal` of a package's `imports`) is not part of a module's name.
  if (/[?#%\\]/.test(spec)) return undefined;
  const { pathname } = new URL(spec, `file:///${importer}`);
  const path = pathname.slice(1);
  const folder = importer.slice(0, importer.indexOf("/") + 1);
  return folder !== "" && path.startsWith(folder) && PLAIN_PATH.test(path) ? path : undefined;
}

/** A module re-exporting, from `specifier`, a module that exports `names`. */
export function reexport(specifier: string, names: string[]): string {
  const from = JSON.stringify(specifier);
  return `export * from ${from};${names.includes("default") ? ` export { default } from ${from};` : ""}\n`;
}

/** The module `to` as a specifier relative to the module `from`. */
function relativeSpecifier(from: string, to: string): string {
  const fromDir = from.split("/").slice(0, -1);
  const target = to.split("/");
  let common = 0;
  while (common < fromDir.length && common < target.length - 1 && fromDir[common] === target[common]) common++;
  const up = fromDir.length - common;
  return `${up === 0 ? "./" : "../".repeat(up)}${target.slice(common).join("/")}`;
}

export const emptyMap = (source: string) => JSON.stringify({ version: 3, sources: [source], names: [], mappings: "" });
