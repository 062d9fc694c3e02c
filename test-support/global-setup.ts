/**
 * vitest globalSetup of the root config (runs once per vitest process): builds the child harness
 * and the playground the loader ships, and starts the two loopback servers the loader's tests
 * reach, providing their URLs (vitest.config.ts hands them to the loader as vars):
 * - `upstream`: the echo server that stands in for the public internet (echo-server.ts);
 * - `npmRegistry`: the npm registry with fixture packages (apps/loader/test/npm-registry).
 * It also keeps out of the log the lines workerd writes for the exceptions tests provoke on purpose
 * (DWL_TEST_VERBOSE=1 keeps them).
 */
import { execFileSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { startRegistry } from "../apps/loader/test/npm-registry/server.mjs";
import buildPlayground from "../apps/playground/build.mjs";
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

/**
 * How workerd's own log lines for exceptions start (the vitest plugin writes each one, with its
 * `stack:` line, in one write to this process's stderr). Tests provoke them by the hundred: a CPU
 * limit reached in an event listener, a failed DNS lookup, a dropped connection. A failing test
 * still shows its own error and console output.
 */
const RUNTIME_EXCEPTION_LINE = /^(NOSENTRY V8 message callback|uncaught exception;|e = |exception = )/;

function hideRuntimeExceptionLines(): () => void {
  const write = process.stderr.write;
  process.stderr.write = function (this: typeof process.stderr, chunk: unknown, ...rest: never[]) {
    if (typeof chunk === "string" && RUNTIME_EXCEPTION_LINE.test(chunk)) return true;
    return write.call(this, chunk as string, ...rest);
  } as typeof process.stderr.write;
  return () => {
    process.stderr.write = write;
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const showAll = process.env.DWL_TEST_VERBOSE === "1";
  const restoreStderr = showAll ? () => {} : hideRuntimeExceptionLines();
  // src/sandbox/harness.min.child.js; skipped in a few ms when its inputs have not changed.
  execFileSync(process.execPath, ["apps/loader/build-harness.mjs"], { cwd: root, stdio: "inherit" });
  // The loader imports the playground's bundle too (playground.node.test.ts drives it).
  await buildPlayground();
  const [upstream, registry] = await Promise.all([startEchoServer(), startRegistry()]);
  project.provide("upstream", upstream.url);
  project.provide("npmRegistry", registry.url);
  return async () => {
    await Promise.all([upstream.close(), registry.close()]);
    restoreStderr();
  };
}
