/**
 * @module npm/tarball
 * From a downloaded npm tarball (its integrity already checked) to the package's files that
 * bundling can use: gunzip and untar in one pass under limits; paths are made relative to the
 * package root and a path that would escape it refuses the whole package. Only JavaScript and
 * JSON are kept (types, maps, docs and binaries are dropped as they stream past).
 */
import { MAX_TAR_ENTRIES, MAX_UNPACKED_BYTES } from "../limits.ts";
import { gunzip, TarError, TarParser } from "./tar.ts";

/** Path relative to the package root (`dist/index.js`) → UTF-8 text. */
export type PackageFiles = Record<string, string>;

/** Kept from a tarball: what esbuild can load. `.d.ts` and `.map` end otherwise, so they go. */
const KEPT_FILE = /\.(?:js|mjs|cjs|json)$/;

export interface UnpackLimits {
  maxUnpackedBytes: number;
  maxEntries: number;
}

const DEFAULT_LIMITS: UnpackLimits = { maxUnpackedBytes: MAX_UNPACKED_BYTES, maxEntries: MAX_TAR_ENTRIES };

/**
 * npm tarballs put everything under one top directory (`package/`, sometimes another name): it
 * is dropped. Returns null for a path that is absolute or has a `..` segment anywhere (no
 * tarball npm produces has one).
 */
export function packagePath(raw: string): string | null {
  if (raw.startsWith("/") || raw.includes("\\") || /^[a-zA-Z]:/.test(raw)) return null;
  const segments = raw.split("/");
  if (segments.includes("..")) return null;
  return segments
    .slice(1)
    .filter((segment) => segment !== "" && segment !== ".")
    .join("/");
}

/** Throws TarError (without the package's name; the caller adds it). */
export async function unpackTarball(gzipped: Uint8Array, limits: UnpackLimits = DEFAULT_LIMITS): Promise<PackageFiles> {
  const keep = (raw: string): boolean => {
    const path = packagePath(raw);
    if (path === null) throw new TarError(`its entry "${raw.slice(0, 200)}" points outside the package`);
    return path !== "" && KEPT_FILE.test(path) && !path.startsWith("node_modules/") && !path.includes("/node_modules/");
  };
  const parser = new TarParser(limits.maxEntries, limits.maxUnpackedBytes, keep);
  await gunzip(gzipped, limits.maxUnpackedBytes, (chunk) => parser.push(chunk));
  const decoder = new TextDecoder();
  const files: PackageFiles = {};
  for (const entry of parser.end()) files[packagePath(entry.path) ?? ""] = decoder.decode(entry.data);
  if (files["package.json"] === undefined) throw new TarError("it has no package.json");
  return files;
}
