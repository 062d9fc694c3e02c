/**
 * @module modules
 * Programs that need no bundler: JavaScript, TypeScript and JSON files that import each other,
 * runtime built-ins and npm packages (built apart once per package set, package-modules.ts).
 * Each file becomes a module of its own in the child (the Worker Loader takes many per
 * isolate), so the runtime links imports with ES module semantics (`export *` chains, circular
 * imports) and nothing is bundled. A file is transformed once per
 * content: sucrase strips TypeScript keeping every line where it was, acorn parses the result
 * for the fuel checks, and the outcome is cached, so a new program that edits one of three
 * files transforms that file alone. esbuild costs a fixed ~20 ms per call in the loader isolate
 * however small the input (docs/performance.md); this path costs what the files do.
 *
 * Anything this path does not serve the way one esbuild bundle would returns undefined and goes
 * to esbuild (bundle.ts), which also words every compile error: JSX, decorators
 * and other syntax acorn rejects after sucrase, `require` and CommonJS, `import()`,
 * `cloudflare:sockets`, import attributes, a file or named export that does not exist (or that
 * two `export *` make ambiguous; a named import of a CommonJS package among them), `export *` of
 * a package, a script-shaped entry that imports files or packages (a bundle runs their top level
 * on every call), file names that are not plain URL path segments, and the TypeScript sucrase
 * compiles otherwise: namespaces, `export =`, parameter properties beside fields or a base
 * class, enum members that may be strings.
 */
import type { Class, Expression, Node } from "acorn";
import { simple } from "acorn-walk";
import { transform } from "sucrase";
import { sha256Hex } from "../hash.ts";
import { MAX_BUNDLE_BYTES, MAX_MODULE_CACHE_BYTES } from "../limits.ts";
import { MemoryCache } from "../memory-cache.ts";
import { nodeBuiltin } from "../npm/node-builtins.ts";
import { loneFunction } from "./entry-shape.ts";
import { parseModule, rewriteBundle, type Program } from "./rewrite.ts";
import type { PackageModules } from "./package-modules.ts";
import { findFile, joinPath, SOCKETS_SPECIFIER, type SourceFiles } from "./virtual-files.ts";

/** Folder of the user's files among the child's modules (the harness is `harness.js`, the entry `user.js`). */
const USER_FOLDER = "user/";

/** A module of the child besides the entry alias: its code and its source map to the user's file. */
export interface ChildModule {
  code: string;
  map: string;
}

/** One file as the child runs it, with what linking it needs to know. */
interface ModuleFile extends ChildModule {
  /** Export names, `default` included (a wrapped script and a lone function export one). */
  exports: string[];
  /** Specifiers of `export * from`, whose names (but `default`) it exports too. */
  stars: string[];
  /** Relative imports: each specifier and the names it imports (`*` for a namespace). */
  imports: { spec: string; names: string[] }[];
}

export interface LinkedProgram {
  /** The entry module (`user.js`): re-exports the entry file's module. */
  code: string;
  modules: Record<string, ChildModule>;
  shape: "module" | "script";
}

/** Files this path transforms; anything else goes to esbuild. */
const TYPESCRIPT = /\.m?ts$/;
const JAVASCRIPT = /\.m?js$/;
/** A plain path of URL-safe segments: the runtime resolves relative specifiers as URLs. */
const PLAIN_PATH = /^[\w@-]+(?:\.[\w-]+)*(?:\/[\w@-]+(?:\.[\w-]+)*)*$/;
/** Over-matching (in a string, a comment) only costs this path, never correctness. */
const NEEDS_BUNDLER = /\bimport\s*\(|\brequire\s*\(|\bmodule\.exports\b|\bexports\.\w|\bimport\.meta\b/;
/**
 * TypeScript that sucrase does not strip the way esbuild compiles it: a namespace (or its older
 * `module N {}` spelling) with values, which sucrase drops without a word (its uses then throw
 * ReferenceError), and `export =`, which it turns into a `module.exports` the module lacks.
 */
const NEEDS_TYPESCRIPT_COMPILER = /\b(?:namespace|module)\s+[\w$.]+\s*\{|\bexport\s*=(?!=)/;

/** Transformed files, by path, contents and options; `null`: the file needs esbuild. */
const transformed = new MemoryCache<ModuleFile | null>(MAX_MODULE_CACHE_BYTES, (file) =>
  file ? (file.code.length + file.map.length) * 2 : 64,
);
/** Files transformed (cache misses), for tests. */
export const moduleStats = { transforms: 0 };

/** The packages' modules for the bare specifiers the program imports (sorted, distinct). */
export type PackagesFor = (specifiers: string[]) => Promise<PackageModules | undefined>;

/**
 * Builds the program as one module per file, or returns undefined when it needs esbuild. Only
 * files reachable from the entry are transformed, as a bundle would include only those.
 */
export async function linkModules(
  files: SourceFiles,
  entry: string,
  meter: boolean,
  packagesFor?: PackagesFor,
): Promise<LinkedProgram | undefined> {
  const byPath = new Map<string, ModuleFile>();
  const bare: { importer: string; spec: string }[] = [];
  const queue = [entry];
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    if (byPath.has(path)) continue;
    const file = await transformedFile(path, files[path] ?? "", path === entry, meter);
    if (!file) return undefined;
    byPath.set(path, file);
    for (const { spec } of file.imports) {
      if (!isRelative(spec)) bare.push({ importer: path, spec });
      else {
        const target = resolve(files, path, spec);
        if (target === undefined) return undefined;
        queue.push(target);
      }
    }
  }
  let packages: PackageModules | undefined;
  if (bare.length > 0) {
    packages = await packagesFor?.([...new Set(bare.map(({ spec }) => spec))].sort());
    if (!packages) return undefined;
  }
  const packageExports = (spec: string) =>
    new Map((packages?.entries[spec]?.exports ?? []).map((name) => [name, spec]));
  const exportsOf = (importer: string, spec: string): Map<string, string> =>
    isRelative(spec) ? namesOf(resolve(files, importer, spec)!) : packageExports(spec);
  /** Each file's export names and the file each comes from (its own names: that file). */
  const exported = new Map<string, Map<string, string>>();
  const namesOf = (path: string, seen = new Set<string>()): Map<string, string> => {
    const known = exported.get(path);
    if (known) return known;
    const file = byPath.get(path)!;
    const names = new Map(file.exports.map((name) => [name, path]));
    seen.add(path);
    const starred = new Map<string, string>();
    for (const spec of file.stars) {
      const target = resolve(files, path, spec)!;
      if (seen.has(target)) continue;
      for (const [name, origin] of namesOf(target, seen)) {
        if (name === "default" || names.has(name)) continue;
        const other = starred.get(name);
        starred.set(name, other === undefined || other === origin ? origin : AMBIGUOUS);
      }
    }
    for (const [name, origin] of starred) names.set(name, origin);
    if (seen.size === 1) exported.set(path, names);
    seen.delete(path);
    return names;
  };

  const modules: Record<string, ChildModule> = { ...packages?.modules };
  let bytes = 0;
  for (const { code } of Object.values(modules)) bytes += code.length;
  for (const [path, { code, map }] of byPath) {
    modules[USER_FOLDER + path] = { code, map };
    bytes += code.length;
  }
  // The runtime resolves a specifier as a URL against the importer's module name (a bare one
  // too, as if it were relative); where that is not the target's own name (no extension, `.js`
  // for `.ts`, a folder's index, a package), a module of that name re-exports the target.
  const aliases = new Map<string, { target: string; exports: string[] }>();
  for (const [path, file] of byPath) {
    for (const { spec, names } of file.imports) {
      // Every named import and re-export must find its name, as esbuild checks when it links; a
      // name that two `export *` bring from different modules is ambiguous: the runtime would
      // refuse to link an import of it (a SyntaxError without a line), esbuild says where.
      const available = exportsOf(path, spec);
      if (names.some((name) => name !== "*" && (available.get(name) ?? AMBIGUOUS) === AMBIGUOUS)) return undefined;
      const alias = urlPath(path, spec);
      const resolved = isRelative(spec) ? resolve(files, path, spec)! : undefined;
      const target = resolved !== undefined ? USER_FOLDER + resolved : packages?.entries[spec]?.module;
      if (alias === undefined || target === undefined) return undefined;
      if (alias === target) continue;
      if ((aliases.get(alias)?.target ?? target) !== target || Object.hasOwn(modules, alias)) return undefined;
      const exports = resolved !== undefined ? byPath.get(resolved)!.exports : packages!.entries[spec]!.exports;
      aliases.set(alias, { target, exports });
    }
  }
  for (const [alias, { target, exports }] of aliases) {
    modules[alias] = { code: reexport(relativeSpecifier(alias, target), exports), map: emptyMap(target) };
  }
  if (bytes > MAX_BUNDLE_BYTES) return undefined;
  const entryFile = byPath.get(entry)!;
  return {
    code: reexport(`./${USER_FOLDER}${entry}`, entryFile.exports),
    modules,
    shape: entryFile.exports.includes("default") ? "module" : "script",
  };
}

/** Where a name exported through two `export *` from different modules comes from: nowhere. */
const AMBIGUOUS = "";

/** The child module the runtime looks for when `importer` imports `spec`; undefined when that is no plain name. */
function urlPath(importer: string, spec: string): string | undefined {
  const { pathname } = new URL(spec, `file:///${USER_FOLDER}${importer}`);
  const path = pathname.slice(1);
  return pathname.startsWith(`/${USER_FOLDER}`) && PLAIN_PATH.test(path) ? path : undefined;
}

function resolve(files: SourceFiles, importer: string, spec: string): string | undefined {
  const joined = joinPath(importer, spec);
  const found = joined === null ? undefined : findFile(files, joined);
  return found !== undefined && PLAIN_PATH.test(found) ? found : undefined;
}

/** A module re-exporting, from `specifier`, a module that exports `names`. */
function reexport(specifier: string, names: string[]): string {
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

const emptyMap = (source: string) => JSON.stringify({ version: 3, sources: [source], names: [], mappings: "" });

async function transformedFile(
  path: string,
  source: string,
  isEntry: boolean,
  meter: boolean,
): Promise<ModuleFile | undefined> {
  if (!PLAIN_PATH.test(path)) return undefined;
  const key = await sha256Hex(JSON.stringify([path, source, isEntry, meter]));
  return (
    (await transformed.get(key, async () => {
      moduleStats.transforms++;
      return transformFile(path, source, isEntry, meter) ?? null;
    })) ?? undefined
  );
}

function transformFile(path: string, source: string, isEntry: boolean, meter: boolean): ModuleFile | undefined {
  if (path.endsWith(".json")) return isEntry ? undefined : jsonModule(path, source);
  const typescript = TYPESCRIPT.test(path);
  if ((!typescript && !JAVASCRIPT.test(path)) || NEEDS_BUNDLER.test(source)) return undefined;
  if (typescript && NEEDS_TYPESCRIPT_COMPILER.test(source)) return undefined;
  let code = source;
  let map: string | undefined;
  if (typescript) {
    try {
      const out = transform(source, {
        transforms: ["typescript"],
        disableESTransforms: true,
        filePath: path,
        sourceMapOptions: { compiledFilename: path },
      });
      code = out.code;
      map = JSON.stringify(out.sourceMap);
    } catch {
      return undefined;
    }
  }
  let program: Program;
  try {
    program = parseModule(code);
  } catch {
    return undefined;
  }
  if (typescript && (hasParameterProperties(program) || hasEnumStringGuess(program))) return undefined;
  const linking = linkingOf(program);
  if (!linking) return undefined;
  let exportDefaultAt: number | undefined;
  let wrapScript = false;
  if (isEntry && !linking.exports.includes("default")) {
    const lone = loneFunction(program.body);
    if (lone) exportDefaultAt = lone.start;
    else if (linking.imports.length > 0) return undefined;
    else wrapScript = true;
    // The wrapper takes a script's named exports into its function body.
    linking.exports = wrapScript ? ["default"] : [...linking.exports, "default"];
  }
  const rewritten = rewriteBundle(
    { code, fileName: USER_FOLDER + path, source: map ? { map } : { name: path }, program },
    { wrapScript, meter, ...(exportDefaultAt !== undefined ? { exportDefaultAt } : {}) },
  );
  return { code: rewritten.code, map: rewritten.map, ...linking };
}

/**
 * Whether a class stores constructor parameters as same-named properties, which is what sucrase
 * makes of parameter properties (`constructor(public x)` → `this.x = x`), and also has instance
 * fields or a base class. esbuild, as TypeScript, declares `x` as a field besides: ahead of the
 * class's own fields (an instance's keys, its JSON and its log line, come in that order) and
 * defined rather than assigned (a base class's `x` accessor is not called). A constructor that
 * assigns so itself only costs this path.
 */
function hasParameterProperties(program: Program): boolean {
  let found = false;
  const check = (node: Class) => {
    const members = node.body.body;
    if (found || (!node.superClass && !members.some((m) => m.type === "PropertyDefinition" && !m.static))) return;
    const ctor = members.find((member) => member.type === "MethodDefinition" && member.kind === "constructor");
    if (ctor?.type !== "MethodDefinition") return;
    const params = new Set<string>();
    for (const param of ctor.value.params) {
      const id = param.type === "AssignmentPattern" ? param.left : param;
      if (id.type === "Identifier") params.add(id.name);
    }
    found = ctor.value.body.body.some((statement) => {
      if (statement.type !== "ExpressionStatement" || statement.expression.type !== "AssignmentExpression")
        return false;
      const { left, right } = statement.expression;
      return (
        left.type === "MemberExpression" &&
        left.object.type === "ThisExpression" &&
        !left.computed &&
        left.property.type === "Identifier" &&
        params.has(left.property.name) &&
        right.type === "Identifier" &&
        right.name === left.property.name
      );
    });
  };
  simple(program, { ClassDeclaration: check, ClassExpression: check });
  return found;
}

/**
 * Whether an enum has a member whose value may be a string and that sucrase maps back from its
 * value (`E[E["B"] = B] = "B"`), as it does for every member not set to a string literal. esbuild
 * works out `B = \`b\``, `B = A + "b"` or `B = Other.X` to be strings, which get no reverse
 * entry (`Object.values(E)` lists no member names). Sucrase declares each member as a `const`
 * in the enum's function; a number, an earlier number member, or arithmetic is safe.
 */
function hasEnumStringGuess(program: Program): boolean {
  let found = false;
  simple(program, {
    FunctionExpression(fn) {
      if (found) return;
      const numbers = new Set<string>();
      const values = new Map<string, Expression>();
      const isNumber = (node: Expression): boolean =>
        node.type === "Literal"
          ? typeof node.value === "number" || typeof node.value === "bigint"
          : node.type === "Identifier"
            ? numbers.has(node.name)
            : node.type === "UnaryExpression"
              ? ["-", "+", "~"].includes(node.operator)
              : node.type === "BinaryExpression" &&
                (node.operator !== "+" ||
                  (node.left.type !== "PrivateIdentifier" && isNumber(node.left) && isNumber(node.right)));
      for (const statement of fn.body.body) {
        if (statement.type === "VariableDeclaration" && statement.kind === "const") {
          for (const { id, init } of statement.declarations)
            if (id.type === "Identifier" && init) values.set(id.name, init);
          continue;
        }
        if (statement.type !== "ExpressionStatement" || statement.expression.type !== "AssignmentExpression") continue;
        const { left } = statement.expression;
        if (left.type !== "MemberExpression" || !left.computed || left.property.type !== "AssignmentExpression")
          continue;
        const value = left.property.right;
        const init = value.type === "Identifier" ? values.get(value.name) : value;
        if (!init || !isNumber(init)) found = true;
        else if (value.type === "Identifier") numbers.add(value.name);
      }
    },
  });
  return found;
}

type ModuleSource = { value: string } | null | undefined;
type Specifier = Node & {
  local?: { name?: string };
  imported?: { name?: string; value?: string };
  exported?: { name?: string; value?: string } | null;
};
type Declaration = Node & {
  source?: ModuleSource;
  specifiers?: Specifier[];
  declaration?: (Node & { id?: { name: string } | null; declarations?: (Node & { id: Node })[] }) | null;
  exported?: { name?: string; value?: string } | null;
  attributes?: unknown[];
};

const nameOf = (id: { name?: string; value?: string } | null | undefined) => id?.name ?? id?.value ?? "";

/** A module's imports and exports, or undefined when one of them needs esbuild. */
function linkingOf(program: Program): Omit<ModuleFile, "code" | "map"> | undefined {
  const linking: Omit<ModuleFile, "code" | "map"> = { exports: [], stars: [], imports: [] };
  for (const node of program.body as Declaration[]) {
    const spec = node.source?.value;
    if (spec !== undefined) {
      if (node.attributes?.length) return undefined;
      const runtime = isRuntimeModule(spec);
      if (runtime === undefined) return undefined;
      if (runtime) {
        // Left to the runtime as written.
      } else if (node.type === "ImportDeclaration") {
        const names = (node.specifiers ?? []).map((s) =>
          s.type === "ImportNamespaceSpecifier"
            ? "*"
            : s.type === "ImportDefaultSpecifier"
              ? "default"
              : nameOf(s.imported),
        );
        linking.imports.push({ spec, names });
      } else if (node.type === "ExportAllDeclaration") {
        // `export *` of a package would need the package's names to check a program's imports.
        if (!isRelative(spec) && !node.exported) return undefined;
        linking.imports.push({ spec, names: ["*"] });
        if (node.exported) linking.exports.push(nameOf(node.exported));
        else linking.stars.push(spec);
      } else {
        linking.imports.push({ spec, names: (node.specifiers ?? []).map((s) => nameOf(s.local)) });
      }
    }
    if (node.type === "ExportDefaultDeclaration") linking.exports.push("default");
    if (node.type === "ExportNamedDeclaration") {
      for (const s of node.specifiers ?? []) linking.exports.push(nameOf(s.exported));
      const declaration = node.declaration;
      if (declaration?.id) linking.exports.push(declaration.id.name);
      for (const d of declaration?.declarations ?? []) {
        // A destructuring export names bindings this pass does not list: esbuild checks those.
        if (d.id.type !== "Identifier") return undefined;
        linking.exports.push((d.id as Node & { name: string }).name);
      }
    }
  }
  return linking;
}

const isRelative = (spec: string) => spec.startsWith("./") || spec.startsWith("../");

/**
 * True for a specifier the child's runtime serves as it stands, false for a user file or a
 * package, undefined for what only esbuild serves (`cloudflare:sockets`, a built-in without its
 * `node:` prefix or missing from the runtime, a root-relative path).
 */
function isRuntimeModule(spec: string): boolean | undefined {
  if (spec === SOCKETS_SPECIFIER || spec.startsWith("/")) return undefined;
  if (spec.startsWith("cloudflare:")) return true;
  const builtin = nodeBuiltin(spec);
  if (builtin === undefined) return false;
  return "available" in builtin && builtin.available === spec ? true : undefined;
}

/** A lone surrogate, which an export name (a string) cannot hold. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * A JSON file as a module: its value as the default export and each key of an object by name, as
 * esbuild exports them (`import * as data` sees `data["a-b"]` too).
 */
function jsonModule(path: string, source: string): ModuleFile | undefined {
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch {
    return undefined;
  }
  const keys =
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.keys(value).filter((key) => key !== "default" && !LONE_SURROGATE.test(key))
      : [];
  const code = [
    `const value = JSON.parse(${JSON.stringify(source)});`,
    "export default value;",
    ...keys.map((key, i) => `const k${i} = value[${JSON.stringify(key)}]; export { k${i} as ${JSON.stringify(key)} };`),
    "",
  ].join("\n");
  return { code, map: emptyMap(path), exports: ["default", ...keys], stars: [], imports: [] };
}
