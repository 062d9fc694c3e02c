/**
 * vitest globalSetup of the `workerd` project (runs once per run, in vitest's own process):
 * builds the child harness the loader ships, and starts the two loopback servers the loader's
 * tests reach, providing their URLs (vitest.config.ts hands them to the loader as vars):
 * - `upstream`: the echo server that stands in for the public internet (echo-server.ts);
 * - `npmRegistry`: the npm registry with fixture packages (apps/loader/test/npm-registry).
 */
import { execFileSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { startRegistry } from "../apps/loader/test/npm-registry/server.mjs";
import { startEchoServer } from "./echo-server.ts";

declare module "vitest" {
  interface ProvidedContext {
    /** Base URL of the echo upstream (also the loader's DWL_TEST_UPSTREAM). */
    upstream: string;
    /** Base URL of the loopback npm registry (also the loader's DWL_NPM_REGISTRY). */
    npmRegistry: string;
  }
}

const root = new URL("../", import.meta.url).pathname;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // src/sandbox/harness.min.child.js; skipped in a few ms when its inputs have not changed.
  execFileSync(process.execPath, ["apps/loader/build-harness.mjs"], { cwd: root, stdio: "inherit" });
  const [upstream, registry] = await Promise.all([startEchoServer(), startRegistry()]);
  project.provide("upstream", upstream.url);
  project.provide("npmRegistry", registry.url);
  return async () => {
    await Promise.all([upstream.close(), registry.close()]);
  };
}
