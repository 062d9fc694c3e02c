/**
 * @module esbuild
 * One esbuild-wasm instance per loader isolate, initialised on first use. `worker: false`
 * because workerd has no Web Workers; the wasm arrives as a CompiledWasm module (wrangler.toml
 * rule), so nothing is fetched or compiled at run time. A failed initialisation is forgotten so
 * the next request retries instead of failing forever.
 *
 * patches/esbuild-wasm@0.28.2.patch: with `worker: false`, esbuild-wasm delivers every message
 * to the Go side through `setTimeout(0)`, which costs about a millisecond per round trip in
 * workerd, and a plugin build makes several per file. The patch uses `queueMicrotask` instead:
 * a 3-file TypeScript build went from ~20 ms to ~6 ms (bench/run.mjs, "TS bundleMs").
 */
import * as esbuild from "esbuild-wasm/esm/browser.js";
import wasmModule from "esbuild-wasm/esbuild.wasm";

let ready: Promise<typeof esbuild> | undefined;

export function getEsbuild(): Promise<typeof esbuild> {
  ready ??= esbuild.initialize({ wasmModule, worker: false }).then(
    () => esbuild,
    (err: unknown) => {
      ready = undefined;
      throw err;
    },
  );
  return ready;
}

export type { BuildFailure, Loader, Message, Plugin } from "esbuild-wasm/esm/browser.js";
