/**
 * @module npm/integrity
 * Checks a downloaded tarball against the registry's `dist.integrity` (Subresource Integrity:
 * `sha512-<base64>`, possibly several space-separated hashes) or, for packages published before
 * npm 5, the hex SHA-1 `dist.shasum`. Uses crypto.subtle: no Node APIs.
 */
import { hex } from "../hash.ts";

/** Strongest first; SRI says to use the strongest algorithm present. */
const ALGORITHMS = [
  ["sha512", "SHA-512"],
  ["sha384", "SHA-384"],
  ["sha256", "SHA-256"],
  ["sha1", "SHA-1"],
] as const;

export interface Dist {
  integrity?: string;
  shasum?: string;
}

function toBase64(bytes: ArrayBuffer): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Returns undefined when `data` matches, else why not. Metadata with neither an integrity nor a
 * shasum is refused: an unverifiable tarball is not installed.
 */
export async function integrityProblem(data: Uint8Array, dist: Dist): Promise<string | undefined> {
  const hashes = (dist.integrity ?? "").trim().split(/\s+/).filter(Boolean);
  for (const [prefix, algorithm] of ALGORITHMS) {
    const expected = hashes
      .filter((h) => h.startsWith(`${prefix}-`))
      .map((h) => h.slice(prefix.length + 1).replace(/\?.*$/, ""));
    if (expected.length === 0) continue;
    const actual = toBase64(await crypto.subtle.digest(algorithm, data));
    return expected.includes(actual) ? undefined : `its ${prefix} digest does not match the registry's integrity`;
  }
  if (dist.shasum) {
    const actual = hex(new Uint8Array(await crypto.subtle.digest("SHA-1", data)));
    return actual === dist.shasum.toLowerCase() ? undefined : "its SHA-1 does not match the registry's shasum";
  }
  return "the registry gives no integrity hash for it";
}
