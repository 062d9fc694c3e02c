/**
 * @module hash
 * SHA-256 as the loader uses it: content keys (bundles, programs, packages, isolates) and the
 * comparison of presented API keys with the configured hashes.
 */
import { MAX_HASH_MEMO_CHARS } from "./limits.ts";

const encoder = new TextEncoder();

/** The SHA-256 digest of `text` (UTF-8). */
export async function sha256Bytes(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** `bytes` as lowercase hex. */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b];
  return out;
}

/** `bytes` random bytes as lowercase hex. */
export const randomHex = (bytes: number): string => hex(crypto.getRandomValues(new Uint8Array(bytes)));

/**
 * Recent texts and their hex digests. A program run again (the warm path) hashes the same texts
 * for its program key and its isolate id on every request; the digest's promise, its buffer and
 * the hex formatting were a tenth of that request's loader CPU. Keyed by the whole text, so a hit
 * is exact; least recently used first out, bounded by the texts' total length. A text that holds
 * a secret is hashed with sha256Bytes instead, so that the memo keeps none.
 */
const memo = new Map<string, Promise<string>>();
let memoChars = 0;

function remember(text: string, digest: Promise<string>): void {
  memo.set(text, digest);
  memoChars += text.length;
  for (const [old] of memo) {
    if (memoChars <= MAX_HASH_MEMO_CHARS) break;
    memo.delete(old);
    memoChars -= old.length;
  }
}

/** How many characters of text the memo holds now (never over MAX_HASH_MEMO_CHARS). */
export const rememberedChars = (): number => memoChars;

/** The SHA-256 digest of `text` (UTF-8) as lowercase hex. */
export function sha256Hex(text: string): Promise<string> {
  const known = memo.get(text);
  if (known) {
    memo.delete(text);
    memo.set(text, known);
    return known;
  }
  const digest = sha256Bytes(text).then(hex);
  if (text.length <= MAX_HASH_MEMO_CHARS / 16) remember(text, digest);
  return digest;
}
