/**
 * @module bundle
 * Turns a request's sources into one ES module for the child isolate: esbuild-wasm bundles the
 * files in memory (TypeScript, JSX, JSON, relative imports, npm `dependencies` installed by
 * ../npm/install.ts), then `rewrite` adapts the program's shape. The result carries a source map
 * whose sources are the user's own file names (and `node_modules/<name>/…` for packages).
 * Packages imported by `import` statements come from their own module, built and metered once
 * per package set (vendor.ts): esbuild's cost grows with every file it loads, so a new program
 * importing Hono then costs about what one of its own files does.
 */
import { env } from "cloudflare:workers";
import { installDependencies, npmEnvironment, type InstalledPackages, type NpmEnvironment } from "../npm/install.ts";
import { checkDependencies } from "../npm/resolve.ts";
import { MAX_BUNDLE_BYTES } from "../limits.ts";
import { CompileError } from "../compile-error.ts";
import {
  asCommonJsModule,
  asDefaultExportedFunction,
  asFunctionBody,
  entryFunction,
  type Wrapped,
} from "./entry-shape.ts";
import { unwrapBundle, unwrapCompileError } from "./wrapped-entry.ts";
import { BUNDLE_OUTPUT, getEsbuild, type BuildFailure } from "./esbuild.ts";
import type { BuildOptions } from "esbuild-wasm/esm/browser.js";
import type { Node } from "acorn";
import { parseModule, rewriteBundle, type Program } from "./rewrite.ts";
import { IncrementalBuilder } from "./incremental.ts";
import type { ChildModule } from "./link.ts";
import { linkModules, type PackagesFor } from "./modules.ts";
import { packageModules } from "./package-modules.ts";
import { checkRuntimeImports, type RuntimeImport, runtimeImport } from "./runtime-modules.ts";
import {
  externalImport,
  joinVendor,
  onlyExternalImports,
  vendorCache,
  vendorEntry,
  vendorKey,
  wrapVendor,
} from "./vendor.ts";
import {
  displaySource,
  loaderFor,
  servedAsWritten,
  virtualFileHandlers,
  VIRTUAL_NAMESPACE,
  type SourceFiles,
  type VendorImports,
  type VirtualFileHandlers,
  type VirtualFilesOptions,
} from "./virtual-files.ts";

/** Module name of the user's program inside the child isolate (it appears in raw stacks). */
export const USER_MODULE = "user.js";

/**
 * `module`: the default export is a function (called with input, env) or an object with
 * `fetch` (decided at run time); `script`: top-level statements, wrapped into a function.
 */
export type ProgramShape = "module" | "script";

export interface Bundle {
  code: string;
  /** Source map (JSON) from `code` to the user's files. */
  map: string;
  shape: ProgramShape;
  /** Modules beside `code` (USER_MODULE), by name: a program linked file by file (modules.ts). */
  modules?: Record<string, ChildModule>;
  /** A Python program: `code` is the shared Python child module, these files go with each run. */
  python?: PythonProgram;
}

/** The program files of one Python run, as the child receives them (see python/program.ts). */
export interface PythonProgram {
  files: Record<string, string>;
  entry: string;
}

export interface BundleInput {
  files: SourceFiles;
  entry: string;
  /** Insert fuel checks (CPU metering); see rewrite.ts. */
  meter: boolean;
  /** npm package name → semver range or dist-tag. */
  dependencies?: Record<string, string>;
}

export interface BundleOptions {
  /** Packages from their own cached module (bundle/vendor.ts); false bundles them with the program (tests, bench). */
  prebuiltPackages?: boolean;
  /** false: esbuild even where a program could be linked file by file (tests and bench of esbuild's paths). */
  perFile?: boolean;
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return typeof err === "object" && err !== null && Array.isArray((err as BuildFailure).errors);
}

/**
 * The direct path: a single plain-JavaScript module that imports nothing but what the runtime
 * serves as written (virtual-files.ts `servedBy`) needs no bundler. acorn parses it (the metering pass needs the AST anyway) and it ships as is,
 * which saves esbuild's ~20 ms on a cold run. Anything acorn cannot parse (TypeScript, JSX,
 * decorators) or that imports other modules goes through esbuild.
 */
function bundleDirect(
  files: SourceFiles,
  entry: string,
  meter: boolean,
  dependencies: Record<string, string> | undefined,
): { bundle: Bundle; runtime: RuntimeImport[] } | undefined {
  const source = files[entry];
  if (
    source === undefined ||
    Object.keys(files).length !== 1 ||
    entry.endsWith(".json") ||
    DYNAMIC_IMPORT.test(source) ||
    REQUIRE_CALL.test(source)
  )
    return undefined;
  let program: Program;
  try {
    program = parseModule(source);
  } catch {
    return undefined;
  }
  let hasDefault = false;
  const runtime: RuntimeImport[] = [];
  for (const node of program.body) {
    const from = (node as Node & { source?: { value?: unknown } | null }).source?.value;
    if (typeof from === "string") {
      if (!servedAsWritten(from, (name) => listsPackage(dependencies, name))) return undefined;
      runtime.push(runtimeImport(node, from, source));
    }
    if (node.type === "ExportDefaultDeclaration") hasDefault = true;
    if (node.type === "ExportNamedDeclaration") {
      const specifiers = (node as Node & { specifiers: { exported: { name?: string; value?: string } }[] }).specifiers;
      if (specifiers.some((sp) => (sp.exported.name ?? sp.exported.value) === "default")) hasDefault = true;
    }
  }
  const lone = hasDefault ? undefined : entryFunction(program.body);
  const shape: ProgramShape = hasDefault || lone ? "module" : "script";
  const rewritten = rewriteBundle(
    { code: source, fileName: USER_MODULE, source: { name: entry }, program },
    { wrapScript: shape === "script", meter, ...(lone ? { exportDefaultAt: lone.start } : {}) },
  );
  return { bundle: { code: rewritten.code, map: rewritten.map, shape }, runtime };
}

const listsPackage = (dependencies: Record<string, string> | undefined, name: string): boolean =>
  dependencies !== undefined && Object.hasOwn(dependencies, name);

/** The entry module of a program linked file by file only re-exports: no frame lands in it. */
const EMPTY_MAP = JSON.stringify({ version: 3, sources: [], names: [], mappings: "" });

/** Characters of a bundle's code and of its source maps, every module included. */
export function bundleChars(bundle: Bundle): { code: number; maps: number } {
  const chars = { code: bundle.code.length, maps: bundle.map.length };
  for (const { code, map } of Object.values(bundle.modules ?? {})) {
    chars.code += code.length;
    chars.maps += map.length;
  }
  return chars;
}

/** `import(` with any spacing (over-matching, e.g. in a string, only costs the direct path). */
const DYNAMIC_IMPORT = /\bimport\s*\(/;
/** `require(`: esbuild resolves it (built-ins, packages, the program's files); shipped as is it is undefined. */
const REQUIRE_CALL = /\brequire\s*\(/;

/** esbuild's options for every program bundle; the entry and the files come from the plugin. */
export const BUILD_OPTIONS = {
  ...BUNDLE_OUTPUT,
  outfile: USER_MODULE,
} satisfies Omit<BuildOptions, "entryPoints" | "plugins">;
const builder = new IncrementalBuilder(BUILD_OPTIONS);

/**
 * Bundles one program. `npm` says where packages come from; by default the Worker's own
 * configuration (DWL_NPM_REGISTRY, the KV and FILES bindings).
 */
export async function bundleProgram(
  { files, entry, meter, dependencies }: BundleInput,
  npm?: NpmEnvironment,
  options: BundleOptions = {},
): Promise<Bundle> {
  const entrySource = files[entry];
  if (entrySource === undefined) throw new CompileError(`entry "${entry}" is not among the files`);
  if (dependencies) checkDependencies(dependencies);
  // A CommonJS entry runs as a plain script otherwise, into "module is not defined".
  const commonJs = asCommonJsModule(entrySource, loaderFor(entry));
  if (commonJs !== undefined) return bundleWrapped({ files, entry, meter, dependencies }, commonJs, npm, options);
  // A program that imports no package takes the direct path even when it lists dependencies.
  const direct = bundleDirect(files, entry, meter, dependencies);
  if (direct) {
    await checkRuntimeImports(direct.runtime, entry, entrySource);
    return direct.bundle;
  }
  // A function body (top-level `return`) fails every path; as the module it stands for, it takes
  // the fast ones.
  const body = asFunctionBody(entrySource, loaderFor(entry));
  if (body !== undefined) return bundleWrapped({ files, entry, meter, dependencies }, body, npm, options);
  const packagesFor: PackagesFor = async (specifiers) => {
    if (!dependencies || Object.keys(dependencies).length === 0 || options.prebuiltPackages === false) return undefined;
    const installed = await installDependencies(dependencies, npm ?? npmEnvironment(env));
    return packageModules(getEsbuild, installed, specifiers, meter);
  };
  const modules =
    options.perFile === false
      ? undefined
      : await linkModules(files, entry, meter, packagesFor, (name) => listsPackage(dependencies, name));
  if (modules) return { code: modules.code, map: EMPTY_MAP, shape: modules.shape, modules: modules.modules };
  let packages: InstalledPackages | undefined;
  if (dependencies && Object.keys(dependencies).length > 0)
    packages = await installDependencies(dependencies, npm ?? npmEnvironment(env));
  const asFunction = await asDefaultExportedFunction(entrySource, loaderFor(entry));
  const source = (path: string): string =>
    path === entry && asFunction !== undefined ? asFunction : (files[path] ?? "");

  const esbuild = await getEsbuild();
  const handlers: VirtualFilesOptions = { files, entry, source, ...(packages ? { packages } : {}) };
  const linked = await bundleLinked(
    esbuild,
    handlers,
    packages && options.prebuiltPackages !== false ? packages : undefined,
    meter,
  );
  if (linked) return linked;
  // As one esbuild bundle of every file and package.
  const { code, map, shape } = await build(esbuild, virtualFileHandlers(handlers));
  const rewritten = rewriteBundle(
    { code, fileName: USER_MODULE, source: { map } },
    { wrapScript: shape === "script", meter },
  );
  return { code: rewritten.code, map: rewritten.map, shape };
}

/** Bundles the program with its entry rewritten to `wrapped`; positions stay the user's text's. */
async function bundleWrapped(
  input: BundleInput,
  wrapped: Wrapped,
  npm: NpmEnvironment | undefined,
  options: BundleOptions,
): Promise<Bundle> {
  const entry = { entry: input.entry, original: input.files[input.entry] ?? "", headLength: wrapped.headLength };
  try {
    const bundle = await bundleProgram(
      { ...input, files: { ...input.files, [input.entry]: wrapped.source } },
      npm,
      options,
    );
    return unwrapBundle(bundle, entry);
  } catch (err) {
    throw unwrapCompileError(err, entry);
  }
}

type Esbuild = Awaited<ReturnType<typeof getEsbuild>>;

/** One esbuild build: its code, its map (sources as users see them) and the program's shape. */
interface Built {
  code: string;
  map: string;
  shape: ProgramShape;
}

async function build(esbuild: Esbuild, handlers: VirtualFileHandlers): Promise<Built> {
  let result;
  try {
    result = await builder.build(esbuild, handlers);
  } catch (err) {
    if (isBuildFailure(err)) {
      // Errors inside a package point at node_modules/<name>/<file>, as its stack frames do.
      for (const { location } of err.errors) if (location) location.file = displaySource(location.file);
      throw CompileError.fromEsbuild(err.errors, VIRTUAL_NAMESPACE);
    }
    throw err;
  }

  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  const mapFile = result.outputFiles.find((f) => f.path.endsWith(".js.map"));
  if (!js || !mapFile) throw new CompileError("bundling produced no output");
  if (js.contents.byteLength > MAX_BUNDLE_BYTES) {
    throw new CompileError(
      `the bundled program is ${js.contents.byteLength} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit (dependencies included)`,
    );
  }
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
  const shape: ProgramShape = output?.exports.includes("default") ? "module" : "script";

  const map = JSON.parse(mapFile.text) as { sources: string[] };
  map.sources = map.sources.map(displaySource);
  return { code: js.text, map: JSON.stringify(map), shape };
}

/** Pre-built packages' modules (bundle/vendor.ts), shared by every program of this loader isolate. */
const vendors = vendorCache();

/**
 * Builds the program's own files with its packages left external, and puts the packages'
 * module, built once per package set (bundle/vendor.ts), in front; imports of it become reads of
 * its namespace objects. Undefined when the program uses its packages in a way only one whole
 * bundle serves (`require` or `import()` of a package, a re-export of one, top-level await in
 * a package); the program's own build is the whole bundle when it imports no package after all.
 */
async function bundleLinked(
  esbuild: Esbuild,
  options: VirtualFilesOptions,
  packages: InstalledPackages | undefined,
  meter: boolean,
): Promise<Bundle | undefined> {
  if (!packages) return undefined;
  const imports: VendorImports = { specifiers: [], unsupported: false };
  const own = await build(esbuild, virtualFileHandlers({ ...options, vendor: imports }));
  if (imports.unsupported) return undefined;
  if (imports.specifiers.length === 0) {
    const rewritten = rewriteBundle(
      { code: own.code, fileName: USER_MODULE, source: { map: own.map } },
      { wrapScript: own.shape === "script", meter },
    );
    return { code: rewritten.code, map: rewritten.map, shape: own.shape };
  }
  const program = parseModule(own.code);
  if (!onlyExternalImports(program)) return undefined;
  const { specifiers } = imports;
  const vendor = await vendors.get(vendorKey(packages, specifiers, meter), async () => {
    const entry = "<packages>.js";
    const files: SourceFiles = { [entry]: vendorEntry(specifiers) };
    const built = await build(
      esbuild,
      virtualFileHandlers({ files, entry, source: (path) => files[path] ?? "", packages }),
    );
    return wrapVendor(built, specifiers.length, meter);
  });
  if (!vendor) return undefined;
  const rewritten = rewriteBundle(
    { code: own.code, fileName: USER_MODULE, source: { map: own.map }, program },
    { wrapScript: own.shape === "script", meter, replaceImport: externalImport(vendor.name) },
  );
  const joined = joinVendor(vendor, rewritten, USER_MODULE);
  if (joined.code.length > MAX_BUNDLE_BYTES) {
    throw new CompileError(
      `the bundled program is ${joined.code.length} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit (dependencies included)`,
    );
  }
  return { ...joined, shape: own.shape };
}
