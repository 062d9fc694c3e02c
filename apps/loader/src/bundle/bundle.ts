/**
 * @module bundle
 * Turns a request's sources into one ES module for the child isolate: esbuild-wasm bundles the
 * files in memory (TypeScript, JSX, JSON, relative imports), then `rewrite` adapts the program's
 * shape. The result carries a source map whose sources are the user's own file names.
 */
import { CompileError } from "./compile-error.ts";
import { asDefaultExportedFunction } from "./entry-shape.ts";
import { getEsbuild, type BuildFailure } from "./esbuild.ts";
import { rewriteBundle } from "./rewrite.ts";
import { loaderFor, virtualFiles, VIRTUAL_NAMESPACE, type SourceFiles } from "./virtual-files.ts";

/** Module name of the user's program inside the child isolate (it appears in raw stacks). */
export const USER_MODULE = "user.js";

/**
 * `module`: the default export is a function (called with input, env) or an object with
 * `fetch` (decided at run time); `script`: top-level statements, wrapped into a function.
 */
export type ProgramShape = "module" | "script";

export interface Bundle {
  code: string;
  /** Source map (JSON) from `code` to the user's files. */
  map: string;
  shape: ProgramShape;
}

export interface BundleInput {
  files: SourceFiles;
  entry: string;
  /** Insert fuel checks (CPU metering); see rewrite.ts. */
  meter: boolean;
}

function isBuildFailure(err: unknown): err is BuildFailure {
  return typeof err === "object" && err !== null && Array.isArray((err as BuildFailure).errors);
}

export async function bundleProgram({ files, entry, meter }: BundleInput): Promise<Bundle> {
  const entrySource = files[entry];
  if (entrySource === undefined) throw new CompileError(`entry "${entry}" is not among the files`);
  const asFunction = await asDefaultExportedFunction(entrySource, loaderFor(entry));
  const source = (path: string): string => (path === entry && asFunction !== undefined ? asFunction : (files[path] ?? ""));

  const esbuild = await getEsbuild();
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      outfile: USER_MODULE,
      format: "esm",
      platform: "neutral",
      // Lowers what V8 lacks (decorators) and keeps everything else native.
      target: "es2022",
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["module", "main"],
      sourcemap: "external",
      sourcesContent: false,
      metafile: true,
      logLevel: "silent",
      legalComments: "none",
      plugins: [virtualFiles(files, entry, source)],
    });
  } catch (err) {
    if (isBuildFailure(err)) throw CompileError.fromEsbuild(err.errors);
    throw err;
  }

  const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
  const mapFile = result.outputFiles.find((f) => f.path.endsWith(".js.map"));
  if (!js || !mapFile) throw new CompileError("bundling produced no output");
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined);
  const shape: ProgramShape = output?.exports.includes("default") ? "module" : "script";

  const map = JSON.parse(mapFile.text) as { sources: string[] };
  map.sources = map.sources.map((s) => (s.startsWith(`${VIRTUAL_NAMESPACE}:`) ? s.slice(VIRTUAL_NAMESPACE.length + 1) : s));
  const rewritten = rewriteBundle(js.text, JSON.stringify(map), USER_MODULE, { wrapScript: shape === "script", meter });
  return { code: rewritten.code, map: rewritten.map, shape };
}
