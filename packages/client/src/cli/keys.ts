/**
 * @module cli/keys
 * API keys and secrets for a deployed loader. The loader stores only SHA-256 hashes of keys
 * (`DWL_API_KEYS = { "<sha256 hex>": "<tenant>" }`, apps/loader/src/auth.ts), so a key is shown
 * once, here, and never again.
 */
import { createHash, randomBytes } from "node:crypto";

/** 32 random bytes: 256 bits, as many as the hash that stands for the key. */
const KEY_BYTES = 32;

export interface NewApiKey {
  key: string;
  tenant: string;
  sha256: string;
  /** The `DWL_API_KEYS` secret granting only this key. */
  apiKeys: Record<string, string>;
}

/** A fresh random API key for `tenant` and its `DWL_API_KEYS` entry. */
export function newApiKey(tenant: string): NewApiKey {
  const key = `dwl_${randomBytes(KEY_BYTES).toString("base64url")}`;
  const sha256 = createHash("sha256").update(key).digest("hex");
  return { key, tenant, sha256, apiKeys: { [sha256]: tenant } };
}

/** A fresh `DWL_ENCRYPTION_KEY` (the loader needs at least 32 characters; this has 43). */
export function newEncryptionKey(): string {
  return randomBytes(KEY_BYTES).toString("base64url");
}
