/**
 * @module list-cursor
 * The page cursors of `env.KV.list`, `env.FILES.list` and `GET /files/:namespace`. KV's and R2's
 * own cursors are opaque, and both answer an empty, complete last page for a cursor they did not
 * hand out, so a mangled or mixed-up cursor looked like the end of the listing. The loader hands
 * out the storage's cursor wrapped with a mark of the listing it belongs to (store, scope,
 * prefix, delimiter) and refuses any other with a `ListCursorError`, which names `cursor`.
 *
 * The mark is a 32-bit FNV-1a hash of the listing, not the listing itself, so it adds nothing of
 * the storage's key layout to what the storage's own cursor shows. It only tells cursors apart:
 * it is no security boundary, since the storage filters every listing by the caller's own
 * prefix whatever the cursor says.
 */
import { MAX_LIST_CURSOR_CHARS } from "../limits.ts";

export class ListCursorError extends RangeError {
  override name = "RangeError";
  readonly field = "cursor";
  constructor(store: string) {
    super(`cursor is not one that ${store}.list handed out for this listing: pass the previous page's cursor as it is`);
  }
}

/** FNV-1a over UTF-16 code units: cheap, synchronous, and stable across loader instances. */
function listingMark(listing: readonly string[]): string {
  let hash = 0x811c9dc5;
  for (const char of listing.join("\0")) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}

const toBase64Url = (text: string): string =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

function fromBase64Url(text: string): string | undefined {
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(binary, (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
}

/** The page cursor to hand out for the storage's `cursor` of `listing`. */
export function wrapCursor(listing: readonly string[], cursor: string): string {
  return toBase64Url(JSON.stringify([listingMark(listing), cursor]));
}

/** The storage's cursor behind a page cursor of `listing`; a `ListCursorError` for any other. */
export function unwrapCursor(store: "KV" | "FILES", listing: readonly string[], pageCursor: string): string {
  if (typeof pageCursor !== "string" || pageCursor.length > MAX_LIST_CURSOR_CHARS) throw new ListCursorError(store);
  const decoded = fromBase64Url(pageCursor);
  let parts: unknown;
  try {
    parts = decoded === undefined ? undefined : JSON.parse(decoded);
  } catch {
    parts = undefined;
  }
  if (
    Array.isArray(parts) &&
    parts.length === 2 &&
    parts[0] === listingMark(listing) &&
    typeof parts[1] === "string" &&
    parts[1] !== ""
  )
    return parts[1];
  throw new ListCursorError(store);
}
