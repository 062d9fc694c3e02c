/**
 * @module egress/secrets
 * Encryption at rest for tenant credentials, Web Crypto only. The key is derived from a Worker
 * secret (`DWL_ENCRYPTION_KEY`) with HKDF-SHA-256 into AES-256-GCM; each value gets a random
 * 96-bit IV, and the tenant and credential name are bound as additional data, so a sealed value
 * copied to another tenant or name fails authentication instead of decrypting.
 *
 * Sealed format: `v1.<iv>.<ciphertext and 128-bit tag>`, both base64url without padding.
 */
import { MIN_ENCRYPTION_KEY_CHARS } from "../limits.ts";

/**
 * The local-mode fallback for `DWL_ENCRYPTION_KEY`, public on purpose: values sealed with it are
 * readable by anyone with this source. Only for `DWL_MODE = "local"`; a deployed loader must set
 * the secret (`wrangler secret put DWL_ENCRYPTION_KEY`, e.g. from `openssl rand -base64 32`).
 */
export const DEV_ENCRYPTION_KEY = "dwl-local-dev-encryption-key-not-secret";

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Fixed and public by design: HKDF's salt and info separate this use of the secret from any
// other key derived from it; they change only with the format version.
const HKDF_SALT = "dwl/credentials/salt/v1";
const HKDF_INFO = "dwl/credentials/aes-256-gcm/v1";

export type SecretErrorCode = "bad_key" | "malformed" | "undecryptable";

/** A credential could not be sealed or opened. Messages never include plaintext or key material. */
export class SecretError extends Error {
  constructor(
    readonly code: SecretErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SecretError";
  }
}

/** The tenant and name a sealed value belongs to; authenticated, not encrypted. */
export interface SecretBinding {
  tenant: string;
  name: string;
}

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF that was part of the plaintext instead of stripping it.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// One derivation per distinct secret for the isolate's lifetime (secrets are fixed per deploy).
// A failed derivation is forgotten so that it is not cached.
const keys = new Map<string, Promise<CryptoKey>>();

function deriveKey(secret: string): Promise<CryptoKey> {
  if (secret.length < MIN_ENCRYPTION_KEY_CHARS) {
    return Promise.reject(
      new SecretError("bad_key", `the encryption key must be at least ${MIN_ENCRYPTION_KEY_CHARS} characters long`),
    );
  }
  let key = keys.get(secret);
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: encoder.encode(HKDF_SALT), info: encoder.encode(HKDF_INFO) },
        material,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(secret, key);
    key.catch(() => keys.delete(secret));
  }
  return key;
}

/** JSON array: unambiguous whatever characters tenant and name contain (`["a.b","c"]` ≠ `["a","b.c"]`). */
function additionalData({ tenant, name }: SecretBinding): Uint8Array {
  return encoder.encode(JSON.stringify([VERSION, tenant, name]));
}

/**
 * Encrypts `plaintext` for one tenant's credential `name`.
 *
 * @param secret the Worker secret `DWL_ENCRYPTION_KEY` (or {@link DEV_ENCRYPTION_KEY} locally)
 * @returns `v1.<iv>.<ciphertext>`, a fresh IV every call
 * @throws {SecretError} `bad_key` when the secret is too short
 */
export async function sealSecret(secret: string, plaintext: string, binding: SecretBinding): Promise<string> {
  const key = await deriveKey(secret);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(binding), tagLength: TAG_BYTES * 8 },
    key,
    encoder.encode(plaintext),
  );
  return `${VERSION}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
}

/**
 * Decrypts a value from {@link sealSecret} with the same secret and binding.
 *
 * @throws {SecretError} `malformed` for a value not in the `v1` format; `undecryptable` when the
 *   key, tenant or name differ or the value was altered (indistinguishable by design);
 *   `bad_key` when the secret is too short.
 */
export async function openSecret(secret: string, sealed: string, binding: SecretBinding): Promise<string> {
  const key = await deriveKey(secret);
  const parts = sealed.split(".");
  const [version, ivText, dataText] = parts;
  if (parts.length !== 3 || version !== VERSION || ivText === undefined || dataText === undefined) {
    throw new SecretError("malformed", `a sealed credential must have the form ${VERSION}.<iv>.<ciphertext>`);
  }
  const iv = fromBase64Url(ivText);
  const data = fromBase64Url(dataText);
  if (!iv || iv.length !== IV_BYTES || !data || data.length < TAG_BYTES) {
    throw new SecretError("malformed", "a sealed credential has an invalid IV or ciphertext encoding");
  }
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: additionalData(binding), tagLength: TAG_BYTES * 8 },
      key,
      data,
    );
  } catch {
    throw new SecretError(
      "undecryptable",
      "the sealed credential does not decrypt: wrong encryption key, altered value, or sealed for another tenant or name",
    );
  }
  try {
    return decoder.decode(plain);
  } catch {
    // Unreachable for values from sealSecret (authenticated UTF-8); kept so a bug cannot leak bytes.
    throw new SecretError("malformed", "a sealed credential decrypted to invalid UTF-8");
  }
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict: only the base64url alphabet, no padding, no length that base64 cannot produce. */
function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    return undefined;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  // Reject non-canonical spellings (unused trailing bits set), so each value has one encoding.
  return toBase64Url(bytes) === text ? bytes : undefined;
}
