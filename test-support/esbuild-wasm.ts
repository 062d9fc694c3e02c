/**
 * Stands in for `esbuild-wasm/esbuild.wasm` in the workerd test runtime (vitest.config.ts
 * `resolve.alias`). Imported as a module there, the 14 MB wasm would reach workerd through the
 * vitest plugin's module fallback service, which encodes it as a JSON array of numbers: ~8 s per
 * test file before its first test, on a busy 2-core machine. Here the bytes arrive as a data
 * binding (part of the runtime's configuration, binary) and are compiled with the runtime's
 * UnsafeEval binding, which the plugin gives its runner: ~0.5 s, and only in a file that imports
 * the bundler. The product is untouched: deployed and under `wrangler dev`, the wasm is a
 * CompiledWasm module (wrangler.toml).
 */
import { env } from "cloudflare:workers";

interface TestRuntimeEnv {
  /** The bytes of esbuild.wasm (vitest.config.ts `dataBlobBindings`). */
  TEST_ESBUILD_WASM: ArrayBuffer;
  /** workerd's UnsafeEval, bound by @cloudflare/vitest-plugin for its own module runner. */
  __VITEST_POOL_WORKERS_UNSAFE_EVAL: { newWasmModule(bytes: ArrayBuffer): WebAssembly.Module };
}

const testEnv = env as unknown as TestRuntimeEnv;

export default testEnv.__VITEST_POOL_WORKERS_UNSAFE_EVAL.newWasmModule(testEnv.TEST_ESBUILD_WASM);
