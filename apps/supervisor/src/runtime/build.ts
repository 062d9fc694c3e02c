/**
 * @module runtime/build
 * The loader as wrangler bundles it for deployment (`wrangler deploy --dry-run`): the same
 * esbuild run, rules and module list as a deploy, so local and deployed run the same code; and
 * the miniflare options wrangler derives from wrangler.toml (worker-options.ts), kept beside the
 * modules so that a later start can serve the same build (`DWL_LOADER_BUILD`, readBuild).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BuiltModule {
  type: "ESModule" | "CompiledWasm" | "Text";
  path: string;
}

export interface LoaderBuild {
  dir: string;
  modules: BuiltModule[];
  /** wrangler's miniflare options for the loader (JSON: bindings, storage, compatibility). */
  workerOptions: Record<string, unknown>;
}

/** Module types by file name, as wrangler.toml's [[rules]] give them. */
function moduleType(file: string): BuiltModule["type"] | undefined {
  if (file === "index.js") return "ESModule";
  if (file.endsWith(".wasm")) return "CompiledWasm";
  if (file.endsWith(".child.js") || file.endsWith(".py")) return "Text";
  return undefined;
}

function run(root: string, args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let output = "";
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${what} failed (exit ${code}):\n${output}`)),
    );
  });
}

/** The file beside the modules that holds wrangler's miniflare options. */
const OPTIONS_FILE = "worker-options.json";

export async function buildLoader(root: string, outDir: string): Promise<LoaderBuild> {
  // Stale modules of an earlier build would otherwise be loaded beside the new ones.
  rmSync(outDir, { recursive: true, force: true });
  const wrangler = join(root, "node_modules/wrangler/bin/wrangler.js");
  const optionsScript = fileURLToPath(new URL("./worker-options.ts", import.meta.url));
  const [, options] = await Promise.all([
    run(root, [wrangler, "deploy", "--dry-run", "--outdir", outDir], "bundling the loader (wrangler deploy --dry-run)"),
    run(root, [optionsScript, join(root, "wrangler.toml")], "reading wrangler.toml"),
  ]);
  writeFileSync(join(outDir, OPTIONS_FILE), options);
  return readBuild(outDir);
}

/** A build made by buildLoader, as it is: nothing checks it against the sources. */
export function readBuild(dir: string): LoaderBuild {
  if (!existsSync(join(dir, "index.js")) || !existsSync(join(dir, OPTIONS_FILE))) {
    throw new Error(
      `${dir} holds no loader build (index.js and ${OPTIONS_FILE}, as a start leaves in <DWL_STATE_DIR>/dwl-build)`,
    );
  }
  const modules: BuiltModule[] = [];
  for (const file of readdirSync(dir).sort()) {
    const type = moduleType(file);
    if (type) modules.push({ type, path: join(dir, file) });
  }
  // The entry module first: miniflare runs the first ES module as the Worker's main module.
  modules.sort((a, b) => Number(b.path.endsWith("/index.js")) - Number(a.path.endsWith("/index.js")));
  let workerOptions: Record<string, unknown>;
  try {
    workerOptions = JSON.parse(readFileSync(join(dir, OPTIONS_FILE), "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new Error(
      `${join(dir, OPTIONS_FILE)} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return { dir, modules, workerOptions };
}
