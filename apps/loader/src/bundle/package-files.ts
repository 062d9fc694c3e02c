/**
 * @module package-files
 * A program's npm packages as one module per package file, linked by the runtime as the
 * program's own files are (modules.ts, link.ts): no esbuild call. A program whose packages are
 * ES modules (Hono, zod) then costs no bundler start on a fresh loader (~90 ms of its one
 * thread) and no esbuild build of the packages (~350 ms for Hono while esbuild.wasm is still
 * compiling), only each reachable file's parse and metering, cached by content
 * (docs/performance.md).
 *
 * Anything this path cannot serve the way esbuild would gives undefined, and package-modules.ts
 * builds the packages with esbuild: CommonJS (a file's own `this` included), `import()`,
 * `import.meta`, TypeScript, a `#name` of a package's `imports` map (the runtime would read `#`
 * as a URL's fragment), a Node built-in named without `node:` or missing from the runtime, an
 * import that does not resolve (esbuild words the error), a name or path the runtime cannot look
 * up as a plain URL path, or more than MAX_LINKED_PACKAGE_FILES files, which esbuild's tree
 * shaking would mostly drop.
 *
 * One difference from esbuild, accepted: every file an entry imports is evaluated, as ES module
 * semantics say; esbuild drops the unused ones of a `"sideEffects": false` package, so a file
 * that throws at its top level in workerd (a Node-only API used at import) fails here only.
 */
import type { InstalledPackage, InstalledPackages } from "../npm/install.ts";
import { ModuleResolver, splitBareSpecifier, type Resolution } from "../npm/module-resolver.ts";
import { MAX_LINKED_PACKAGE_FILES } from "../limits.ts";
import { link, PACKAGES_FOLDER, type ModuleFile, type PackageModules } from "./link.ts";
import { transformedFile } from "./modules.ts";
import { npmDisplayPath } from "./virtual-files.ts";

/** A file of an installed package. */
type PackageFile = { pkg: InstalledPackage; path: string };

const moduleName = ({ pkg, path }: PackageFile) => `${PACKAGES_FOLDER}${pkg.id}/${path}`;

/** The modules of `specifiers` (sorted, distinct) from `packages`, or undefined when esbuild must build them. */
export async function linkPackageFiles(
  packages: InstalledPackages,
  specifiers: string[],
  meter: boolean,
): Promise<PackageModules | undefined> {
  const resolver = new ModuleResolver(packages);
  const bare = (spec: string, from: InstalledPackage | null): Resolution | undefined => {
    const parsed = splitBareSpecifier(spec);
    const pkg = parsed && resolver.packageFor(parsed.name, from);
    return pkg && resolver.subpath(pkg, parsed.subpath, "import");
  };
  /** The file `spec` names when `from` imports it; undefined: esbuild's to serve. */
  const resolveFrom = (from: PackageFile, spec: string): PackageFile | undefined => {
    // A `#name` would resolve (resolver.hashImport), but the runtime cannot look it up: see above.
    if (spec.startsWith("#")) return undefined;
    const resolution =
      spec.startsWith("./") || spec.startsWith("../")
        ? resolver.relative(from.pkg, from.path, spec)
        : bare(spec, from.pkg);
    return resolution && !("error" in resolution) ? resolution : undefined;
  };

  const entries: Record<string, string> = {};
  const queue: PackageFile[] = [];
  for (const spec of specifiers) {
    const resolution = bare(spec, null);
    if (!resolution || "error" in resolution) return undefined;
    entries[spec] = moduleName(resolution);
    queue.push(resolution);
  }
  const files = new Map<string, ModuleFile>();
  const targets = new Map<string, string>();
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const name = moduleName(next);
    if (files.has(name)) continue;
    if (files.size === MAX_LINKED_PACKAGE_FILES) return undefined;
    const { pkg, path } = next;
    const display = npmDisplayPath(`${pkg.id}/${path}`);
    const file = await transformedFile(
      { module: name, display, source: pkg.files[path] ?? "", isEntry: false, inPackage: true },
      meter,
    );
    if (!file) return undefined;
    files.set(name, file);
    for (const { spec } of file.imports) {
      const target = resolveFrom(next, spec);
      if (target === undefined) return undefined;
      targets.set(`${name}\n${spec}`, moduleName(target));
      queue.push(target);
    }
  }
  const linked = link(
    { files, target: (importer, spec) => targets.get(`${importer}\n${spec}`), outside: () => undefined },
    () => false,
  );
  if (!linked) return undefined;
  const modules: PackageModules["modules"] = { ...linked.aliases };
  for (const [name, { code, map }] of files) modules[name] = { code, map };
  return {
    modules,
    entries: Object.fromEntries(
      Object.entries(entries).map(([spec, module]) => [spec, { module, exports: linked.exportNames(module) }]),
    ),
  };
}
