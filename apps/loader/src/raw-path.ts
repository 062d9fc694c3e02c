/**
 * @module raw-path
 * A request URL's path (and query) as the client sent it. Not `new URL(...).pathname`: URL
 * parsing resolves `.`/`..` segments, percent-encoded ones too (`%2e%2e`), which would move a
 * request to another namespace, key or program path than the one it names.
 */

/** The path of an absolute URL, from the first `/` after the authority up to `?` or `#`. */
export function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const end = url.search(/[?#]/);
  return url.slice(start, end < start ? undefined : end);
}

/** The path and query of an absolute URL (`/a/b?x=1`), without the fragment. */
export function rawPathAndQuery(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const hash = url.indexOf("#", start);
  return url.slice(start, hash < 0 ? undefined : hash);
}
