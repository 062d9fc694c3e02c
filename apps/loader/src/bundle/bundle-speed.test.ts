/**
 * Bundle-miss speed of a new program importing Hono (packages installed): packages from their
 * pre-built module (bundle/vendor.ts) against one whole esbuild bundle, measured in one run,
 * interleaved (issue 21). Not part of the suite (timing has no place in a unit test): run with
 *   sh scripts/bootstrap.sh npx vitest run --project workerd --mode bundle-speed apps/loader/src/bundle/bundle-speed.test.ts
 * workerd's clock moves only between I/O events, so each sample sits between two timers.
 */
import { describe, expect, it } from "vitest";
import { namespacedRegistry } from "../../test/npm-registry/registry.ts";
import { bundleProgram, type BundleInput, type BundleOptions } from "./bundle.ts";

const SAMPLES = 40;
const WARMUP = 40;

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** bench/npm.mjs's Hono program. */
const honoProgram = (tag: string): BundleInput => ({
  entry: "index.ts",
  meter: true,
  dependencies: { hono: "^4" },
  files: {
    "index.ts": `import { Hono } from "hono";\nimport { cors } from "hono/cors";\nconst app = new Hono();\napp.use(cors());\napp.get("/hello/:name", (c) => c.json({ hello: c.req.param("name") }));\nexport default app; // ${tag}`,
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** `--mode` of the vitest command line, as Vite hands it to the test. */
const mode = (import.meta as unknown as { env: { MODE?: string } }).env.MODE;

describe.runIf(mode === "bundle-speed")("bundle-miss speed", () => {
  it("compares the packages' module with one whole bundle", async () => {
    const npm = { registry: namespacedRegistry("bundle-speed") };
    const cases: Record<string, [(tag: string) => BundleInput, BundleOptions]> = {
      "Hono, whole bundle": [honoProgram, { prebuiltPackages: false }],
      "Hono, packages' module": [honoProgram, {}],
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      for (const [name, [program, options]] of Object.entries(cases)) {
        await tick();
        const started = performance.now();
        await bundleProgram(program(`${name} ${i}`), npm, options);
        await tick();
        if (i >= WARMUP) samples[name]!.push(performance.now() - started);
      }
    }
    for (const [name, xs] of Object.entries(samples))
      console.log(`${name}: p50 ${median(xs)} ms, mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} ms`);
    expect(Object.values(samples).every((xs) => xs.length === SAMPLES)).toBe(true);
  }, 900_000);
});
