/**
 * @module mcp/catalog
 * What MCP `search` searches: the TypeScript declarations of everything a program can use, in
 * sections small enough to paste into a model's context, each with the words it should be found by.
 */
import { TOOLS } from "../tools/registry.ts";

export interface CatalogSection {
  title: string;
  keywords: string;
  text: string;
}

const PROGRAM_SHAPES = `// A program is one of (JS or TypeScript; \`code\` or \`files\` with relative imports):
// 1. export default async (input: unknown, env: Env) => result      // result: JSON-encodable
// 2. async (input, env) => { ... }                                    // a bare function expression
// 3. export default { async fetch(request: Request, env: Env, ctx) { return new Response(...) } }
//    (invoked with execute's \`request\` { method, path, headers, body }; result { status, headers, body })
// 4. top-level statements and top-level await: result null, console output captured
// 5. a function body: top-level statements ending in \`return value\` (no imports); runs as
//    async (input, env) => { ... }, so input and env are in scope; result: the returned value
// console.log/info/warn/error/debug are returned as logs (1,000 lines / 64 KiB).
// State: keep it in env.KV or env.FILES. Module variables may outlive a run (a warm isolate serves
// the same program again) or not; never rely on them either way.
// npm packages: import them and list them in \`dependencies\` ({ "zod": "^4" }).
interface Env {
  KV: KV;            // Workers KV, scoped to this tenant's namespace
  FILES: Files;      // R2, scoped to this tenant's namespace
  SECRETS: Record<string, string>; // placeholders of credentials named in egress.credentials
  // plus operator tools enabled with tools: [...]
}
// Results: BigInt → string, Map → [key, value][], Set → array, Date → ISO string, typed arrays → number[].
// Limits: cpuMs (default 50), timeoutMs (default 10000), subRequests (default 50), result ≤ 1 MiB.
// Errors come back as { type: compile | runtime | timeout | cpu_limit | memory_limit | subrequest_limit | egress_denied | output_too_large | runtime_restarted, name, message, stack }.`;

const KV_DECLARATION = `/** env.KV: Workers KV confined to the run's namespace (storage.namespace, default "default"). */
interface KV {
  get(key: string, type?: "text" | "json" | "arrayBuffer"): Promise<string | any | ArrayBuffer | null>;
  getWithMetadata(key: string, type?: "text" | "json" | "arrayBuffer"): Promise<{ value: any; metadata: unknown }>;
  /** value: string | ArrayBuffer | typed array, at most 1 MiB; expirationTtl ≥ 60 seconds. */
  put(key: string, value: string | ArrayBuffer | ArrayBufferView, options?: { expirationTtl?: number; expiration?: number; metadata?: unknown }): Promise<void>;
  delete(key: string): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<{ keys: { name: string; expiration?: number; metadata?: unknown }[]; list_complete: boolean; cursor?: string }>;
}
// Keys are relative paths like "users/42": no leading "/", no "." or ".." segments, no backslashes,
// no control characters, at most 256 bytes. A bad key throws StorageKeyError.`;

const FILES_DECLARATION = `/** env.FILES: R2 object storage confined to the run's namespace. Downloadable at GET /files/<namespace>/<key>. */
interface Files {
  get(key: string): Promise<FileObject & { body: ReadableStream; text(): Promise<string>; json<T>(): Promise<T>; arrayBuffer(): Promise<ArrayBuffer>; bytes(): Promise<Uint8Array> } | null>;
  head(key: string): Promise<FileObject | null>;
  /** At most 10 MiB. httpMetadata.contentType is served as Content-Type (e.g. "image/svg+xml"). */
  put(key: string, value: string | ArrayBuffer | ArrayBufferView | Blob | ReadableStream, options?: { httpMetadata?: { contentType?: string; cacheControl?: string; contentDisposition?: string }; customMetadata?: Record<string, string> }): Promise<FileObject>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; limit?: number; delimiter?: "/" }): Promise<{ objects: FileObject[]; truncated: boolean; cursor?: string; delimitedPrefixes: string[] }>;
}
interface FileObject { key: string; size: number; etag: string; uploaded: Date; httpMetadata: { contentType?: string }; customMetadata: Record<string, string> }`;

const EGRESS_RULES = `// fetch() rules: every request goes through the egress gateway.
// - Denied by default: list hosts in execute's egress.allow: ["api.example.com", "*.example.com", "host:8443"].
// - Never allowed: localhost, private/link-local/metadata addresses, non-http(s) schemes.
// - A refused request throws EgressDeniedError (catchable); uncaught, the run fails with type "egress_denied".
// - Credentials: name them in egress.credentials: ["github"]; the gateway adds the stored header
//   (default "authorization: Bearer <value>") on requests to the credential's hosts over https.
//   You never see the value; env.SECRETS.github is a placeholder you may put in a header for SDKs.
// - Redirects are followed by the gateway; each request counts against limits.subRequests.
// - No raw TCP: cloudflare:sockets connect() throws EgressDeniedError; use fetch().
const res = await fetch("https://api.github.com/user", { headers: { "user-agent": "dwl" } });`;

const PYTHON_PROGRAMS = `# Python programs (Pyodide, Python 3.14, standard library only): execute with language: "python",
# or files ending in .py (entry main.py; relative imports between the files work).
# The result is main(input, env)'s return value (def or async def), else the last expression.
# print() lines are "log" entries, sys.stderr lines "error" entries. Results: dict, list, tuple,
# str, int, float, bool, None (NaN/inf → null; other objects → repr).
async def main(input, env):
    await env.KV.put("runs", "1")                     # same methods as in JS, awaited
    count = await env.KV.get("runs")                  # None when missing
    await env.FILES.put("chart.svg", svg, {"httpMetadata": {"contentType": "image/svg+xml"}})
    obj = await env.FILES.get("chart.svg"); text = await obj.text()
    from pyodide.http import pyfetch                  # the network, through the egress gateway
    r = await pyfetch("https://api.example.com/x", headers={"authorization": "Bearer " + env.SECRETS["github"]})
    return {"status": r.status, "data": await r.json()}
# Plain-data answers (KV.list, JSON) arrive as dicts/lists; FILES objects keep their methods.
# Errors: SyntaxError → compile (file, line); an uncaught exception → runtime with the traceback;
# an endless loop → cpu_limit; a heap past its bound → memory_limit. No numpy or C extensions.`;

export function catalog(): CatalogSection[] {
  return [
    {
      title: "Program shapes, env, results, limits and errors",
      keywords:
        "program shape default export function body return fetch handler script input result env limits errors console logs dependencies npm typescript",
      text: PROGRAM_SHAPES,
    },
    {
      title: "env.KV (key-value storage)",
      keywords: "kv key value storage get put delete list json metadata expiration namespace",
      text: KV_DECLARATION,
    },
    {
      title: "env.FILES (file / object storage)",
      keywords: "files r2 object storage blob upload download svg image get put head delete list content type",
      text: FILES_DECLARATION,
    },
    {
      title: "Python programs (language: python)",
      keywords: "python py pyodide main print stderr pyfetch asyncio await def traceback pip numpy",
      text: PYTHON_PROGRAMS,
    },
    {
      title: "fetch and egress rules, credentials, env.SECRETS",
      keywords:
        "fetch http request network egress allow allowlist credentials secrets token api header redirect tcp socket connect",
      text: EGRESS_RULES,
    },
    ...Object.entries(TOOLS).map(([name, tool]) => ({
      title: `Operator tool "${name}": env.${tool.binding} (${tool.summary})`,
      keywords: `tool ${name} ${tool.binding.toLowerCase()} ${tool.summary}`,
      text: tool.declaration,
    })),
  ];
}

/**
 * Ranks sections by how often the query's words occur (title and keywords weigh more than the
 * declaration text). An empty or unmatched query returns the table of contents.
 */
export function searchCatalog(query: string, limit = 3): { sections: CatalogSection[]; matched: boolean } {
  const words = query
    .toLowerCase()
    .split(/[^a-z0-9_.]+/)
    .filter((w) => w.length > 1);
  const sections = catalog();
  const scored = sections
    .map((section) => {
      const title = section.title.toLowerCase();
      const keywords = section.keywords.toLowerCase();
      const text = section.text.toLowerCase();
      let score = 0;
      for (const word of words) {
        if (title.includes(word)) score += 5;
        if (keywords.includes(word)) score += 3;
        score += Math.min(text.split(word).length - 1, 5);
      }
      return { section, score };
    })
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score);
  if (scored.length === 0) return { sections, matched: false };
  return { sections: scored.slice(0, limit).map((s) => s.section), matched: true };
}
