/**
 * @module auth
 * `Authorization: Bearer <key>` → tenant. Keys are configured as SHA-256 hashes (DWL_API_KEYS,
 * a Worker secret), so the loader never holds a key in clear; comparison is constant-time.
 * In local mode the documented dev key `dwl_local_dev` maps to tenant `local`.
 */
import { apiKeyOf, configuredApiKeys, DEV_API_KEY } from "@dwl/protocol";
import { DwlHttpError } from "./errors.ts";
import { sha256Bytes } from "./hash.ts";
import { isLocalMode } from "./settings.ts";

export { DEV_API_KEY };
export const DEV_TENANT = "local";

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

interface KeyEntry {
  hash: Uint8Array;
  tenant: string;
}

/** Parsed once per distinct DWL_API_KEYS value (vars are fixed for an isolate's lifetime). */
let parsedKeys: { source: string; entries: KeyEntry[] } | undefined;
let devKeyHash: Promise<Uint8Array> | undefined;

function configuredKeys(env: Pick<Env, "DWL_API_KEYS">): KeyEntry[] {
  if (!env.DWL_API_KEYS) return [];
  if (parsedKeys?.source === env.DWL_API_KEYS) return parsedKeys.entries;
  const configured = configuredApiKeys(env.DWL_API_KEYS);
  if (!configured) {
    throw DwlHttpError.of(
      "not_configured",
      'DWL_API_KEYS is not valid JSON: expected { "<sha256 hex of key>": "<tenant>" }',
    );
  }
  const entries = configured.map(({ hash, tenant }) => ({ hash: hexToBytes(hash), tenant }));
  parsedKeys = { source: env.DWL_API_KEYS, entries };
  return entries;
}

/** A 401 with the challenge HTTP requires of one (RFC 9110 §11.6.1). */
const unauthorized = (message: string) =>
  DwlHttpError.of("unauthorized", message, undefined, { "www-authenticate": 'Bearer realm="dwl"' });

/** Resolves the tenant of a request or throws 401 (bad key) / 503 (no keys configured). */
export async function authenticate(
  header: string | undefined,
  env: Pick<Env, "DWL_API_KEYS" | "DWL_MODE">,
): Promise<string> {
  const local = isLocalMode(env);
  const keys = [...configuredKeys(env)];
  if (local) keys.push({ hash: await (devKeyHash ??= sha256Bytes(DEV_API_KEY)), tenant: DEV_TENANT });
  if (keys.length === 0) {
    throw new DwlHttpError(
      503,
      "not_configured",
      'no API keys are configured: set the DWL_API_KEYS secret to { "<sha256 hex of key>": "<tenant>" } (see README, Tenants and keys); for local development run `npm run dev`, which accepts the dev key dwl_local_dev',
    );
  }
  const presentedKey = apiKeyOf(header);
  if (!presentedKey) {
    const scheme = header?.trim().split(/\s+/)[0];
    const why = !header?.trim()
      ? "missing API key"
      : /^Bearer\s/i.test(header.trim())
        ? // Two headers joined (`Bearer a, Bearer b`), or a key with spaces: not one key.
          "the Authorization header holds more than one word after Bearer (two keys, or a key with spaces)"
        : `the Authorization header is not a Bearer key${scheme && scheme !== header?.trim() ? ` (its scheme is ${JSON.stringify(scheme.slice(0, 20))})` : ""}`;
    throw unauthorized(`${why}: send \`Authorization: Bearer <key>\``);
  }
  const presented = await sha256Bytes(presentedKey);
  let tenant: string | undefined;
  // Compare against every key so timing does not reveal which one (or whether any) matched.
  for (const key of keys) {
    if (crypto.subtle.timingSafeEqual(key.hash, presented) && tenant === undefined) tenant = key.tenant;
  }
  if (tenant === undefined) throw unauthorized("invalid API key");
  return tenant;
}
