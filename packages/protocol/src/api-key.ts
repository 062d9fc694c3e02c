/**
 * @module api-key
 * How a request names its API key: `Authorization: Bearer <key>`. One rule for the loader's
 * authentication and the local supervisor's admission, so that every spelling the loader
 * accepts as one key (`bearer`, extra spaces) is one key for admission too.
 */
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The key an Authorization header presents, or undefined when it presents none. */
export function apiKeyOf(authorization: string | null | undefined): string | undefined {
  return BEARER.exec(authorization ?? "")?.[1] || undefined;
}
