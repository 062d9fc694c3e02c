/**
 * Cache levels of npm dependencies seen through whole requests: the bundle cache (a repeat run
 * needs neither registry nor bundler), and the package caches (a new program with the same
 * dependencies downloads nothing). Registry requests are counted by the loopback registry.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cacheWritesSettled } from "../../src/npm/cache-writes.ts";
import { clearPackageMemory, PACKAGE_R2_PREFIX } from "../../src/npm/package-store.ts";
import { clearMetadataMemory } from "../../src/npm/registry.ts";
import { requestCounts } from "../npm-registry/registry.ts";
import { execute, expectOk } from "../helpers.ts";

const probe = (x: string) =>
  `import { probe } from "dwl-cache-e2e";\nexport default () => probe(${JSON.stringify(x)});`;

const honoApp = (greeting: string) => `import { Hono } from "hono";
import { cors } from "hono/cors";
const app = new Hono();
app.use("*", cors());
app.get("/", (c) => c.json({ greeting: ${JSON.stringify(greeting)} }));
export default app;`;

/** Forgets every npm cache level of this loader: memory, KV metadata, R2 packages. */
async function forgetPackages(): Promise<void> {
  await cacheWritesSettled();
  clearMetadataMemory();
  clearPackageMemory();
  for (const { key } of (await env.FILES.list({ prefix: `${PACKAGE_R2_PREFIX}/` })).objects)
    await env.FILES.delete(key);
  for (const { name } of (await env.KV.list({ prefix: "__dwl/npm/" })).keys) await env.KV.delete(name);
}

describe("npm caches through /execute", () => {
  it("skips resolution and bundling on a repeat run, and reuses packages for a new program", async () => {
    const names = ["dwl-cache-e2e", "dwl-cache-e2e-dep"];
    const dependencies = { "dwl-cache-e2e": "^1" };

    const first = expectOk(await execute({ code: probe("a"), dependencies }));
    expect(first).toMatchObject({ result: "probe dep a", timing: { cached: false } });
    expect(await requestCounts(names)).toEqual({ packuments: 2, tarballs: 2 });

    const again = expectOk(await execute({ code: probe("a"), dependencies }));
    expect(again).toMatchObject({ result: "probe dep a", timing: { cached: true } });
    expect(await requestCounts(names)).toEqual({ packuments: 2, tarballs: 2 });

    const other = expectOk(await execute({ code: probe("b"), dependencies }));
    expect(other).toMatchObject({ result: "probe dep b", timing: { cached: false } });
    expect(await requestCounts(names)).toEqual({ packuments: 2, tarballs: 2 });

    // Another spelling of the range is another bundle, but the same packages.
    const respelled = expectOk(await execute({ code: probe("a"), dependencies: { "dwl-cache-e2e": "1.0.0" } }));
    expect(respelled).toMatchObject({ result: "probe dep a", timing: { cached: false } });
    expect(await requestCounts(names)).toEqual({ packuments: 2, tarballs: 2 });
  });

  it("times a Hono app: cold package caches, warm ones with a new program, a bundle cache hit", async () => {
    const request = { method: "GET", path: "/" };
    const dependencies = { hono: "^4" };
    await forgetPackages();
    const before = await requestCounts(["hono"]);

    const cold = expectOk(await execute({ code: honoApp("cold"), dependencies, request }));
    const afterCold = await requestCounts(["hono"]);
    expect(afterCold.tarballs).toBeGreaterThan(before.tarballs);

    const warm = expectOk(await execute({ code: honoApp("warm"), dependencies, request }));
    // A fresh loader isolate, once the cold run's background cache writes have landed.
    await cacheWritesSettled();
    clearMetadataMemory();
    clearPackageMemory();
    const storage = expectOk(await execute({ code: honoApp("from storage"), dependencies, request }));
    const hit = expectOk(await execute({ code: honoApp("from storage"), dependencies, request }));
    expect([cold.timing.cached, warm.timing.cached, storage.timing.cached, hit.timing.cached]).toEqual([
      false,
      false,
      false,
      true,
    ]);
    expect(hit.result).toMatchObject({ status: 200, body: '{"greeting":"from storage"}' });

    // Figures for the record (run this file alone for quiet ones; `npm run bench` measures them).
    // Only the cache flags above are asserted: a new program whose packages are built already
    // takes about a millisecond to link (bundle/modules.ts), as long as a hit by workerd's clock.
    const figures = { cold: cold.timing, warmMemory: warm.timing, warmKvR2: storage.timing, bundleHit: hit.timing };
    console.log(`hono timings (ms): ${JSON.stringify(figures)}`);
  });
});
