/**
 * @module package-modules
 * The npm packages of a program linked file by file (modules.ts), as modules of the child, built
 * once per package set and cached by what the packages are: one module per package file when
 * they are ES modules (package-files.ts, no bundler), else one esbuild build with each imported
 * specifier as an entry point and the code they share split into chunks, metered once. A new
 * program that imports Hono then costs its own files' transform, and the runtime links the
 * packages with ES module semantics (live bindings, evaluation in import order).
 *
 * Undefined (the program then takes esbuild's one-bundle path, bundle.ts, which words the
 * error) when the build fails.
 */
import type { InstalledPackages } from "../npm/install.ts";
import { MAX_VENDOR_CACHE_BYTES } from "../limits.ts";
import { MemoryCache } from "../memory-cache.ts";
import { BUNDLE_OUTPUT, type getEsbuild } from "./esbuild.ts";
import { PACKAGES_FOLDER, type PackageModules } from "./link.ts";
import { linkPackageFiles } from "./package-files.ts";
import { rewriteBundle } from "./rewrite.ts";
import { vendorKey } from "./vendor.ts";
import { delegatingPlugin, displaySource, virtualFileHandlers } from "./virtual-files.ts";

type Esbuild = Awaited<ReturnType<typeof getEsbuild>>;

/** By vendorKey; `null`: the packages need the one-bundle path. */
const built = new MemoryCache<PackageModules | null>(MAX_VENDOR_CACHE_BYTES, (value) => {
  let chars = 64;
  for (const { code, map } of Object.values(value?.modules ?? {})) chars += code.length + map.length;
  return chars * 2;
});

/**
 * The modules of `specifiers` (sorted, distinct) from `packages`, built once per package set;
 * `esbuild` is called only for packages the file-by-file path does not serve.
 */
export async function packageModules(
  esbuild: () => Promise<Esbuild>,
  packages: InstalledPackages,
  specifiers: string[],
  meter: boolean,
): Promise<PackageModules | undefined> {
  const key = vendorKey(packages, specifiers, meter);
  return (
    (await built.get(
      key,
      async () =>
        (await linkPackageFiles(packages, specifiers, meter)) ??
        (await build(await esbuild(), packages, specifiers, meter)) ??
        null,
    )) ?? undefined
  );
}

async function build(
  esbuild: Esbuild,
  packages: InstalledPackages,
  specifiers: string[],
  meter: boolean,
): Promise<PackageModules | undefined> {
  const handlers = virtualFileHandlers({ files: {}, entry: "", source: () => "", packages, packageEntries: true });
  let result;
  try {
    result = await esbuild.build({
      ...BUNDLE_OUTPUT,
      entryPoints: specifiers.map((spec, i) => ({ in: spec, out: `e${i}` })),
      splitting: true,
      outdir: PACKAGES_FOLDER,
      plugins: [delegatingPlugin(() => handlers)],
    });
  } catch {
    return undefined;
  }
  const modules: PackageModules["modules"] = {};
  const entries: PackageModules["entries"] = {};
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    if (!path.endsWith(".js")) continue;
    const js = result.outputFiles.find((f) => f.path.endsWith(`/${path}`));
    const mapFile = result.outputFiles.find((f) => f.path.endsWith(`/${path}.map`));
    if (!js || !mapFile) return undefined;
    const map = JSON.parse(mapFile.text) as { sources: string[] };
    map.sources = map.sources.map(displaySource);
    const rewritten = rewriteBundle(
      { code: js.text, fileName: path, source: { map: JSON.stringify(map) } },
      { wrapScript: false, meter },
    );
    modules[path] = rewritten;
    const index = /^npm\/e(\d+)\.js$/.exec(path)?.[1];
    // A CommonJS package's entry exports only `default`, so a named import of it fails the
    // program's link check (modules.ts) and goes to esbuild, whose interop serves it.
    if (index !== undefined) entries[specifiers[Number(index)]!] = { module: path, exports: output.exports };
  }
  return Object.keys(entries).length === specifiers.length ? { modules, entries } : undefined;
}
