/** Bindings and vars of the loader Worker (root wrangler.toml). Every DWL_* var is parsed and validated by settings.ts (docs/configuration.md). */
interface Env {
  LOADER: WorkerLoader;
  /** Pyodide's runtime files (static assets; python/runtime-files.ts). */
  PYODIDE: Fetcher;
  KV: KVNamespace;
  FILES: R2Bucket;
  SANDBOXES: DurableObjectNamespace<import("./sandboxes/registry.ts").SandboxRegistry>;
  TENANT_GATES: DurableObjectNamespace<import("./fairness/tenant-gate.ts").TenantGate>;
  /** Per-tenant admission (fairness/): executions per minute and at once. */
  DWL_RATE_PER_MINUTE?: string;
  DWL_MAX_CONCURRENT?: string;
  DWL_ADMISSION_QUEUE?: string;
  DWL_ADMISSION_MAX_WAIT_MS?: string;
  /** Per-tenant sandbox quotas (limits.ts): count (100), stored bundle bytes (64 MiB), creates+updates per minute (60). */
  DWL_MAX_SANDBOXES?: string;
  DWL_MAX_SANDBOX_STORAGE_BYTES?: string;
  DWL_SANDBOX_WRITES_PER_MINUTE?: string;
  /** "local" accepts the dev key `dwl_local_dev`; anything else requires DWL_API_KEYS. */
  DWL_MODE?: string;
  /** JSON object: SHA-256 hex of an API key → tenant id. A Worker secret when deployed. */
  DWL_API_KEYS?: string;
  /** Overrides of the server maxima and defaults in limits.ts (decimal strings). */
  DWL_MAX_CPU_MS?: string;
  DWL_DEFAULT_CPU_MS?: string;
  DWL_MAX_SUBREQUESTS?: string;
  DWL_DEFAULT_SUBREQUESTS?: string;
  DWL_MAX_TIMEOUT_MS?: string;
  DWL_DEFAULT_TIMEOUT_MS?: string;
  DWL_MAX_CODE_BYTES?: string;
  DWL_MAX_INPUT_BYTES?: string;
  DWL_MAX_RESULT_BYTES?: string;
  DWL_MAX_LOG_LINES?: string;
  DWL_MAX_LOG_BYTES?: string;
  DWL_MAX_KV_VALUE_BYTES?: string;
  DWL_MAX_FILE_BYTES?: string;
  /** Seals credentials and signs run tokens (a Worker secret; local mode has a dev fallback). */
  DWL_ENCRYPTION_KEY?: string;
  /** "true" lets egress reach loopback (tests and local upstream stand-ins only). */
  DWL_EGRESS_ALLOW_LOOPBACK?: string;
  /** Tests only: the loopback echo upstream started by vitest.config.ts. */
  DWL_TEST_UPSTREAM?: string;
  /** npm registry for `dependencies` (default https://registry.npmjs.org). */
  DWL_NPM_REGISTRY?: string;
  /** "instrument" (fuel-metered code, default), "platform" (Cloudflare's cpuMs only) or "both". */
  DWL_CPU_ENFORCEMENT?: string;
  /** Locally, the run's budget by the clock in per cent of cpuMs (200 by default). */
  DWL_CPU_CLOCK_PERCENT?: string;
  /** Locally, the least the run's clock budget exceeds cpuMs by, in ms (100 by default). */
  DWL_CPU_CLOCK_STALL_MS?: string;
  /** Where per-tenant admission is kept: "isolate" (default in local mode) or "durable-object". */
  DWL_ADMISSION?: string;
  /** Batch interval of the execution log lines in ms; 0 writes each at once (default deployed). */
  DWL_LOG_FLUSH_MS?: string;
  /** Distinct programs kept warm per loader isolate; 0 = no bound (default deployed), 256 local. */
  DWL_MAX_WARM_ISOLATES?: string;
  DWL_PYTHON_HEAP_BYTES?: string;
  DWL_PYTHON_CONCURRENT_BOOTS?: string;
  DWL_PYTHON_MAX_CHILDREN?: string;
  DWL_PYTHON_MAX_ONE_OFF?: string;
  /**
   * Set only by the local supervisor: its loopback base URL (http://127.0.0.1:<port> or
   * http://localhost:<port>), where effect notices go (supervision/effects.ts). Unset deployed.
   */
  DWL_SUPERVISOR_URL?: string;
  /**
   * The origin clients reach the loader on (e.g. "http://127.0.0.1:8787"): sandbox `url`s and the
   * request URL a sandbox sees use it. Unset, the request's own origin (public-origin.ts).
   */
  DWL_PUBLIC_ORIGIN?: string;
}

declare namespace Cloudflare {
  interface Env extends globalThis.Env {}
}

declare namespace Cloudflare {
  interface GlobalProps {
    /** Types `ctx.exports` (loopback stubs of the entrypoints handed to children). */
    mainModule: typeof import("./index.ts");
  }
}
