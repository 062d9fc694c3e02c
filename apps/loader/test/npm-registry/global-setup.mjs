// @ts-check
/**
 * vitest globalSetup (runs in Node) for the workerd project: starts the loopback npm registry
 * and provides its URL as `npmRegistry`; vitest.config.ts hands it to the loader as the var
 * DWL_NPM_REGISTRY, and tests read it with `inject("npmRegistry")`.
 */
import { startRegistry } from "./server.mjs";

/** @param {{ provide: (key: string, value: unknown) => void }} project */
export default async function setup(project) {
  const registry = await startRegistry();
  project.provide("npmRegistry", registry.url);
  return registry.close;
}
