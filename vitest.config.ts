/**
 * Four projects (`npx vitest run --project <name>`; `npx vitest run` runs them one after the other):
 * - `workerd`: inside the Workers runtime (@cloudflare/vitest-plugin), all files in one runtime:
 *   the unit tests beside their modules, and the whole-request tests in apps/loader/test/e2e
 *   but those that need a runtime of their own.
 * - `workerd-fresh`: those (`freshRuntimeE2e`), in the Workers runtime too, one fresh runtime
 *   per file.
 * - `node`: the `*.node.test.ts` files that share one loader served as `npm run dev` serves it.
 * - `node-own-server`: the `*.node.test.ts` files that start a loader of their own
 *   (dev-server.ts `startDevServer`), one at a time.
 * `npm test` runs two vitest processes at once (package.json `check`): `node-own-server`
 * (`test:own-servers`), beside `node`, `workerd` and `workerd-fresh` one after the other
 * (`test:rest`). The first is mostly waiting on crashes, restarts and sleeps; one after the
 * other they took about five minutes on 2 cores.
 * The servers they reach are started once per process by the global setups in test-support/.
 */
import { createHash } from "node:crypto";
import { globSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

/** A second tenant for isolation tests (apps/loader/test/helpers.ts OTHER_TENANT_KEY). */
const testApiKeys = { [createHash("sha256").update("dwl_test_other_tenant").digest("hex")]: "other" };

/** The folder of esbuild's wasm, which the test runtime reads (test-support/esbuild-wasm.ts says why). */
const esbuildWasmDir = dirname(
  createRequire(new URL("./apps/loader/package.json", import.meta.url)).resolve("esbuild-wasm/esbuild.wasm"),
);

/** DWL_TEST_VERBOSE=1 shows what passing tests print and workerd's own diagnostics. */
const verbose = process.env.DWL_TEST_VERBOSE === "1";

/**
 * Whole-request tests that need a runtime of their own, because they count or break what the
 * runtime holds: the tenants' admission counters (fairness), the bundler and the storage
 * bindings they make fail (faults-esbuild, faults-storage), cold package caches (npm-cache),
 * the loader's log lines (observability), and warm isolates and their module state (reuse; a
 * runtime keeps at most DWL_MAX_WARM_ISOLATES programs warm). Every other one shares the
 * `workerd` project's runtime: a fresh runtime costs a file ~3 s of CPU (starting workerd,
 * importing the loader), and the 21 files that had one took 193 s of the 2 cores' time where
 * all but these 6 in one runtime take 73 s (the same 904 tests pass, in shuffled file orders too).
 */
const freshRuntimeE2e = ["fairness", "faults-esbuild", "faults-storage", "npm-cache", "observability", "reuse"].map(
  (name) => `apps/loader/test/e2e/${name}.test.ts`,
);

/**
 * The node files that start a loader of their own: they crash, recycle or flood its runtime and
 * time what follows, so they run one at a time, beside the shared-server files rather than
 * among them.
 */
const ownServerFiles = globSync("**/*.node.test.ts", { exclude: (name) => name === "node_modules" }).filter((file) =>
  /\bstartDevServer\(/.test(readFileSync(file, "utf8")),
);

/** A project run inside the Workers runtime, with the loader as its main module. */
function workerdProject(options: {
  name: string;
  isolate: boolean;
  include: string[];
  exclude?: string[];
  groupOrder: number;
}): TestProjectInlineConfiguration {
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        // workerd's --verbose: a line and a stack for every exception a test provokes on purpose.
        verbose,
        miniflare: {
          serviceBindings: { TEST_ESBUILD_WASM_DIR: { disk: { path: esbuildWasmDir } } },
          bindings: {
            DWL_MODE: "local",
            DWL_API_KEYS: JSON.stringify(testApiKeys),
            // Test configuration only: lets egress reach the loopback upstream.
            DWL_EGRESS_ALLOW_LOOPBACK: "true",
            DWL_TEST_UPSTREAM: inject<string>("upstream"),
            // Effect notices go to the echo upstream (supervision.test.ts); only requests
            // carrying a supervisor token send any, and no other test sends one.
            DWL_SUPERVISOR_URL: `${inject<string>("upstream")}/supervisor`,
            DWL_NPM_REGISTRY: inject<string>("npmRegistry"),
          },
        },
      })),
    ],
    resolve: {
      alias: [
        {
          find: /^esbuild-wasm\/esbuild\.wasm$/,
          replacement: new URL("./test-support/esbuild-wasm.ts", import.meta.url).pathname,
        },
      ],
    },
    test: {
      name: options.name,
      isolate: options.isolate,
      // One file at a time, and one workerd project after the other: CPU limits are also
      // measured by the clock, and two of these runtimes computing at once on 2 cores failed
      // runs with cpu_limit (64 ms by the clock for 50 ms of CPU) and timing assertions.
      maxWorkers: 1,
      sequence: { groupOrder: options.groupOrder },
      // A runtime's first request imports the loader (seconds, tens of them on a busy
      // machine): the setup file pays it in a hook, before any test.
      setupFiles: ["test-support/warm-loader.ts"],
      testTimeout: 30_000,
      hookTimeout: 120_000,
      include: options.include,
      exclude: ["**/*.node.test.ts", "**/node_modules/**", ...(options.exclude ?? [])],
    },
  };
}

export default defineConfig({
  test: {
    // A passing test's console output (the loader's execution log lines, the errors a test
    // provokes on purpose) stays out of the log; a failing test's is shown with its failure.
    silent: verbose ? false : "passed-only",
    // Two node files at a time, even on 2 cores: most of their time is spent waiting on child
    // processes and the dev server, not computing.
    maxWorkers: 2,
    // Stopping a runtime can take longer than vitest's 10 s default on a busy machine.
    teardownTimeout: 60_000,
    // What every project needs (the loader's generated modules, the loopback servers it reaches):
    // once per process rather than once per project.
    globalSetup: ["test-support/global-setup.ts"],
    projects: [
      workerdProject({
        name: "workerd",
        // One runtime for every file: these test modules, functions and answers, not a runtime's
        // state, and a fresh runtime costs each file seconds (starting workerd, importing the loader).
        isolate: false,
        include: ["apps/*/src/**/*.test.ts", "packages/*/src/**/*.test.ts", "apps/loader/test/e2e/**/*.test.ts"],
        exclude: freshRuntimeE2e,
        groupOrder: 2,
      }),
      workerdProject({
        name: "workerd-fresh",
        // One fresh runtime per file: storage, the tenants' admission counters and the warm
        // isolates start over (a runtime keeps at most DWL_MAX_WARM_ISOLATES programs warm).
        isolate: true,
        include: freshRuntimeE2e,
        groupOrder: 3,
      }),
      {
        test: {
          name: "node",
          globalSetup: ["test-support/global-setup.node.ts"],
          include: ["**/*.node.test.ts"],
          exclude: ["**/node_modules/**", ...ownServerFiles],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "node-own-server",
          globalSetup: ["test-support/global-setup.own-server.ts"],
          include: ownServerFiles,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
