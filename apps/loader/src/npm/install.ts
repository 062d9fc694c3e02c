/**
 * @module npm/install
 * The npm step of bundling: `dependencies` in, every package of the resolved graph out with its
 * files and parsed package.json, ready for the module resolver. Where things come from is the
 * `NpmEnvironment`: the registry URL (Worker var DWL_NPM_REGISTRY) and the KV / R2 bindings
 * that cache metadata and unpacked packages across loader isolates.
 */
import { CompileError } from "../compile-error.ts";
import { DEFAULT_NPM_REGISTRY, MAX_PACKAGES, MAX_UNPACKED_BYTES, REGISTRY_CONCURRENCY } from "../limits.ts";
import { mapLimit } from "./concurrency.ts";
import { filesBytes, PackageStore } from "./package-store.ts";
import { NpmRegistry } from "./registry.ts";
import { resolveDependencies, type ResolvedPackage } from "./resolve.ts";
import type { PackageFiles } from "./tarball.ts";

export interface NpmEnvironment {
  /** Registry base URL, e.g. https://registry.npmjs.org. */
  registry: string;
  /** Caches package metadata across loader isolates (optional). */
  kv?: KVNamespace;
  /** Caches unpacked packages across loader isolates (optional). */
  bucket?: R2Bucket;
}

/** The fields of package.json that module resolution reads. */
export interface PackageManifest {
  name?: unknown;
  main?: unknown;
  module?: unknown;
  exports?: unknown;
  imports?: unknown;
  sideEffects?: unknown;
}

export interface InstalledPackage extends ResolvedPackage {
  files: PackageFiles;
  manifest: PackageManifest;
}

export interface InstalledPackages {
  /** The program's own dependencies: name → package id. */
  root: Record<string, string>;
  packages: Map<string, InstalledPackage>;
}

export interface InstallLimits {
  maxPackages: number;
  /** Kept files of all packages together. */
  maxUnpackedBytes: number;
}

const DEFAULT_LIMITS: InstallLimits = { maxPackages: MAX_PACKAGES, maxUnpackedBytes: MAX_UNPACKED_BYTES };

/** Reads the configuration from the Worker's bindings and vars. */
export function npmEnvironment(env: { DWL_NPM_REGISTRY?: string; KV?: KVNamespace; FILES?: R2Bucket }): NpmEnvironment {
  return {
    registry: env.DWL_NPM_REGISTRY || DEFAULT_NPM_REGISTRY,
    ...(env.KV ? { kv: env.KV } : {}),
    ...(env.FILES ? { bucket: env.FILES } : {}),
  };
}

function parseManifest(pkg: ResolvedPackage, files: PackageFiles): PackageManifest {
  try {
    const manifest: unknown = JSON.parse(files["package.json"] ?? "");
    if (typeof manifest === "object" && manifest !== null && !Array.isArray(manifest))
      return manifest as PackageManifest;
  } catch {
    // Reported below.
  }
  throw new CompileError(`${pkg.id} has an unreadable package.json`);
}

/**
 * Resolves `dependencies` and loads every package of the graph (memory, R2 or registry). Every
 * failure, from an unknown package to a hostile tarball, is a CompileError that says which.
 */
export async function installDependencies(
  dependencies: Record<string, string>,
  environment: NpmEnvironment,
  limits: InstallLimits = DEFAULT_LIMITS,
): Promise<InstalledPackages> {
  const registry = new NpmRegistry(environment.registry, environment.kv);
  const graph = await resolveDependencies(dependencies, registry, limits.maxPackages);
  const store = new PackageStore(registry, environment.bucket);
  const installed = await mapLimit(
    [...graph.packages.values()],
    REGISTRY_CONCURRENCY,
    async (pkg): Promise<InstalledPackage> => {
      const files = await store.files(pkg);
      return { ...pkg, files, manifest: parseManifest(pkg, files) };
    },
  );
  let bytes = 0;
  for (const pkg of installed) bytes += filesBytes(pkg.files);
  if (bytes > limits.maxUnpackedBytes) {
    throw new CompileError(
      `the dependencies unpack to ${bytes} bytes of JavaScript and JSON, over the ${limits.maxUnpackedBytes}-byte limit`,
    );
  }
  return { root: graph.root, packages: new Map(installed.map((pkg) => [pkg.id, pkg])) };
}
