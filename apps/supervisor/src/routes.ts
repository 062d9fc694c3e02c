/**
 * @module routes
 * What the supervisor needs to know of a request from its method and path alone (the loader's
 * routes: apps/loader/src/index.ts).
 */
import { routedPath } from "../../loader/src/raw-path.ts";

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
  /** Its answer is a program's own and may stream for as long as the program likes (a sandbox's HTTP). */
  openEnded: boolean;
  /** The stored sandbox whose program it runs (its id as the loader routes it), if any. */
  sandbox: string | undefined;
  /** The stored sandbox whose definition (and so its runs' budget) it may change or delete, if any. */
  redefines: string | undefined;
}

/** The loader's body caps: a program request's JSON, a file upload, a credential. */
export type LoaderBodyCap = "program" | "file" | "credential";

/** The loader's health probe, which the watchdog and the supervisor send to the runtime too. */
export const HEALTH_PATH = "/healthz";

// Matched against the path the loader's router matches (`routedPath`): decoded, no query, no
// trailing slash.
const EXECUTE = /^\/(execute|sandboxes\/[^/]+\/execute)$/;
const SANDBOX_HTTP = /^\/sandboxes\/[^/]+\/http(\/|$)/;
const SANDBOX_DEFINITION = /^\/sandboxes(\/[^/]+)?$/;
const SANDBOX_ID = /^\/sandboxes\/([^/]+)$/;
const SANDBOX_RUN = /^\/sandboxes\/([^/]+)\/(execute$|http(\/|$))/;
const MCP = /^\/mcp$/;
// The loader's file route takes `/files/:namespace` and anything under it; an empty key is its 400.
const FILE_UPLOAD = /^\/files\/[^/]+(\/|$)/;
const CREDENTIAL_PUT = /^\/credentials\/[^/]+$/;
const AUTHENTICATED = /^\/(execute|files|credentials|sandboxes|mcp)(\/|$)/;

/** The route the loader runs for `method` and `target` (origin form, as forwarded). */
export function routeOf(method: string, target: string): Route {
  const path = routedPath(`http://loader${target}`);
  const execute = method === "POST" && EXECUTE.test(path);
  const sandboxHttp = SANDBOX_HTTP.test(path);
  const mcpCall = method === "POST" && MCP.test(path);
  const bundles = (method === "POST" || method === "PUT") && SANDBOX_DEFINITION.test(path);
  const sandbox = execute || sandboxHttp ? SANDBOX_RUN.exec(path)?.[1] : undefined;
  // Any method but the reads: the loader's PUT and DELETE, and whatever it may route later.
  const redefines = method === "GET" || method === "HEAD" ? undefined : SANDBOX_ID.exec(path)?.[1];
  return {
    sandbox,
    redefines,
    health: path === HEALTH_PATH,
    program: execute || sandboxHttp || mcpCall || bundles,
    openEnded: sandboxHttp,
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

/**
 * A request target in origin form (`/path?query`); undefined for one that names no path (`*`,
 * `host:port`). An HTTP/1.1 server must accept the absolute form (`http://host/path`, RFC 9112
 * §3.2.2), and workerd runs it by its path: forwarded as it came, it would be classified here as
 * no route at all. Its authority is dropped (the loader's origin is DWL_PUBLIC_ORIGIN).
 */
export function originForm(target: string): string | undefined {
  if (target.startsWith("/")) return target;
  const authority = /^https?:\/\/[^/?#]*/i.exec(target);
  if (!authority) return undefined;
  const rest = target.slice(authority[0].length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/** The target to classify and forward: origin form, dot segments kept (undefined: no path). */
export function forwardedPath(target: string): string | undefined {
  const path = originForm(target);
  return path === undefined ? undefined : keepDotSegments(path);
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
