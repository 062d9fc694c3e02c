/**
 * @module esbuild
 * One esbuild-wasm instance per loader isolate, initialised on first use. `worker: false`
 * because workerd has no Web Workers; the wasm arrives as a CompiledWasm module (wrangler.toml
 * rule), so nothing is fetched or compiled at run time. A failed initialisation is forgotten so
 * the next request retries instead of failing forever, and it reaches the client as a 500
 * `internal` that says what failed (the cause goes to the loader's log, not to the client).
 * Programs that need no bundler (bundle.ts `bundleDirect`, modules.ts) never get here.
 *
 * patches/esbuild-wasm@0.28.2.patch: with `worker: false`, esbuild-wasm delivers every message
 * to the Go side through `setTimeout(0)`, which costs about a millisecond per round trip in
 * workerd, and a plugin build makes several per file. The patch uses `queueMicrotask` instead:
 * a 3-file TypeScript build went from ~20 ms to ~6 ms (bench/run.mjs, "TS bundleMs").
 */
import * as esbuild from "esbuild-wasm/esm/browser.js";
import wasmModule from "esbuild-wasm/esbuild.wasm";
import { DwlHttpError } from "../errors.ts";

let ready: Promise<typeof esbuild> | undefined;
/** esbuild-wasm refuses a second `initialize` after a success, so a retry must know. */
let started = false;
/** Set only by `failNextEsbuildInitialisation` (tests). */
let injectedFailure: Error | undefined;

async function initialise(): Promise<typeof esbuild> {
  if (injectedFailure) {
    const err = injectedFailure;
    injectedFailure = undefined;
    throw err;
  }
  if (!started) {
    await esbuild.initialize({ wasmModule, worker: false });
    started = true;
  }
  return esbuild;
}

export const BUNDLER_UNAVAILABLE_MESSAGE =
  "the bundler (esbuild) failed to start, so programs that need it (npm packages, JSX, decorators, CommonJS) cannot be built right now; retry the request (JavaScript and TypeScript files that import only each other are not affected)";

export function getEsbuild(): Promise<typeof esbuild> {
  ready ??= initialise().catch((err: unknown) => {
    ready = undefined;
    console.error("dwl: esbuild initialisation failed", err);
    throw new DwlHttpError(500, "internal", BUNDLER_UNAVAILABLE_MESSAGE);
  });
  return ready;
}

/**
 * Test seam, used only by apps/loader/test/e2e/faults-esbuild.test.ts: the next initialisation fails
 * with `err`, as a broken or missing wasm module would, and an instance already running in
 * this isolate is forgotten first so that the failure is reached. Nothing else can provoke it:
 * the wasm module is bound at deploy time and esbuild-wasm allows one `initialize` per isolate.
 */
export function failNextEsbuildInitialisation(err: Error): void {
  injectedFailure = err;
  ready = undefined;
}

/**
 * What every build gives the child, a program's bundle (bundle.ts) or its packages' modules
 * (package-modules.ts): ES modules for the Workers runtime, with external source maps.
 */
export const BUNDLE_OUTPUT = {
  bundle: true,
  write: false,
  format: "esm",
  platform: "neutral",
  // Lowers what V8 lacks (decorators) and keeps everything else native.
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  sourcemap: "external",
  sourcesContent: false,
  metafile: true,
  logLevel: "silent",
  legalComments: "none",
} satisfies esbuild.BuildOptions;

export type { BuildFailure, Loader, Message, Plugin } from "esbuild-wasm/esm/browser.js";
