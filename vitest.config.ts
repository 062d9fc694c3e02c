import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { startEchoServer } from "./apps/loader/test/upstream/echo-server.ts";

// The minified child harness the loader ships (skipped when harness.child.js has not changed).
execFileSync(process.execPath, ["apps/loader/build-harness.mjs"], { stdio: "inherit" });

/** A second tenant for isolation tests (apps/loader/test/helpers.ts OTHER_TENANT_KEY). */
const testApiKeys = { [createHash("sha256").update("dwl_test_other_tenant").digest("hex")]: "other" };

/** The public internet's stand-in for egress tests (loopback only; closed with the process). */
const upstream = await startEchoServer();

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                DWL_MODE: "local",
                DWL_API_KEYS: JSON.stringify(testApiKeys),
                // Test configuration only: lets egress reach the loopback upstream above.
                DWL_EGRESS_ALLOW_LOOPBACK: "true",
                DWL_TEST_UPSTREAM: upstream.url,
                // Effect notices go to the echo upstream (supervision.test.ts); only requests
                // carrying a supervisor token send any, and no other test sends one.
                DWL_SUPERVISOR_URL: `${upstream.url}/supervisor`,
                // The loopback npm registry started by globalSetup below.
                DWL_NPM_REGISTRY: inject<string>("npmRegistry"),
              },
            },
          })),
        ],
        test: {
          name: "workerd",
          globalSetup: ["apps/loader/test/npm-registry/global-setup.mjs"],
          // The first request in a fresh test runtime pays for compiling esbuild.wasm (~7 s, far
          // more on a busy machine), in a test or in a beforeAll that warms up.
          testTimeout: 30_000,
          hookTimeout: 60_000,
          include: ["apps/**/*.test.ts", "packages/**/*.test.ts"],
          exclude: ["**/*.node.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          name: "node",
          include: ["**/*.node.test.ts"],
          // Each file starts its own wrangler dev: one at a time on a 2-core machine.
          fileParallelism: false,
          exclude: ["**/node_modules/**"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
