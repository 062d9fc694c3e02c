/**
 * @module api-key
 * How a request names its API key: `Authorization: Bearer <key>`. One rule for the loader's
 * authentication and the local supervisor's admission, so that every spelling the loader
 * accepts as one key (`bearer`, extra spaces) is one key for admission too. And which keys are
 * configured (DWL_API_KEYS), so that the supervisor knows them before the loader's first answer.
 */
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The key an Authorization header presents, or undefined when it presents none. */
export function apiKeyOf(authorization: string | null | undefined): string | undefined {
  return BEARER.exec(authorization ?? "")?.[1] || undefined;
}

/** The key local mode (`npm run dev`) accepts besides the configured ones, for tenant `local`. */
export const DEV_API_KEY = "dwl_local_dev";

/**
 * DWL_API_KEYS, `{ "<sha256 hex of key>": "<tenant>" }`, as (lower-case hash, tenant) pairs;
 * entries of another shape are skipped. Undefined when it is not JSON.
 */
export function configuredApiKeys(raw: string): { hash: string; tenant: string }[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const keys: { hash: string; tenant: string }[] = [];
  if (typeof parsed !== "object" || parsed === null) return keys;
  for (const [hash, tenant] of Object.entries(parsed)) {
    if (/^[0-9a-f]{64}$/i.test(hash) && typeof tenant === "string") keys.push({ hash: hash.toLowerCase(), tenant });
  }
  return keys;
}
