/**
 * @module egress/encryption-key
 * The Worker secret that seals credentials and signs run tokens. Local mode falls back to the
 * documented dev value; a deployed loader without it refuses credential features (fails closed).
 */
import { DwlHttpError } from "../errors.ts";
import { isLocalMode } from "../settings.ts";
import { DEV_ENCRYPTION_KEY } from "./secrets.ts";

export function encryptionKey(env: Pick<Env, "DWL_ENCRYPTION_KEY" | "DWL_MODE">): string {
  if (env.DWL_ENCRYPTION_KEY) return env.DWL_ENCRYPTION_KEY;
  if (isLocalMode(env)) return DEV_ENCRYPTION_KEY;
  throw new DwlHttpError(
    503,
    "not_configured",
    "credentials are unavailable: set the DWL_ENCRYPTION_KEY secret (at least 32 random characters) with `wrangler secret put DWL_ENCRYPTION_KEY`",
  );
}
