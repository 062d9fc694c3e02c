/**
 * Stands in for `esbuild-wasm/esbuild.wasm` in the workerd test runtime (vitest.config.ts
 * `resolve.alias`). Imported as a module there, the 14 MB wasm would reach workerd through the
 * vitest plugin's module fallback service, which encodes it as a JSON array of numbers: ~8 s per
 * test file before its first test, on a busy 2-core machine. Given as a data binding, the bytes
 * were part of the runtime's configuration: ~1 s more to start each runtime, used or not. Here
 * they are read from esbuild-wasm's folder through a workerd disk service when the loader is
 * imported, and compiled with the runtime's UnsafeEval binding, which the plugin gives its
 * runner: ~0.5 s. The product is untouched: deployed and under `wrangler dev`, the wasm is a
 * CompiledWasm module (wrangler.toml).
 */
import { env } from "cloudflare:workers";

interface TestRuntimeEnv {
  /** esbuild-wasm's package folder, served read-only (vitest.config.ts `serviceBindings`). */
  TEST_ESBUILD_WASM_DIR: Fetcher;
  /** workerd's UnsafeEval, bound by @cloudflare/vitest-plugin for its own module runner. */
  __VITEST_POOL_WORKERS_UNSAFE_EVAL: { newWasmModule(bytes: ArrayBuffer): WebAssembly.Module };
}

const testEnv = env as unknown as TestRuntimeEnv;

const response = await testEnv.TEST_ESBUILD_WASM_DIR.fetch("http://esbuild-wasm/esbuild.wasm");
if (!response.ok) throw new Error(`esbuild.wasm could not be read for the test runtime: HTTP ${response.status}`);

export default testEnv.__VITEST_POOL_WORKERS_UNSAFE_EVAL.newWasmModule(await response.arrayBuffer());
