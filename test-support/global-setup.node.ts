/**
 * vitest globalSetup of the `node` project (runs once per run, in vitest's own process): starts
 * the dev server the files share (dev-server.ts `sharedDevServer()`) and provides its URL and log
 * file as `devServer`, with the lock that files with a server of their own take turns on. It does not wait for the server: files that do not use it start at once,
 * and `sharedDevServer()` waits until it answers.
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import buildPlayground from "../apps/playground/build.mjs";
import { spawnDevServer } from "./dev-server.ts";

export default async function setup(project: TestProject): Promise<() => void> {
  // The Worker imports the playground's bundle: it must reflect the current sources before
  // wrangler starts (playground.node.test.ts drives it). Skipped in a few ms when up to date.
  await buildPlayground();
  const server = await spawnDevServer();
  // A failed start is reported by the files that ask for the server (with its output).
  server.healthy.catch(() => {});
  const ownServerLock = join(tmpdir(), `dwl-own-dev-server-${process.pid}`);
  project.provide("devServer", { base: server.base, log: server.log, ownServerLock });
  return () => {
    server.stop();
    rmSync(ownServerLock, { recursive: true, force: true });
  };
}
