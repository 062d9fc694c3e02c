/**
 * @module public-origin
 * The one rule for the origin clients reach the loader on, used for a sandbox's public `url` and
 * for the request URL its fetch handler sees. Behind the local supervisor the loader listens on
 * an internal port, so the supervisor sets `DWL_PUBLIC_ORIGIN`; deployed, the request's own
 * origin is the public one. Client headers (Host, x-forwarded-host) are never read: reflecting
 * them would let any caller choose the host written into URLs the loader hands out.
 */
import { DwlHttpError } from "./errors.ts";

let parsed: { raw: string; origin: string | null } | undefined;

function configuredOrigin(raw: string): string {
  if (parsed?.raw !== raw) {
    let origin: string | null = null;
    try {
      const url = new URL(raw);
      const bare = url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password && !raw.endsWith("?") && !raw.endsWith("#");
      if ((url.protocol === "http:" || url.protocol === "https:") && bare) origin = url.origin;
    } catch {
      // not a URL: reported below
    }
    parsed = { raw, origin };
  }
  if (parsed.origin === null) {
    throw new DwlHttpError(500, "not_configured", `DWL_PUBLIC_ORIGIN must be an http(s) origin without a path, like "http://127.0.0.1:8787"; got ${JSON.stringify(raw)}`);
  }
  return parsed.origin;
}

/** The origin of URLs handed to clients and sandboxes: DWL_PUBLIC_ORIGIN, else `requestUrl`'s. */
export function publicOrigin(env: Pick<Env, "DWL_PUBLIC_ORIGIN">, requestUrl: string): string {
  return env.DWL_PUBLIC_ORIGIN ? configuredOrigin(env.DWL_PUBLIC_ORIGIN) : new URL(requestUrl).origin;
}
