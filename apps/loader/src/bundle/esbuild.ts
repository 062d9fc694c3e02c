/**
 * @module esbuild
 * One esbuild-wasm instance per loader isolate, initialised on first use. `worker: false`
 * because workerd has no Web Workers; the wasm arrives as a CompiledWasm module (wrangler.toml
 * rule), so nothing is fetched or compiled at run time. A failed initialisation is forgotten so
 * the next request retries instead of failing forever.
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
