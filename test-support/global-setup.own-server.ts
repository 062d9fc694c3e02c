/**
 * vitest globalSetup of the `node-own-server` project: builds the loader once for the dozen
 * servers its files start (`startDevServer` hands it to each as `DWL_LOADER_BUILD`) and provides
 * its folder as `loaderBuild`. Each start then skips ~3.5 s of bundling (measured: a start took
 * 6–7 s, of which `wrangler deploy --dry-run` 3.1–3.5 s). The shared server of the `node`
 * project still builds at start, as `npm run dev` does.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildLoader } from "../apps/supervisor/src/runtime/build.ts";

declare module "vitest" {
  interface ProvidedContext {
    /** A loader build for the servers of the `node-own-server` files (dev-server.ts). */
    loaderBuild: string;
  }
}

const root = new URL("../", import.meta.url).pathname;

export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), "dwl-loader-build-"));
  await buildLoader(root, join(dir, "dwl-build"));
  project.provide("loaderBuild", join(dir, "dwl-build"));
  return () => rmSync(dir, { recursive: true, force: true });
}
