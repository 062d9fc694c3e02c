/**
 * vitest globalSetup of the `node-own-server` project: builds the loader once for the six
 * servers its files start (`startDevServer` hands it to each as `DWL_LOADER_BUILD`) and provides
 * its folder as `loaderBuild`. Each start then skips ~3.5 s of bundling (measured: a start took
 * 6–7 s, of which `wrangler deploy --dry-run` 3.1–3.5 s). The shared server of the `node`
 * project builds at its start, as `npm run dev` does.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import buildPlayground from "../apps/playground/build.mjs";
import { buildLoader } from "../apps/supervisor/src/runtime/build.ts";

declare module "vitest" {
  interface ProvidedContext {
    /** A loader build for the servers of the `node-own-server` files (dev-server.ts). */
    loaderBuild?: string;
  }
}

const root = fileURLToPath(new URL("../", import.meta.url));

export default async function setup(project: TestProject): Promise<() => void> {
  // vitest runs the projects' global setups before the root one (global-setup.ts), which makes
  // these two modules: the build bundles them, so they must be current first. Both return at
  // once when their inputs have not changed.
  execFileSync(process.execPath, ["apps/loader/build-harness.mjs"], { cwd: root, stdio: "inherit" });
  await buildPlayground();
  const dir = mkdtempSync(join(tmpdir(), "dwl-loader-build-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await buildLoader(root, join(dir, "dwl-build"));
  } catch (error) {
    remove();
    throw error;
  }
  project.provide("loaderBuild", join(dir, "dwl-build"));
  return remove;
}
