/**
 * Test-side helpers for the loopback npm registry (server.mjs, started by test-support/global-setup.workerd.ts):
 * its URL, per-namespace URLs for exact request counting, and the counts themselves.
 */
import { inject } from "vitest";

declare module "vitest" {
  interface ProvidedContext {
    /** Base URL of the loopback npm registry (also the loader's DWL_NPM_REGISTRY). */
    npmRegistry: string;
  }
}

export const registryUrl = (): string => inject("npmRegistry");

/** A registry URL whose requests are counted apart (and cached apart by the loader). */
export const namespacedRegistry = (ns: string): string => `${registryUrl()}/ns/${ns}`;

export interface RequestCounts {
  packuments: number;
  tarballs: number;
}

/** Requests so far for the given package names (exact names, any version) in namespace `ns` ("" = default). */
export async function requestCounts(names: string[], ns = ""): Promise<RequestCounts> {
  const stats = (await (await fetch(`${registryUrl()}/-/dwl/stats`)).json()) as Record<string, number>;
  const counts = { packuments: 0, tarballs: 0 };
  for (const [key, n] of Object.entries(stats)) {
    const [keyNs, kind, spec = ""] = key.split("|");
    if (keyNs !== ns) continue;
    const name = kind === "tarball" ? spec.slice(0, spec.lastIndexOf("@")) : spec;
    if (!names.includes(name)) continue;
    if (kind === "packument") counts.packuments += n;
    else counts.tarballs += n;
  }
  return counts;
}
