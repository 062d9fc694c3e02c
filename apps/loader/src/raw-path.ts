/**
 * @module raw-path
 * A request URL's path (and query) as the client sent it. Not `new URL(...).pathname`: URL
 * parsing resolves `.`/`..` segments, percent-encoded ones too (`%2e%2e`), which would move a
 * request to another namespace, key or program path than the one it names. And the path the
 * app's router matches, which the local supervisor classifies requests by.
 */
import { getPath } from "hono/utils/url";

/** The path and query of an absolute URL (`/a/b?x=1`), without the fragment. */
export function rawPathAndQuery(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const hash = url.indexOf("#", start);
  return url.slice(start, hash < 0 ? undefined : hash);
}

/** The path of an absolute URL, from the first `/` after the authority up to `?` or `#`. */
export function rawPath(url: string): string {
  const path = rawPathAndQuery(url);
  const query = path.indexOf("?");
  return query < 0 ? path : path.slice(0, query);
}

/**
 * The path the app's router (index.ts) matches for `url`: Hono's own reading, percent-decoded but
 * for reserved characters (`/%65xecute` is `/execute`, `%2F` stays), without query or fragment;
 * and one trailing slash dropped, since its pattern router matches a route with or without one
 * (`/execute/` runs `/execute`). The local supervisor admits and caps a request by the route this
 * names (apps/supervisor/src/routes.ts), so that no spelling of a route escapes either.
 */
export function routedPath(url: string): string {
  const path = getPath({ url } as Request);
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}
