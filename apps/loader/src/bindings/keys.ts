/**
 * @module keys
 * Storage scoping: every key a tenant's program or HTTP client names is relative to
 * `t/<tenant>/<namespace>/`, and is validated so it can only ever denote a location inside that
 * prefix. Refused rather than "cleaned up": a model fixing its code learns more from a clear
 * error than from a silently different key.
 */
import { MAX_STORAGE_KEY_BYTES } from "../limits.ts";

export class StorageKeyError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "StorageKeyError";
  }
}

/** A value, object, page or batch over its size limit (HTTP: 413). */
export class StorageLimitError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "StorageLimitError";
  }
}

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Characters that look like `/`, `\` or `.` to a human or to a path normaliser. */
const LOOK_ALIKES = /[\u2024\u2044\u2215\u29F5\u29F8\uFE52\uFE68\uFF0E\uFF0F\uFF3C\u3002\uFF61]/u;
/** Control, format (zero-width, bidi overrides), line/paragraph separators, private use, unassigned. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/u;
/** Half of a UTF-16 surrogate pair without its other half (a `u` regex sees pairs as one). */
const LONE_SURROGATE = /\p{Cs}/u;
/** Percent-encodings of `.`, `/`, `\` (and `%` itself), which some layer might decode later. */
const ENCODED_SEPARATOR = /%(2e|2f|5c|25)/i;

export function validateNamespace(namespace: unknown): string {
  if (typeof namespace !== "string" || !NAMESPACE.test(namespace)) {
    throw new StorageKeyError(
      `invalid storage namespace ${JSON.stringify(namespace)}: use 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit`,
    );
  }
  return namespace;
}

/** Validates a key relative to a namespace; returns it unchanged or throws StorageKeyError. */
export function validateKey(key: unknown, what = "key"): string {
  if (typeof key !== "string") throw new StorageKeyError(`${what} must be a string, got ${typeof key}`);
  const fail = (why: string): never => {
    throw new StorageKeyError(
      `invalid ${what} ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}: ${why}`,
    );
  };
  if (key.length === 0) fail("it is empty");
  // A lone surrogate has no UTF-8 form: storage would refuse it (as a retryable error), or two
  // keys would become the same U+FFFD key on the way.
  if (LONE_SURROGATE.test(key)) fail("it contains a lone surrogate (not valid Unicode text)");
  const bytes = new TextEncoder().encode(key).byteLength;
  if (bytes > MAX_STORAGE_KEY_BYTES) fail(`it is ${bytes} bytes, over the ${MAX_STORAGE_KEY_BYTES}-byte limit`);
  if (INVISIBLE.test(key)) fail("it contains control or invisible characters");
  if (key !== key.normalize("NFC")) fail("it is not in Unicode normal form NFC");
  if (LOOK_ALIKES.test(key)) fail("it contains characters that look like '/', '\\' or '.'");
  // Structural rules hold for the key and for its compatibility form, in case any layer
  // (a client, a proxy, a file system) applies NFKC later.
  for (const form of new Set([key, key.normalize("NFKC")])) {
    if (form.includes("\\")) fail("backslashes are not allowed; use '/' to separate segments");
    if (ENCODED_SEPARATOR.test(form)) fail("percent-encoded '.', '/', '\\' or '%' are not allowed");
    if (form.startsWith("/")) fail("keys are relative to the namespace: remove the leading '/'");
    if (form.split("/").some((segment) => segment === "." || segment === ".."))
      fail("'.' and '..' segments are not allowed");
    if (form.includes("//")) fail("empty path segments ('//') are not allowed");
  }
  return key;
}

/** A list prefix may be empty; otherwise it follows the key rules (a trailing '/' is fine). */
export function validatePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === null || prefix === "") return "";
  return validateKey(prefix, "prefix");
}

/** The storage prefix of one tenant's namespace. Tenants are configured ids, never user input. */
export function scopePrefix(tenant: string, namespace: string): string {
  return `t/${tenant}/${validateNamespace(namespace)}/`;
}
