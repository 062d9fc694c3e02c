/**
 * @module hash
 * SHA-256 as the loader uses it: content keys (bundles, programs, packages, isolates) and the
 * comparison of presented API keys with the configured hashes.
 */

const encoder = new TextEncoder();

/** The SHA-256 digest of `text` (UTF-8). */
export async function sha256Bytes(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** The SHA-256 digest of `text` (UTF-8) as lowercase hex. */
export async function sha256Hex(text: string): Promise<string> {
  return Array.from(await sha256Bytes(text), (b) => b.toString(16).padStart(2, "0")).join("");
}
