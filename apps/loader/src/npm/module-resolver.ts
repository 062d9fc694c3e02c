/**
 * @module npm/module-resolver
 * Node-style module resolution over installed packages held in memory (no file system): which
 * package a bare specifier names from a given importer, then which file of it, through
 * `exports` maps (conditions workerd, worker, browser, import or require, module, default),
 * `imports` (`#internal`) maps, `module` / `main`, and extension and `index` lookup.
 */
import { exports as resolveExports, imports as resolveImports } from "resolve.exports";
import type { InstalledPackage, InstalledPackages, PackageManifest } from "./install.ts";
import type { PackageFiles } from "./tarball.ts";

/** `require()` selects the "require" condition (and `main` first); everything else "import". */
export type ImportStyle = "import" | "require";

/**
 * Order does not matter (the package's key order decides). "node" is deliberately absent: a
 * package then picks its workerd, worker or browser build, which use Web APIs the child has.
 */
const CONDITIONS: Record<ImportStyle, string[]> = {
  import: ["workerd", "worker", "browser", "import", "module", "default"],
  require: ["workerd", "worker", "browser", "require", "module", "default"],
};
const EXTENSIONS = [".js", ".mjs", ".cjs", ".json"];

export type Resolution = { pkg: InstalledPackage; path: string } | { error: string };

/**
 * `@scope/name/sub/path` → name `@scope/name`, subpath `./sub/path` (`.` for none). A trailing
 * slash names the folder, as Node resolves it: `string_decoder/` is the package (its main),
 * which readable-stream requires that way to get the package rather than the built-in.
 */
export function splitBareSpecifier(spec: string): { name: string; subpath: string } | undefined {
  const parts = (spec.endsWith("/") ? spec.slice(0, -1) : spec).split("/");
  const nameParts = spec.startsWith("@") ? 2 : 1;
  if (parts.length < nameParts || parts.slice(0, nameParts).some((p) => p === "")) return undefined;
  const rest = parts.slice(nameParts);
  return { name: parts.slice(0, nameParts).join("/"), subpath: rest.length ? `./${rest.join("/")}` : "." };
}

/** Joins `spec` onto the directory of `importer`; null if it leaves the package. */
export function joinPackagePath(importer: string, spec: string): string | null {
  const parts = importer.split("/").slice(0, -1);
  for (const segment of spec.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join("/");
}

const has = (files: PackageFiles, path: string) => Object.hasOwn(files, path);

/** Exact file, then with an extension, then a directory's index or its package.json `main`. */
export function findPackageFile(files: PackageFiles, path: string, depth = 0): string | undefined {
  if (path !== "" && has(files, path)) return path;
  for (const ext of EXTENSIONS) if (path !== "" && has(files, path + ext)) return path + ext;
  const dir = path === "" ? "" : `${path}/`;
  if (depth === 0 && path !== "" && has(files, `${dir}package.json`)) {
    try {
      const main = (JSON.parse(files[`${dir}package.json`] ?? "") as { main?: unknown }).main;
      if (typeof main === "string") {
        const found = findPackageFile(files, joinPackagePath(`${dir}package.json`, main) ?? "", depth + 1);
        if (found) return found;
      }
    } catch {
      // An unreadable nested package.json is ignored, as Node does for `main` lookups.
    }
  }
  for (const ext of EXTENSIONS) if (has(files, `${dir}index${ext}`)) return `${dir}index${ext}`;
  return undefined;
}

const relative = (target: string) => target.replace(/^\.\//, "");

export class ModuleResolver {
  constructor(private readonly installed: InstalledPackages) {}

  /** The package `name` means when imported from `from` (null: the program's own files). */
  packageFor(name: string, from: InstalledPackage | null): InstalledPackage | undefined {
    const { root, packages } = this.installed;
    // A package not among its importer's dependencies falls back to the program's own (npm hoists).
    const id =
      (from ? (from.dependencies[name] ?? (from.name === name ? from.id : undefined)) : undefined) ?? root[name];
    return id === undefined ? undefined : packages.get(id);
  }

  /** Whether `name` is an npm package its importer asked for (it then wins over a Node built-in). */
  dependsOn(name: string, from: InstalledPackage | null): boolean {
    return from ? from.dependencies[name] !== undefined : this.installed.root[name] !== undefined;
  }

  packageById(id: string): InstalledPackage | undefined {
    return this.installed.packages.get(id);
  }

  /** A subpath (`.` or `./cors`) of `pkg`. */
  subpath(pkg: InstalledPackage, subpath: string, style: ImportStyle): Resolution {
    const manifest: PackageManifest = pkg.manifest;
    const spec = `${pkg.name}${subpath.slice(1)}`;
    if (manifest.exports !== undefined && manifest.exports !== null) {
      let targets: string[];
      try {
        targets = (resolveExports({ name: pkg.name, exports: manifest.exports }, subpath, {
          unsafe: true,
          conditions: CONDITIONS[style],
        }) ?? []) as string[];
      } catch {
        return {
          error: `"${spec}" is not exported by ${pkg.id} (no "${subpath}" entry in its package.json "exports" for the conditions ${CONDITIONS[style].join(", ")})`,
        };
      }
      for (const target of targets) {
        const path = joinPackagePath("package.json", target);
        if (path !== null && has(pkg.files, path)) return { pkg, path };
      }
      return {
        error: `"${spec}" maps to ${targets.join(", ") || "nothing"} in ${pkg.id}'s "exports", but the package has no such file`,
      };
    }
    if (subpath === ".") {
      const fields = style === "require" ? ["main", "module"] : ["module", "main"];
      for (const field of fields) {
        const value = manifest[field as "main" | "module"];
        const path = typeof value === "string" ? joinPackagePath("package.json", value) : null;
        const found = path === null ? undefined : findPackageFile(pkg.files, path);
        if (found) return { pkg, path: found };
      }
      const index = findPackageFile(pkg.files, "index");
      return index
        ? { pkg, path: index }
        : { error: `${pkg.id} has no entry point (no "exports", "module" or "main" file, no index.js)` };
    }
    const found = findPackageFile(pkg.files, relative(subpath));
    return found ? { pkg, path: found } : { error: `Cannot find "${spec}": ${pkg.id} has no such file` };
  }

  /** A `#name` specifier through the importing package's `imports` map: a file, or a bare specifier to resolve. */
  hashImport(pkg: InstalledPackage, spec: string, style: ImportStyle): Resolution | { bare: string } {
    let targets: string[];
    try {
      targets = (resolveImports({ name: pkg.name, imports: pkg.manifest.imports as never }, spec, {
        unsafe: true,
        conditions: CONDITIONS[style],
      }) ?? []) as string[];
    } catch {
      return { error: `"${spec}" is not defined by ${pkg.id}'s package.json "imports"` };
    }
    for (const target of targets) {
      if (!target.startsWith("./")) return { bare: target };
      const path = joinPackagePath("package.json", target);
      if (path !== null && has(pkg.files, path)) return { pkg, path };
    }
    return {
      error: `"${spec}" maps to ${targets.join(", ") || "nothing"} in ${pkg.id}'s "imports", but the package has no such file`,
    };
  }

  /** A relative specifier inside `pkg`. */
  relative(pkg: InstalledPackage, importer: string, spec: string): Resolution {
    const joined = spec.startsWith("/") ? null : joinPackagePath(importer, spec);
    const found = joined === null ? undefined : findPackageFile(pkg.files, joined);
    return found ? { pkg, path: found } : { error: `Cannot find module "${spec}" imported from ${pkg.id}/${importer}` };
  }
}
