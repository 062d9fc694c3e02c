/**
 * @module supervision/supervisor-url
 * DWL_SUPERVISOR_URL, read once per value: where effect notices go (effects.ts), and the secret
 * path segment the supervisor signs its cancel notices with (cancel.ts).
 */

export interface SupervisorEndpoint {
  /** `${DWL_SUPERVISOR_URL}/effects`. */
  effectsUrl: string;
  /** The URL's path without its slashes: only the supervisor and this loader know it ("" for none). */
  secret: string;
}

let parsed: { raw: string; endpoint: SupervisorEndpoint | Error } | undefined;

/**
 * The supervisor's endpoint, or an Error when the variable is not a loopback http URL. An invalid
 * value fails every effect rather than being ignored: ignoring it would let effects happen
 * unreported, and the supervisor would then replay requests that already had them.
 */
export function supervisorEndpoint(raw: string): SupervisorEndpoint | Error {
  if (parsed?.raw === raw) return parsed.endpoint;
  let endpoint: SupervisorEndpoint | Error;
  try {
    const u = new URL(raw);
    const loopback = u.hostname === "127.0.0.1" || u.hostname === "localhost";
    if (u.protocol !== "http:" || !loopback || u.username || u.password || u.search || u.hash)
      throw new Error("not a loopback http URL");
    const path = u.pathname.replace(/\/+$/, "");
    endpoint = { effectsUrl: `${u.origin}${path}/effects`, secret: path.replace(/^\/+/, "") };
  } catch {
    endpoint = new Error(
      `DWL_SUPERVISOR_URL must be an http://127.0.0.1:<port> or http://localhost:<port> URL, got ${JSON.stringify(raw)}`,
    );
    console.error(`[dwl] ${endpoint.message}: every side effect of a supervised request will fail`);
  }
  parsed = { raw, endpoint };
  return endpoint;
}
