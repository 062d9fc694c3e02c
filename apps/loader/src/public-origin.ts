/**
 * @module public-origin
 * The one rule for the origin clients reach the loader on, used for a sandbox's public `url` and
 * for the request URL its fetch handler sees. Behind the local supervisor the loader listens on
 * an internal port, so the supervisor sets `DWL_PUBLIC_ORIGIN`; deployed, the request's own
 * origin is the public one. Client headers (Host, x-forwarded-host) are never read: reflecting
 * them would let any caller choose the host written into URLs the loader hands out.
 */
import { publicOriginSetting } from "./settings.ts";

/** The origin of URLs handed to clients and sandboxes: DWL_PUBLIC_ORIGIN, else `requestUrl`'s. */
export function publicOrigin(env: Pick<Env, "DWL_PUBLIC_ORIGIN">, requestUrl: string): string {
  // A malformed value throws a SettingError naming it (500 not_configured, errors.ts).
  return publicOriginSetting(env) ?? new URL(requestUrl).origin;
}
