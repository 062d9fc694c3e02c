/**
 * vitest globalSetup of the `node` project (runs once per run, in vitest's own process): starts
 * the dev server the files share (dev-server.ts `sharedDevServer()`) and provides its URL and log
 * file as `devServer`. It does not wait for the server: files that do not use it start at once,
 * and `sharedDevServer()` waits until it answers.
 */
import type { TestProject } from "vitest/node";
import { spawnDevServer } from "./dev-server.ts";

export default async function setup(project: TestProject): Promise<() => void> {
  const server = await spawnDevServer();
  // A failed start is reported by the files that ask for the server (with its output).
  server.healthy.catch(() => {});
  project.provide("devServer", { base: server.base, log: server.log });
  return () => server.stop();
}
