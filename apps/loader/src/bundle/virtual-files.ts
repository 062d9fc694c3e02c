/**
 * @module virtual-files
 * An esbuild plugin that serves everything from memory: the request's `files` (relative imports
 * with extension and `index.*` lookup) and the installed npm packages (bare imports, through
 * npm/module-resolver.ts). Runtime built-ins (`node:*`, `cloudflare:*`) stay external for the
 * child's runtime; an npm import the program did not list in `dependencies` is a compile error
 * that shows the line to add.
 *
 * `require()` of a built-in cannot stay external: in an ES module bundle esbuild turns it into a
 * `__require` shim that throws. It resolves instead to a small CommonJS module re-exporting the
 * built-in's default export, which is what `require` returns in Node.
 */
import { nodeBuiltin } from "../npm/node-builtins.ts";
import { noSuchModule, runtimeExports } from "./runtime-modules.ts";
import { REFUSE_SOCKET_GLOBAL } from "../sandbox/child-globals.ts";
import {
  joinPackagePath,
  ModuleResolver,
  splitBareSpecifier,
  type ImportStyle,
  type Resolution,
} from "../npm/module-resolver.ts";
import type { InstalledPackage, InstalledPackages } from "../npm/install.ts";
import type { ImportKind, OnLoadArgs, OnLoadResult, OnResolveArgs, OnResolveResult } from "esbuild-wasm/esm/browser.js";
import type { Loader, Plugin } from "./esbuild.ts";

export const VIRTUAL_NAMESPACE = "dwl";
/** Files of installed packages: path `<name>@<version>/<file>`. */
export const NPM_NAMESPACE = "npm";
/** `require("node:x")`: CommonJS module whose exports are the built-in's default export. */
const NODE_REQUIRE_NAMESPACE = "dwl-node-require";
/** The ES module behind it, which can import the built-in. */
const NODE_IMPORT_NAMESPACE = "dwl-node-import";
/** A module that throws when evaluated: an optional `require()` whose target does not exist. */
const MISSING_NAMESPACE = "dwl-missing";
/**
 * `cloudflare:sockets` as programs see it: the runtime's raw TCP has no way through the egress
 * gateway (its `connect()` fails with a bare "Network connection lost."), so `connect()` throws
 * the harness's egress_denied error instead, which says what to use, and the egress audit
 * records the attempt. A specifier computed at run time still reaches the runtime's module.
 */
export const SOCKETS_SPECIFIER = "cloudflare:sockets";

/**
 * Who serves an import specifier in the child, when nothing is bundled: `runtime`, as written (a
 * `cloudflare:` module, a Node built-in by its `node:` name); `builtin`, a Node built-in by its
 * bare name, which the runtime serves as written too unless the program lists a package of that
 * name (then it is that package, as esbuild resolves it below); `program`, a user file or a
 * package; `bundler`, what only esbuild serves (`cloudflare:sockets`, which it replaces; a
 * built-in the runtime lacks, a compile error; a root-relative path).
 */
export function servedBy(spec: string): "runtime" | "builtin" | "program" | "bundler" {
  if (spec === SOCKETS_SPECIFIER || spec.startsWith("/")) return "bundler";
  if (spec.startsWith("cloudflare:")) return "runtime";
  const builtin = nodeBuiltin(spec);
  if (builtin === undefined) return "program";
  if (!("available" in builtin)) return "bundler";
  return builtin.available === spec ? "runtime" : "builtin";
}

/**
 * Whether the runtime serves `spec` as written for a program that lists the packages
 * `listsPackage` says: `runtime` always, a built-in's bare name (`fs/promises`) unless a package
 * of that name (`fs`) is listed.
 */
export function servedAsWritten(spec: string, listsPackage: (name: string) => boolean): boolean {
  const server = servedBy(spec);
  return server === "runtime" || (server === "builtin" && !listsPackage(spec.split("/")[0] ?? spec));
}
/**
 * `util.debuglog` as Node has it without NODE_DEBUG (there is none here): a logger that logs
 * nothing. workerd's logs every call, so a CommonJS package that debugs as it goes
 * (readable-stream@3: ~50 `STREAM:` lines a run) filled the program's logs.
 */
const QUIET_DEBUGLOG = `const quiet = (section, cb) => { const debug = () => {}; debug.enabled = false; if (typeof cb === "function") cb(debug); return debug; };`;
const SOCKETS_NAMESPACE = "dwl-sockets";
const SOCKETS_SHIM = `export function connect(address) { throw globalThis.${REFUSE_SOCKET_GLOBAL}(address); }
export default { connect };
`;

/** Tried in order when an import names a file without its extension. */
const RESOLVE_EXTENSIONS = [".ts", ".tsx", ".js", ".mjs", ".jsx", ".json"];

export type SourceFiles = Record<string, string>;

export interface VirtualFilesOptions {
  files: SourceFiles;
  entry: string;
  /** The source of a user file (the entry may have been rewritten). */
  source: (path: string) => string;
  /** Resolved and unpacked `dependencies`, when the program has any. */
  packages?: InstalledPackages;
  /**
   * Set by bundle/vendor.ts: the user's files import packages from a module built apart. Their
   * bare imports are still checked here (listed in `dependencies`, the subpath exists), then
   * left external as `VENDOR_PREFIX<index of the specifier>`.
   */
  vendor?: VendorImports;
  /** Entry points are package specifiers, imported by the program (bundle/package-modules.ts). */
  packageEntries?: boolean;
}

/** External path of a bare import that bundle/vendor.ts serves. */
export const VENDOR_PREFIX = "dwl-vendor:";

export interface VendorImports {
  /** Bare specifiers imported by the user's files, in first-seen order. */
  specifiers: string[];
  /** An import that the pre-built module cannot serve as it would be bundled (require, import()). */
  unsupported: boolean;
}

export function loaderFor(path: string): Loader {
  if (path.endsWith(".ts")) return "ts";
  if (path.endsWith(".tsx")) return "tsx";
  if (path.endsWith(".jsx")) return "jsx";
  if (path.endsWith(".json")) return "json";
  return "js";
}

/** Joins `spec` onto the directory of `importer` (or the root, for `/…`); null if it escapes the root. */
export function joinPath(importer: string, spec: string): string | null {
  return joinPackagePath(spec.startsWith("/") ? "" : importer, spec);
}

/** The file an import of `path` names, by the rules above (extension, `.js` for `.ts`, a folder's index). */
export function findFile(files: SourceFiles, path: string): string | undefined {
  const has = (p: string) => Object.hasOwn(files, p);
  if (has(path)) return path;
  for (const ext of RESOLVE_EXTENSIONS) if (has(path + ext)) return path + ext;
  // TypeScript's convention: `./x.js` may name `./x.ts`.
  const ts = path.replace(/\.(m?js|jsx)$/, (_m, e: string) => (e === "jsx" ? ".tsx" : ".ts"));
  if (ts !== path && has(ts)) return ts;
  for (const ext of RESOLVE_EXTENSIONS) if (has(`${path}/index${ext}`)) return `${path}/index${ext}`;
  return undefined;
}

/** `hono@4.1.0/dist/index.js` → package id and file; scoped ids have one more segment. */
function splitNpmPath(path: string): { id: string; file: string } {
  const parts = path.split("/");
  const idParts = path.startsWith("@") ? 2 : 1;
  return { id: parts.slice(0, idParts).join("/"), file: parts.slice(idParts).join("/") };
}

/** Source-map names: the user's files as they are, package files as `node_modules/<name>/<file>`. */
export function displaySource(source: string): string {
  if (source.startsWith(`${VIRTUAL_NAMESPACE}:`)) return source.slice(VIRTUAL_NAMESPACE.length + 1);
  if (source.startsWith(`${NPM_NAMESPACE}:`)) return npmDisplayPath(source.slice(NPM_NAMESPACE.length + 1));
  return source;
}

/** The modules the loader writes into a bundle (a built-in's require shim, the sockets shim): no frame of a stack. */
export const isLoaderShim = (source: string): boolean =>
  [NODE_REQUIRE_NAMESPACE, NODE_IMPORT_NAMESPACE, MISSING_NAMESPACE, SOCKETS_NAMESPACE].some((namespace) =>
    source.startsWith(`${namespace}:`),
  );

/** How a package file shows in source maps, stacks and errors. */
export function npmDisplayPath(path: string): string {
  const { id, file } = splitNpmPath(path);
  return `node_modules/${id.slice(0, id.lastIndexOf("@"))}/${file}`;
}

/** The program's file names, for a model that misspelled one (a few dozen at most). */
export function fileList(files: SourceFiles): string {
  const names = Object.keys(files).sort();
  const shown = names.slice(0, 30).join(", ");
  return names.length > 30 ? `it has ${shown}, … and ${names.length - 30} more` : `it has ${shown}`;
}

function missingDependencyText(spec: string): string {
  const listIt = (name: string, range: string) =>
    `list it in \`dependencies\` and import it by name (for example "dependencies": { "${name}": "${range}" } and \`import … from "${name}"\`)`;
  // The npm CDNs models import from: the package name and version are the URL's first segments.
  const cdn =
    /^https?:\/\/(?:esm\.sh|esm\.run|unpkg\.com|cdn\.skypack\.dev|jspm\.dev|cdn\.jsdelivr\.net\/npm)\/(?:v\d+\/)?((?:@[^/@]+\/)?[^/@?#]+)(?:@([^/?#]+))?/.exec(
      spec,
    );
  if (/^https?:/.test(spec)) {
    const name = cdn?.[1];
    return `Cannot import "${spec}": URL imports are not supported${name && splitBareSpecifier(name) ? `; if it is the npm package "${name}", ${listIt(name, cdn?.[2] ?? "*")}` : ""}`;
  }
  const aliased = /^npm:((?:@[^/@]+\/)?[^/@]+)(?:@([^/]+))?/.exec(spec);
  if (aliased?.[1])
    return `Cannot import "${spec}": \`npm:\` specifiers are not supported; ${listIt(aliased[1], aliased[2] ?? "*")}`;
  if (spec.startsWith("jsr:"))
    return `Cannot import "${spec}": JSR packages are not supported, only npm packages listed in \`dependencies\``;
  const scheme = /^([a-z][a-z\d+.-]*):/i.exec(spec)?.[1];
  if (scheme)
    return `Cannot import "${spec.slice(0, 80)}": \`${scheme}:\` imports are not supported; put the module in \`files\` and import it by its path, or list an npm package in \`dependencies\``;
  const name = splitBareSpecifier(spec)?.name ?? spec;
  return `Cannot import "${spec}": npm packages must be listed in \`dependencies\` (for example "dependencies": { "${name}": "*" })`;
}

const styleOf = (kind: ImportKind): ImportStyle =>
  kind === "require-call" || kind === "require-resolve" ? "require" : "import";

/** The plugin's two callbacks, as plain functions: bundle/incremental.ts swaps them per build. */
export interface VirtualFileHandlers {
  resolve(args: OnResolveArgs): OnResolveResult | Promise<OnResolveResult>;
  load(args: OnLoadArgs): OnLoadResult | undefined;
}

/** A plugin that hands every resolve and load to `handlers()`, read at each call. */
export function delegatingPlugin(handlers: () => VirtualFileHandlers): Plugin {
  return {
    name: "dwl-virtual-files",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => handlers().resolve(args));
      build.onLoad({ filter: /.*/ }, (args) => handlers().load(args));
    },
  };
}

export function virtualFileHandlers({
  files,
  entry,
  source,
  packages,
  vendor,
  packageEntries,
}: VirtualFilesOptions): VirtualFileHandlers {
  const resolver = packages ? new ModuleResolver(packages) : undefined;

  const toResult = (resolution: Resolution): OnResolveResult => {
    if ("error" in resolution) return { errors: [{ text: resolution.error }] };
    const { pkg, path } = resolution;
    // `"sideEffects": false` lets esbuild drop modules whose exports go unused (hono relies on it).
    return {
      path: `${pkg.id}/${path}`,
      namespace: NPM_NAMESPACE,
      ...(pkg.manifest.sideEffects === false ? { sideEffects: false } : {}),
    };
  };

  /** A bare import that cannot be satisfied: fatal for a static import, a throwing module otherwise. */
  const unresolvable = (kind: ImportKind, text: string): OnResolveResult =>
    kind === "import-statement" || kind === "entry-point"
      ? { errors: [{ text }] }
      : { path: text, namespace: MISSING_NAMESPACE };

  const bare = (spec: string, from: InstalledPackage | null, kind: ImportKind): OnResolveResult => {
    const parsed = splitBareSpecifier(spec);
    const pkg = parsed && resolver?.packageFor(parsed.name, from);
    if (!parsed || !resolver || !pkg) {
      if (!from) return { errors: [{ text: missingDependencyText(spec) }] };
      return unresolvable(
        kind,
        `${from.id} imports "${spec}", which is not installed (not among its dependencies); add "${parsed?.name ?? spec}" to \`dependencies\``,
      );
    }
    const resolution = resolver.subpath(pkg, parsed.subpath, styleOf(kind));
    if (vendor && !from && !("error" in resolution)) {
      if (kind !== "import-statement") vendor.unsupported = true;
      let index = vendor.specifiers.indexOf(spec);
      if (index === -1) index = vendor.specifiers.push(spec) - 1;
      return { path: `${VENDOR_PREFIX}${index}`, external: true };
    }
    return toResult(resolution);
  };

  const loaders: Record<string, (path: string) => OnLoadResult> = {
    [VIRTUAL_NAMESPACE]: (path) => ({ contents: source(path), loader: loaderFor(path) }),
    [NPM_NAMESPACE]: (path) => {
      const { id, file } = splitNpmPath(path);
      const contents = resolver?.packageById(id)?.files[file];
      if (contents === undefined) return { errors: [{ text: `internal: ${path} is not installed` }] };
      return { contents, loader: file.endsWith(".json") ? "json" : "js" };
    },
    [NODE_REQUIRE_NAMESPACE]: (path) => ({
      contents: `module.exports = require(${JSON.stringify(path)}).value;`,
      loader: "js",
    }),
    [NODE_IMPORT_NAMESPACE]: (path) => ({
      contents:
        path === "node:util"
          ? `import * as m from "node:util";\n${QUIET_DEBUGLOG}\nexport const value = Object.assign(Object.create(Object.getPrototypeOf(m.default)), m.default, { debuglog: quiet, debug: quiet });`
          : `import * as m from ${JSON.stringify(path)};\nexport const value = m.default ?? m;`,
      loader: "js",
    }),
    [MISSING_NAMESPACE]: (path) => ({ contents: `throw new Error(${JSON.stringify(path)});`, loader: "js" }),
    [SOCKETS_NAMESPACE]: () => ({ contents: SOCKETS_SHIM, loader: "js" }),
  };

  return {
    load: (args) => (Object.hasOwn(loaders, args.namespace) ? loaders[args.namespace]!(args.path) : undefined),
    resolve: (args) => {
      if (args.kind === "entry-point" && packageEntries) return bare(args.path, null, "import-statement");
      if (args.kind === "entry-point") return { path: entry, namespace: VIRTUAL_NAMESPACE };
      const spec = args.path;
      if (args.namespace === NODE_REQUIRE_NAMESPACE) return { path: spec, namespace: NODE_IMPORT_NAMESPACE };
      if (spec === SOCKETS_SPECIFIER) return { path: spec, namespace: SOCKETS_NAMESPACE };
      if (spec.startsWith("cloudflare:"))
        return runtimeExports(spec).then((names) =>
          names ? { path: spec, external: true } : unresolvable(args.kind, noSuchModule(spec)),
        );

      const importer = args.namespace === NPM_NAMESPACE ? splitNpmPath(args.importer) : undefined;
      const from = importer ? resolver?.packageById(importer.id) : undefined;
      if (importer && !from) return { errors: [{ text: `internal: unknown package ${importer.id}` }] };
      const who = from ? from.id : args.importer;

      const builtin = nodeBuiltin(spec);
      const bareName = splitBareSpecifier(spec)?.name;
      if (builtin && !(bareName && resolver?.dependsOn(bareName, from ?? null))) {
        if ("missing" in builtin) {
          return unresolvable(args.kind, `${who} imports "${spec}", a Node built-in that the runtime lacks`);
        }
        if (styleOf(args.kind) === "require") return { path: builtin.available, namespace: NODE_REQUIRE_NAMESPACE };
        return { path: builtin.available, external: true };
      }

      if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")) {
        if (from && importer && resolver) return toResult(resolver.relative(from, importer.file, spec));
        const joined = joinPath(args.importer, spec);
        const found = joined === null ? undefined : findFile(files, joined);
        if (found === undefined) {
          return {
            errors: [
              {
                text: `Cannot find module "${spec}" imported from ${args.importer}: no such file in \`files\` (${fileList(files)})`,
              },
            ],
          };
        }
        return { path: found, namespace: VIRTUAL_NAMESPACE };
      }

      if (spec.startsWith("#") && from && resolver) {
        const mapped = resolver.hashImport(from, spec, styleOf(args.kind));
        return "bare" in mapped ? bare(mapped.bare, from, args.kind) : toResult(mapped);
      }
      return bare(spec, from ?? null, args.kind);
    },
  };
}
