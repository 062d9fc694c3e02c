/**
 * @module routes
 * What the supervisor needs to know of a request from its method and path alone (the loader's
 * routes: apps/loader/src/index.ts).
 */
export interface Route {
  /** The health probe: never queued, never needs a key. */
  health: boolean;
  /** Runs or bundles a program: takes an admission slot. */
  program: boolean;
  /** Runs a program whose effects the loader reports (effect notices), so it may be resent while it has none. */
  reportsEffects: boolean;
  /** Answered like POST /execute (HTTP 200, `ok: false`) when it fails. */
  executionShaped: boolean;
  /** Its JSON body is read whole before admission (a waiting request must be worth running). */
  buffersBody: boolean;
  /** Behind the loader's authentication: any answer but 401 means the key was accepted. */
  authenticated: boolean;
  /** A JSON-RPC request (MCP): a batch may start one run per `tools/call`. */
  jsonRpc: boolean;
  /** Which of the loader's own body caps the loader applies to it, if any. */
  loaderBodyCap: LoaderBodyCap | undefined;
}

/** The loader's body caps: a program request's JSON, a file upload, a credential. */
export type LoaderBodyCap = "program" | "file" | "credential";

const EXECUTE = /^\/(execute|sandboxes\/[^/?]+\/execute)(\?|$)/;
const SANDBOX_HTTP = /^\/sandboxes\/[^/?]+\/http(\/|\?|$)/;
const SANDBOX_DEFINITION = /^\/sandboxes(\/[^/?]+)?(\?|$)/;
const MCP = /^\/mcp(\?|$)/;
const FILE_UPLOAD = /^\/files\/[^/?]+\/[^?]/;
const CREDENTIAL_PUT = /^\/credentials\/[^/?]+(\?|$)/;
const AUTHENTICATED = /^\/(execute|files|credentials|sandboxes|mcp)(\/|\?|$)/;

export function routeOf(method: string, path: string): Route {
  const execute = method === "POST" && EXECUTE.test(path);
  const sandboxHttp = SANDBOX_HTTP.test(path);
  const mcpCall = method === "POST" && MCP.test(path);
  const bundles = (method === "POST" || method === "PUT") && SANDBOX_DEFINITION.test(path);
  return {
    health: path === "/healthz" || path.startsWith("/healthz?"),
    program: execute || sandboxHttp || mcpCall || bundles,
    reportsEffects: execute || sandboxHttp || mcpCall,
    executionShaped: execute,
    buffersBody: execute || mcpCall || bundles,
    authenticated: AUTHENTICATED.test(path),
    jsonRpc: mcpCall,
    loaderBodyCap:
      execute || bundles
        ? "program"
        : method === "PUT" && FILE_UPLOAD.test(path)
          ? "file"
          : method === "PUT" && CREDENTIAL_PUT.test(path)
            ? "credential"
            : undefined,
  };
}

/** How many runs a request body may start: one, or one per `tools/call` of a JSON-RPC batch. */
export function runsIn(route: Route, body: Buffer | undefined): number {
  if (!route.jsonRpc || !body || body[0] !== 0x5b /* [ */) return 1;
  try {
    const batch: unknown = JSON.parse(body.toString("utf8"));
    if (!Array.isArray(batch)) return 1;
    return Math.max(
      1,
      batch.filter((message: unknown) => (message as { method?: unknown } | null)?.method === "tools/call").length,
    );
  } catch {
    return 1;
  }
}

/**
 * The path to forward, with each `.` or `..` segment percent-encoded (`%2E`, `%2E%2E`). workerd
 * resolves literal dot segments before the loader reads request.url (`/files/a/../b/k` arrives as
 * `/files/b/k`), so the loader could neither see the path as sent nor refuse them as it refuses
 * `%2e%2e` (/files); encoded, they reach it as written, and the route classified here from the
 * path is the route the loader runs. The query is left as it is.
 */
export function keepDotSegments(path: string): string {
  const query = path.indexOf("?");
  const pathname = query < 0 ? path : path.slice(0, query);
  if (!/(^|\/)\.\.?(\/|$)/.test(pathname)) return path;
  const encoded = pathname
    .split("/")
    .map((segment) => (segment === "." ? "%2E" : segment === ".." ? "%2E%2E" : segment))
    .join("/");
  return query < 0 ? encoded : encoded + path.slice(query);
}
