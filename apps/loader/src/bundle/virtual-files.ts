/**
 * @module virtual-files
 * An esbuild plugin that serves the request's `files` from memory: relative imports resolve
 * between them (with extension and `index.*` lookup), runtime built-ins (`node:*`,
 * `cloudflare:*`) stay external for the child's runtime, and anything else is a compile error.
 */
import type { Loader, Plugin } from "./esbuild.ts";

export const VIRTUAL_NAMESPACE = "dwl";

/** Tried in order when an import names a file without its extension. */
const RESOLVE_EXTENSIONS = [".ts", ".tsx", ".js", ".mjs", ".jsx", ".json"];

/** Node built-ins the child can import without the `node:` prefix (nodejs_compat). */
const NODE_BUILTINS = new Set([
  "assert", "async_hooks", "buffer", "crypto", "diagnostics_channel", "events", "path", "process",
  "stream", "string_decoder", "timers", "url", "util", "zlib",
]);

export type SourceFiles = Record<string, string>;

export function loaderFor(path: string): Loader {
  if (path.endsWith(".ts")) return "ts";
  if (path.endsWith(".tsx")) return "tsx";
  if (path.endsWith(".jsx")) return "jsx";
  if (path.endsWith(".json")) return "json";
  return "js";
}

/** Joins `spec` onto the directory of `importer`, normalising `.` and `..`; null if it escapes the root. */
function joinPath(importer: string, spec: string): string | null {
  const parts = spec.startsWith("/") ? [] : importer.split("/").slice(0, -1);
  for (const segment of spec.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join("/");
}

function findFile(files: SourceFiles, path: string): string | undefined {
  if (path in files) return path;
  for (const ext of RESOLVE_EXTENSIONS) if (path + ext in files) return path + ext;
  // TypeScript's convention: `./x.js` may name `./x.ts`.
  const ts = path.replace(/\.(m?js|jsx)$/, (_m, e: string) => (e === "jsx" ? ".tsx" : ".ts"));
  if (ts !== path && ts in files) return ts;
  for (const ext of RESOLVE_EXTENSIONS) if (`${path}/index${ext}` in files) return `${path}/index${ext}`;
  return undefined;
}

export function virtualFiles(files: SourceFiles, entry: string, source: (path: string) => string): Plugin {
  return {
    name: "dwl-virtual-files",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === "entry-point") return { path: entry, namespace: VIRTUAL_NAMESPACE };
        const spec = args.path;
        if (spec.startsWith("node:") || spec.startsWith("cloudflare:")) return { path: spec, external: true };
        if (NODE_BUILTINS.has(spec)) return { path: `node:${spec}`, external: true };
        if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")) {
          const joined = joinPath(args.importer, spec);
          const found = joined === null ? undefined : findFile(files, joined);
          if (found === undefined) {
            return { errors: [{ text: `Cannot find module "${spec}" imported from ${args.importer}: no such file in \`files\`` }] };
          }
          return { path: found, namespace: VIRTUAL_NAMESPACE };
        }
        return {
          errors: [
            {
              text: `Cannot import "${spec}": npm packages must be listed in \`dependencies\` (for example "dependencies": { "${spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]}": "*" })`,
            },
          ],
        };
      });
      build.onLoad({ filter: /.*/, namespace: VIRTUAL_NAMESPACE }, (args) => ({
        contents: source(args.path),
        loader: loaderFor(args.path),
      }));
    },
  };
}
