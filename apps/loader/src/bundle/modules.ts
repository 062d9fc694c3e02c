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
import { ancestor, simple } from "acorn-walk";
import { transform } from "sucrase";
import { sha256Hex } from "../hash.ts";
import { MAX_BUNDLE_BYTES, MAX_MODULE_CACHE_BYTES } from "../limits.ts";
import { MemoryCache } from "../memory-cache.ts";
import { entryFunction } from "./entry-shape.ts";
import { elidedRelativeImports, refuseUnresolvedImport } from "./elided-imports.ts";
import { checkRuntimeImports, importedNames, nameOf, runtimeImport } from "./runtime-modules.ts";
import { parseModule, rewriteBundle, type Program } from "./rewrite.ts";
import { fileList, findFile, joinPath, servedAsWritten, servedBy, type SourceFiles } from "./virtual-files.ts";
import {
  emptyMap,
  link,
  PLAIN_PATH,
  reexport,
  type ChildModule,
  type ModuleFile,
  type PackageModules,
} from "./link.ts";

/** Folder of the user's files among the child's modules (the harness is `harness.js`, the entry `user.js`). */
const USER_FOLDER = "user/";

export interface LinkedProgram {
  /** The entry module (`user.js`): re-exports the entry file's module. */
  code: string;
  modules: Record<string, ChildModule>;
  shape: "module" | "script";
}

/** Files this path transforms; anything else goes to esbuild. */
const TYPESCRIPT = /\.m?ts$/;
const JAVASCRIPT = /\.m?js$/;
/**
 * Names that make a file CommonJS to esbuild when it uses them unbound (`exports[k]`,
 * `Object.defineProperty(exports, …)`, `typeof module`, `require.resolve`); a local of one of
 * those names only costs this path.
 */
const COMMONJS_NAMES = new Set(["require", "module", "exports"]);
/** Nodes inside which `this` is not the module's. */
const OWN_THIS = new Set(["FunctionDeclaration", "FunctionExpression", "ClassBody"]);
/**
 * TypeScript that sucrase does not strip the way esbuild compiles it: a namespace (or its older
 * `module N {}` spelling) with values, which sucrase drops without a word (its uses then throw
 * ReferenceError), and `export =`, which it turns into a `module.exports` the module lacks.
 */
const NEEDS_TYPESCRIPT_COMPILER = /\b(?:namespace|module)\s+[\w$.]+\s*\{|\bexport\s*=(?!=)/;

/** Transformed files, by module name, display name, contents and options; `null`: the file needs esbuild. */
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
  listsPackage: (name: string) => boolean = () => false,
): Promise<LinkedProgram | undefined> {
  const byName = new Map<string, ModuleFile>();
  const bare = new Set<string>();
  const queue = [entry];
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    const name = USER_FOLDER + path;
    if (byName.has(name)) continue;
    const file = await transformedFile(
      { module: name, display: path, source: files[path] ?? "", isEntry: path === entry },
      meter,
    );
    if (!file) return undefined;
    await checkRuntimeImports(file.runtime ?? [], path, files[path] ?? "");
    for (const spec of file.elided ?? [])
      if (resolve(files, path, spec) === undefined && !declares(files, path, spec))
        refuseUnresolvedImport(path, files[path] ?? "", spec, fileList(files));
    // A built-in's bare name that the program also lists as a package is that package: esbuild's.
    if (file.builtins?.some((spec) => !servedAsWritten(spec, listsPackage))) return undefined;
    byName.set(name, file);
    for (const { spec } of file.imports) {
      if (!isRelative(spec)) bare.add(spec);
      else {
        const target = resolve(files, path, spec);
        if (target === undefined) return undefined;
        queue.push(target);
      }
    }
  }
  let packages: PackageModules | undefined;
  if (bare.size > 0) {
    packages = await packagesFor?.([...bare].sort());
    if (!packages) return undefined;
  }
  const entryExports = new Map(Object.values(packages?.entries ?? {}).map((e) => [e.module, e.exports]));
  const modules: Record<string, ChildModule> = { ...packages?.modules };
  const linked = link(
    {
      files: byName,
      target: (importer, spec) =>
        isRelative(spec)
          ? mapDefined(resolve(files, importer.slice(USER_FOLDER.length), spec), (path) => USER_FOLDER + path)
          : packages?.entries[spec]?.module,
      outside: (name) => entryExports.get(name),
    },
    (name) => Object.hasOwn(modules, name),
  );
  if (!linked) return undefined;
  let bytes = 0;
  for (const { code } of Object.values(modules)) bytes += code.length;
  for (const [name, { code, map }] of byName) {
    modules[name] = { code, map };
    bytes += code.length;
  }
  Object.assign(modules, linked.aliases);
  if (bytes > MAX_BUNDLE_BYTES) return undefined;
  const entryFile = byName.get(USER_FOLDER + entry)!;
  return {
    code: reexport(`./${USER_FOLDER}${entry}`, entryFile.exports),
    modules,
    shape: entryFile.exports.includes("default") ? "module" : "script",
  };
}

const mapDefined = <T, U>(value: T | undefined, f: (value: T) => U): U | undefined =>
  value === undefined ? undefined : f(value);

function resolve(files: SourceFiles, importer: string, spec: string): string | undefined {
  const joined = joinPath(importer, spec);
  const found = joined === null ? undefined : findFile(files, joined);
  return found !== undefined && PLAIN_PATH.test(found) ? found : undefined;
}

/** Whether `spec` names a declaration file (`./types` → `types.d.ts`), which only types come from. */
function declares(files: SourceFiles, importer: string, spec: string): boolean {
  const joined = joinPath(importer, spec.replace(/\.js$/, ""));
  return joined !== null && [`${joined}.d.ts`, `${joined}/index.d.ts`].some((name) => Object.hasOwn(files, name));
}

/** A file to make a module of. */
export interface FileToTransform {
  /** Its module name in the child, `user/…` or `npm/…` (the map's `file`). */
  module: string;
  /** How it shows in stacks and source maps. */
  display: string;
  source: string;
  isEntry: boolean;
  /**
   * A package's file: JavaScript or JSON only, and a module that any import but the runtime's
   * may reach back to (packages can import each other in a cycle).
   */
  inPackage?: boolean;
}

/** `file` as a module, transformed once per content; undefined when it needs esbuild. */
export async function transformedFile(file: FileToTransform, meter: boolean): Promise<ModuleFile | undefined> {
  if (!PLAIN_PATH.test(file.module)) return undefined;
  const { module, display, source, isEntry, inPackage = false } = file;
  const key = await sha256Hex(JSON.stringify([module, display, source, isEntry, inPackage, meter]));
  return (
    (await transformed.get(key, async () => {
      moduleStats.transforms++;
      return transformFile(file, meter) ?? null;
    })) ?? undefined
  );
}

function transformFile(
  { module, display, source, isEntry, inPackage = false }: FileToTransform,
  meter: boolean,
): ModuleFile | undefined {
  if (module.endsWith(".json")) return isEntry ? undefined : jsonModule(display, source);
  const typescript = !inPackage && TYPESCRIPT.test(module);
  if (!typescript && !JAVASCRIPT.test(module)) return undefined;
  if (typescript && NEEDS_TYPESCRIPT_COMPILER.test(source)) return undefined;
  let code = source;
  let map: string | undefined;
  if (typescript) {
    try {
      const out = transform(source, {
        transforms: ["typescript"],
        disableESTransforms: true,
        filePath: display,
        sourceMapOptions: { compiledFilename: display },
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
  if (needsBundler(program)) return undefined;
  if (typescript && (hasParameterProperties(program) || hasEnumStringGuess(program))) return undefined;
  const linking = linkingOf(program, code);
  if (!linking) return undefined;
  let exportDefaultAt: number | undefined;
  let wrapScript = false;
  if (isEntry && !linking.exports.includes("default")) {
    const lone = entryFunction(program.body);
    if (lone) exportDefaultAt = lone.start;
    else if (linking.imports.length > 0) return undefined;
    else wrapScript = true;
    // The wrapper takes a script's named exports into its function body.
    linking.exports = wrapScript ? ["default"] : [...linking.exports, "default"];
  }
  const rewritten = rewriteBundle(
    { code, fileName: module, source: map ? { map } : { name: display }, program },
    {
      wrapScript,
      meter,
      bareImportsMayCycle: inPackage,
      mapWordsOnly: inPackage,
      ...(exportDefaultAt !== undefined ? { exportDefaultAt } : {}),
    },
  );
  const elided = typescript ? elidedRelativeImports(source, new Set(linking.imports.map(({ spec }) => spec))) : [];
  return { code: rewritten.code, map: rewritten.map, ...linking, ...(elided.length > 0 ? { elided } : {}) };
}

/**
 * Whether the module uses `import()`, `import.meta`, a CommonJS name (`require`, `module`,
 * `exports`) or the module's own `this`, which esbuild makes CommonJS's `exports` where a module
 * would have `undefined` (a UMD wrapper's `(function (root) { … })(this)`). Checked on the parsed
 * module, as comments and strings mention them too (zod's do).
 */
function needsBundler(program: Program): boolean {
  let found = false;
  ancestor(program, {
    ImportExpression: () => {
      found = true;
    },
    MetaProperty: (node) => {
      if (node.meta.name === "import") found = true;
    },
    Identifier: (node) => {
      if (COMMONJS_NAMES.has(node.name)) found = true;
    },
    ThisExpression: (_node, _state, ancestors) => {
      if (!ancestors.some((outer) => OWN_THIS.has(outer.type))) found = true;
    },
  });
  return found;
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

/** A module's imports and exports, or undefined when one of them needs esbuild. */
function linkingOf(program: Program, code: string): Omit<ModuleFile, "code" | "map"> | undefined {
  const linking: Omit<ModuleFile, "code" | "map"> = { exports: [], stars: [], imports: [] };
  for (const node of program.body as Declaration[]) {
    const spec = node.source?.value;
    if (spec !== undefined) {
      if (node.attributes?.length) return undefined;
      const server = servedBy(spec);
      if (server === "bundler") return undefined;
      if (server === "runtime" || server === "builtin") {
        // Left to the runtime as written; the names it takes are checked (runtime-modules.ts).
        (linking.runtime ??= []).push(runtimeImport(node, spec, code));
        if (server === "builtin") (linking.builtins ??= []).push(spec);
      } else {
        // `export *` of a package would need the package's names to check a program's imports.
        if (node.type === "ExportAllDeclaration" && !isRelative(spec) && !node.exported) return undefined;
        linking.imports.push({ spec, names: importedNames(node) });
        if (node.type === "ExportAllDeclaration") {
          if (node.exported) linking.exports.push(nameOf(node.exported));
          else linking.stars.push(spec);
        }
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
