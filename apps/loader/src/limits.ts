/**
 * @module limits
 * Every limit of the loader: defaults, server maxima (overridable by Worker vars, parsed and
 * validated by settings.ts; docs/configuration.md), and the child isolates' compatibility
 * settings. Request limits pass through `clampLimits()` only.
 */
import type { Limits } from "@dwl/protocol";
import { checkSettings, choiceSetting, integerSetting, isLocalMode, type SettingVars } from "./settings.ts";

export const DEFAULT_CPU_MS = 50;
export const MAX_CPU_MS = 30_000;
/**
 * Locally, the share of `cpuMs` a run's work may take by the clock before `cpu_limit`, in per
 * cent (DWL_CPU_CLOCK_PERCENT; sandbox/harness/fuel.ts). The clock cannot tell a run's CPU from
 * the time its thread waited for a core: on a busy machine (load 5-9 on 2 cores) a trivial first
 * run, whose lazy compilation and first use of `process` are native work, read 51 ms by the clock
 * for the default 50. Fuel, a count that load does not change, bounds metered code as before; a
 * native call that is really too long is still cut (a sort of 3e5 numbers takes ~0.5 s).
 */
export const CPU_CLOCK_PERCENT = 200;
/**
 * Locally, the least a run's clock budget exceeds its `cpuMs` by (DWL_CPU_CLOCK_STALL_MS): a stall
 * of the runtime's one thread (a major GC of an isolate with a thousand runs in flight, the OS
 * giving the core to another process) lands whole on whichever run's slice is open. Measured
 * (bench's KV + R2 program, 2,000 runs at c=1,000, two busy processes): one slice of 48 and one of
 * 67 ms at cpuMs 10, a run of the default 50 at 108 ms; each answered `cpu_limit`. Past cpuMs 100
 * the percentage already leaves more than this.
 */
export const CPU_CLOCK_STALL_MS = 100;
export const DEFAULT_SUBREQUESTS = 50;
export const MAX_SUBREQUESTS = 50;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_TIMEOUT_MS = 30_000;
/** Total UTF-8 bytes of `code` or of all `files`. */
export const MAX_CODE_BYTES = 1024 * 1024;
/** UTF-8 bytes of `input` as JSON. */
export const MAX_INPUT_BYTES = 1024 * 1024;
/** Nesting depth of `input` (deeper JSON would overflow the stack when handed to the child). */
export const MAX_INPUT_DEPTH = 1_024;
/** UTF-8 bytes of the encoded result (or of a fetch program's response body). */
export const MAX_RESULT_BYTES = 1024 * 1024;
export const MAX_LOG_LINES = 1_000;
export const MAX_LOG_BYTES = 64 * 1024;
/** UTF-8 bytes of a storage key relative to its namespace (KV allows 512 with our prefix). */
export const MAX_STORAGE_KEY_BYTES = 256;
/** Bytes of one env.KV value. */
export const MAX_KV_VALUE_BYTES = 1024 * 1024;
/** Bytes of one env.FILES object (and of a PUT /files upload). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** Largest page of a KV or FILES listing (also the default page size). */
export const MAX_LIST_LIMIT = 1_000;
/**
 * Longest list cursor the loader decodes (bindings/list-cursor.ts); those it hands out are well
 * under a kilobyte, and decoding a program's megabytes of "cursor" would be the loader's work.
 */
export const MAX_LIST_CURSOR_CHARS = 4_096;
export const DEFAULT_NAMESPACE = "default";
/** Executions one tenant may start per minute (token bucket; bursts up to the same number). */
export const RATE_PER_MINUTE = 1_200;
/** Sandboxes one tenant may have (DWL_MAX_SANDBOXES). */
export const MAX_SANDBOXES = 100;
/**
 * Bytes of stored sandbox bundles one tenant may have, shared ones counted once
 * (DWL_MAX_SANDBOX_STORAGE_BYTES): room for a dozen of the largest (5 MiB) bundles.
 */
export const MAX_SANDBOX_STORAGE_BYTES = 64 * 1024 * 1024;
/** Sandbox creates and updates one tenant may attempt per minute (DWL_SANDBOX_WRITES_PER_MINUTE). */
export const SANDBOX_WRITES_PER_MINUTE = 60;
/** Local mode writes execution log lines in batches this often (observability.ts). */
export const LOCAL_LOG_FLUSH_MS = 100;
/**
 * Local mode keeps this many distinct programs warm per loader isolate (LOADER.get); later new
 * programs run in a throw-away isolate. workerd under wrangler dev never evicts warm isolates
 * (~2.9 MB each) and fails after ~1,050 of them; 256 keep the runtime near 1 GB, well under the
 * supervisor's 2 GB cap. Deployed, the platform evicts them, so there is no bound.
 */
export const LOCAL_MAX_WARM_ISOLATES = 256;
/**
 * Programs remembered as having run once (a one-off isolate, sandbox/load.ts openChild), so that
 * their second run starts a warm one: ~100 bytes each, ~1 MB in all.
 */
export const RAN_ONCE_REMEMBERED = 10_000;

/**
 * A Python child's wasm heap, where Python allocates: past it an allocation fails, and a run that
 * fails with MemoryError is reported as memory_limit. A started child uses ~31 MB of it. Deployed,
 * the isolate's 128 MB bound (which also holds Pyodide's JS and compiled code) may come first.
 */
export const PYTHON_HEAP_BYTES = 128 * 1024 * 1024;
/**
 * How long a cancelled supervised request is remembered (supervision/cancel.ts): longer than a
 * request takes to reach its first run, which a cancel may come before.
 */
export const CANCELLED_TOKEN_KEPT_MS = 60_000;
/**
 * How long a chain of effects may keep the local runtime from reading its sockets before one
 * waits for it to (supervision/io-turn.ts): ~1 ms per this long of unbroken in-process writes.
 */
export const IO_STARVED_MS = 10;
/** Turns of the runtime's loop an effect waits at most: one, and one more for each cancel taken in meanwhile. */
export const MAX_IO_TURNS = 3;
/** One start at a time: each holds the local runtime's one thread (python/boot.ts). */
export const PYTHON_CONCURRENT_BOOTS = 1;
/**
 * Python children kept started in local mode. Each holds ~130 MB (the first ~230 MB: Pyodide's
 * compiled code) and its heap only grows, and workerd under wrangler dev never gives a started
 * child back, not even one replaced after a fatal failure. With the one-off places below and
 * LOCAL_MAX_WARM_ISOLATES of JS, a runtime held ~1.4 GB (docs/python.md), under the supervisor's
 * 2,048 MB cap; what one-off children leave behind grows it further until the supervisor drains
 * and restarts it (DWL_DRAIN_RSS_MB). Deployed, the platform evicts them.
 */
export const LOCAL_PYTHON_MAX_CHILDREN = 4;
/**
 * One-off Python children (scopes past LOCAL_PYTHON_MAX_CHILDREN) alive at once in local mode,
 * ~130 MB each until their run ends; more runs wait their turn (python/places.ts).
 */
export const LOCAL_PYTHON_MAX_ONE_OFF = 2;
/**
 * The largest `expiration` and `expirationTtl` a KV put takes, in seconds: the local store refuses
 * anything past a signed 32-bit number (measured: 2,147,483,647 stored, 2,147,483,648 refused).
 */
export const MAX_KV_EXPIRATION_SECONDS = 2_147_483_647;
/** Executions one tenant may have running at once. */
export const MAX_CONCURRENT_EXECUTIONS = 50;
/**
 * Executions of one tenant waiting for room past its rate or concurrency (each holds its parsed
 * request meanwhile: at most ~2 MiB of code and input).
 */
export const ADMISSION_QUEUE = 1_000;
/** A request body larger than this is refused with 413 before it is parsed. */
export const REQUEST_OVERHEAD_BYTES = 64 * 1024;
/** The parent's own deadline beyond the child's timer, for a child that cannot answer at all. */
export const PARENT_TIMEOUT_GRACE_MS = 2_000;

/**
 * Fuel checks per millisecond of CPU: how `cpuMs` becomes a fuel budget for metered code (one
 * unit per loop iteration or function call). Calibrated on the reference machine (2 cores) with
 * `pnpm bench`'s calibration programs; see README "Security model" for the measurement.
 */
export const FUEL_PER_CPU_MS = 100_000;

/** Bytes of bundles kept in the loader isolate's memory (bundle/cache.ts). */
export const MAX_BUNDLE_CACHE_BYTES = 64 * 1024 * 1024;

/** Bytes of transformed files (the program's and its packages') kept in the loader isolate's memory (bundle/modules.ts). */
export const MAX_MODULE_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Characters of texts whose SHA-256 the loader remembers (hash.ts): a program run again skips
 * hashing its key material. A text over a sixteenth of this is not remembered.
 */
export const MAX_HASH_MEMO_CHARS = 4 * 1024 * 1024;

/** Bytes of a PAX or GNU long-name record in a tarball: they are small; anything bigger is hostile. */
export const MAX_META_ENTRY_BYTES = 64 * 1024;

/** Redirects one egress request may follow (each hop is checked against the rules again). */
export const MAX_EGRESS_REDIRECTS = 10;
/** Bytes of an egress request body: they are buffered (to resend on 307/308 and to look for placeholders). */
export const MAX_EGRESS_BODY_BYTES = 10 * 1024 * 1024;

/** The notes tool: characters of one note, and notes one `list` returns. */
export const MAX_NOTE_CHARS = 64 * 1024;
export const MAX_NOTES_LISTED = 1_000;
/** Bytes of an upstream answer to a JSON API tool call. */
export const MAX_TOOL_RESPONSE_BYTES = 1024 * 1024;

/** A supervisor that does not answer an effect notice within this is treated as one that refused. */
export const EFFECT_NOTICE_TIMEOUT_MS = 10_000;

/** Bytes of a `PUT /credentials/:name` body. */
export const MAX_CREDENTIAL_BODY_BYTES = 16 * 1024;

/** Largest page of `GET /sandboxes` (also its default). */
export const MAX_SANDBOX_PAGE = 100;

/** Sandbox bundles kept decoded in the loader isolate's memory (sandboxes/bundle-store.ts). */
export const MAX_SANDBOX_BUNDLES_IN_MEMORY = 256;

/** Log lines kept per sandbox (oldest dropped first). */
export const SANDBOX_LOG_RING = 200;

/**
 * How long a reserved bundle is safe from collection before its row must be committed. A write
 * stores one object in between; a write slower than this fails at commit (and may be retried)
 * rather than point at a bundle that a sweep removed.
 */
export const BUNDLE_RESERVATION_MS = 10 * 60_000;

/** Bytes of a sandbox's bundled code (what is stored and loaded into its isolate). */
export const MAX_SANDBOX_BUNDLE_BYTES = 5 * 1024 * 1024;

/** A batch of execution log lines is written early once it holds this many (observability.ts). */
export const MAX_BATCHED_LINES = 200;

/**
 * Bytes of pre-built package modules kept per loader isolate, for each of their two forms: one
 * module joined in front of an esbuild bundle (bundle/vendor.ts) and split modules for a program
 * linked file by file (bundle/package-modules.ts). Least recently used goes first.
 */
export const MAX_VENDOR_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Files of a program's npm packages given to the child as modules of their own
 * (bundle/package-files.ts). Past it the packages go to esbuild, whose tree shaking drops what
 * the program does not use: a package whose entry imports hundreds of files (lodash-es: 600+)
 * would otherwise cost the child one module each. Hono's entry and cors middleware are 27.
 */
export const MAX_LINKED_PACKAGE_FILES = 300;

/**
 * Characters of DWL_ENCRYPTION_KEY. HKDF input keying material has to carry the key's entropy
 * itself (HKDF does not stretch), so a short secret is refused rather than silently weak. The dev
 * key is 39 characters.
 */
export const MIN_ENCRYPTION_KEY_CHARS = 32;

/** The CPU a Python child's boot call may use where the platform enforces CPU limits. */
export const PYTHON_BOOT_CPU_MS = 5_000;
/** Wall clock a Python child's boot may take before its run is answered with the boot's failure. */
export const PYTHON_BOOT_TIMEOUT_MS = 60_000;
/**
 * Tenant scopes whose Python child this loader isolate replaced after a fatal failure, remembered
 * (python/generations.ts): past it the oldest scope's count restarts, and its next run on the
 * failed child is answered with the failure again and replaces it again.
 */
export const MAX_REPLACED_PYTHON_SCOPES = 4_096;

// npm dependency installation: resolution, download, unpacking, caching (npm/, bundle/).

/** Used when the Worker var DWL_NPM_REGISTRY is unset. */
export const DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org";

/** Packages in one program's dependency graph, transitive ones included. */
export const MAX_PACKAGES = 200;
/** Bytes of one downloaded (gzipped) tarball. */
export const MAX_TARBALL_BYTES = 10 * 1024 * 1024;
/**
 * Bytes of one tarball once gunzipped (the gzip-bomb guard), and of the files kept from all
 * packages of a program together.
 */
export const MAX_UNPACKED_BYTES = 20 * 1024 * 1024;
/** Entries (files, directories, headers) in one tarball. */
export const MAX_TAR_ENTRIES = 20_000;
/** Bytes of one package's metadata document (abbreviated packument) from the registry. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;
/** Bytes of a bundled program (with its dependencies), before metering. */
export const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

/** Tries per registry request; only network failures, 429 and 5xx are retried. */
export const REGISTRY_ATTEMPTS = 3;
/** Wait before the second try, doubled before each further one. */
export const REGISTRY_RETRY_DELAY_MS = 200;
/** Per try, until the response body has arrived. */
export const REGISTRY_TIMEOUT_MS = 10_000;
/** Registry requests in flight at once while resolving and downloading. */
export const REGISTRY_CONCURRENCY = 8;
/**
 * Tarballs downloaded and unpacked at once per loader isolate, whatever the number of requests:
 * each may hold up to MAX_TARBALL_BYTES plus its kept files, and a Worker isolate has 128 MB.
 */
export const TARBALL_CONCURRENCY = 2;

/**
 * How long package metadata is trusted, in KV and then in memory: a newly published version is
 * seen within this long (twice this at worst, when memory took it from KV near expiry). Only new
 * bundles see it: a cached bundle keeps its versions. Tarballs never expire: a published
 * name@version is immutable.
 */
export const METADATA_TTL_MS = 5 * 60_000;
/**
 * npm cache writes (KV metadata, R2 packages) still running after their request went on, per
 * loader isolate: each holds what it writes (up to a gzipped package) until it lands. Past this
 * many, a request waits for its own writes as it would without the background.
 */
export const MAX_BACKGROUND_CACHE_WRITES = 32;
/** Bytes of metadata kept in the loader isolate's memory (estimated as JSON length). */
export const METADATA_MEMORY_CACHE_BYTES = 8 * 1024 * 1024;
/** Bytes of unpacked package files kept in the loader isolate's memory. */
export const PACKAGE_MEMORY_CACHE_BYTES = 32 * 1024 * 1024;
/**
 * Source bytes (JavaScript, TypeScript, JSON; latest contents per path) that the loader's
 * long-lived esbuild context may hold parsed for reuse by later builds (bundle/incremental.ts);
 * esbuild's ASTs take about 20 times that in wasm memory. Past it, the context is dropped.
 */
export const ESBUILD_CONTEXT_SOURCE_BYTES = 1024 * 1024;

export const CHILD_COMPATIBILITY_DATE = "2026-11-01";
export const CHILD_COMPATIBILITY_FLAGS = ["nodejs_compat"];

export type CpuEnforcement = "instrument" | "platform" | "both";

/** The server's effective configuration, read once per request from the Worker's vars. */
export interface ServerLimits {
  defaultCpuMs: number;
  maxCpuMs: number;
  defaultSubRequests: number;
  maxSubRequests: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxCodeBytes: number;
  maxInputBytes: number;
  maxResultBytes: number;
  maxLogLines: number;
  maxLogBytes: number;
  maxKvValueBytes: number;
  maxFileBytes: number;
  ratePerMinute: number;
  maxConcurrent: number;
  /** Executions of a tenant waiting for room (fairness/ledger.ts); 0: refuse at once. */
  admissionQueue: number;
  /** The longest an execution waits for room (default: the longest timeoutMs). */
  admissionMaxWaitMs: number;
  /** Per-tenant sandbox quotas (sandboxes/service.ts). */
  maxSandboxes: number;
  maxSandboxStorageBytes: number;
  sandboxWritesPerMinute: number;
  cpuEnforcement: CpuEnforcement;
  /** Locally, a run's budget by the clock in per cent of its cpuMs (CPU_CLOCK_PERCENT)… */
  cpuClockPercent: number;
  /** …and never less than cpuMs plus this (CPU_CLOCK_STALL_MS). */
  cpuClockStallMs: number;
  /** Where per-tenant admission is kept (fairness/admit.ts). */
  admission: "isolate" | "durable-object";
  /** Execution log lines are written in batches this often; 0 writes each at once (observability.ts). */
  logFlushMs: number;
  /** Distinct programs kept warm with LOADER.get per loader isolate; 0 = no bound (sandbox/load.ts). */
  maxWarmIsolates: number;
  /** Bound of a Python child's wasm heap (python/). */
  pythonHeapBytes: number;
  /** Python children started at once per loader isolate (python/boot.ts). */
  pythonConcurrentBoots: number;
  /** Python children kept started per loader isolate; 0 = no bound (sandbox/load.ts). */
  pythonMaxChildren: number;
  /** One-off Python children alive at once per loader isolate; 0 = no bound (python/places.ts). */
  pythonMaxOneOff: number;
}

/** Limits of one run after clamping to the server maxima. */
export type EffectiveLimits = Required<Limits>;

const parsedLimits = new WeakMap<object, ServerLimits>();

/**
 * The server's limits from the Worker's vars (settings.ts parses and validates each one; a bad
 * value throws a SettingError naming it). Parsed once per vars object.
 */
export function readServerLimits(env: SettingVars): ServerLimits {
  const known = parsedLimits.get(env);
  if (known) return known;
  checkSettings(env);
  const local = isLocalMode(env);
  const int = (name: string, fallback: number) => integerSetting(env, name, fallback);
  const maxTimeoutMs = int("DWL_MAX_TIMEOUT_MS", MAX_TIMEOUT_MS);
  const limits: ServerLimits = {
    defaultCpuMs: int("DWL_DEFAULT_CPU_MS", DEFAULT_CPU_MS),
    maxCpuMs: int("DWL_MAX_CPU_MS", MAX_CPU_MS),
    defaultSubRequests: int("DWL_DEFAULT_SUBREQUESTS", DEFAULT_SUBREQUESTS),
    maxSubRequests: int("DWL_MAX_SUBREQUESTS", MAX_SUBREQUESTS),
    defaultTimeoutMs: int("DWL_DEFAULT_TIMEOUT_MS", DEFAULT_TIMEOUT_MS),
    maxTimeoutMs,
    maxCodeBytes: int("DWL_MAX_CODE_BYTES", MAX_CODE_BYTES),
    maxInputBytes: int("DWL_MAX_INPUT_BYTES", MAX_INPUT_BYTES),
    maxResultBytes: int("DWL_MAX_RESULT_BYTES", MAX_RESULT_BYTES),
    maxLogLines: int("DWL_MAX_LOG_LINES", MAX_LOG_LINES),
    maxLogBytes: int("DWL_MAX_LOG_BYTES", MAX_LOG_BYTES),
    maxKvValueBytes: int("DWL_MAX_KV_VALUE_BYTES", MAX_KV_VALUE_BYTES),
    maxFileBytes: int("DWL_MAX_FILE_BYTES", MAX_FILE_BYTES),
    ratePerMinute: int("DWL_RATE_PER_MINUTE", RATE_PER_MINUTE),
    maxConcurrent: int("DWL_MAX_CONCURRENT", MAX_CONCURRENT_EXECUTIONS),
    admissionQueue: int("DWL_ADMISSION_QUEUE", ADMISSION_QUEUE),
    admissionMaxWaitMs: int("DWL_ADMISSION_MAX_WAIT_MS", maxTimeoutMs),
    maxSandboxes: int("DWL_MAX_SANDBOXES", MAX_SANDBOXES),
    maxSandboxStorageBytes: int("DWL_MAX_SANDBOX_STORAGE_BYTES", MAX_SANDBOX_STORAGE_BYTES),
    sandboxWritesPerMinute: int("DWL_SANDBOX_WRITES_PER_MINUTE", SANDBOX_WRITES_PER_MINUTE),
    cpuEnforcement: choiceSetting<CpuEnforcement>(env, "DWL_CPU_ENFORCEMENT", "instrument"),
    cpuClockPercent: int("DWL_CPU_CLOCK_PERCENT", CPU_CLOCK_PERCENT),
    cpuClockStallMs: int("DWL_CPU_CLOCK_STALL_MS", CPU_CLOCK_STALL_MS),
    admission: choiceSetting<ServerLimits["admission"]>(env, "DWL_ADMISSION", local ? "isolate" : "durable-object"),
    logFlushMs: int("DWL_LOG_FLUSH_MS", local ? LOCAL_LOG_FLUSH_MS : 0),
    maxWarmIsolates: int("DWL_MAX_WARM_ISOLATES", local ? LOCAL_MAX_WARM_ISOLATES : 0),
    pythonHeapBytes: int("DWL_PYTHON_HEAP_BYTES", PYTHON_HEAP_BYTES),
    pythonConcurrentBoots: int("DWL_PYTHON_CONCURRENT_BOOTS", PYTHON_CONCURRENT_BOOTS),
    pythonMaxChildren: int("DWL_PYTHON_MAX_CHILDREN", local ? LOCAL_PYTHON_MAX_CHILDREN : 0),
    pythonMaxOneOff: int("DWL_PYTHON_MAX_ONE_OFF", local ? LOCAL_PYTHON_MAX_ONE_OFF : 0),
  };
  parsedLimits.set(env, limits);
  return limits;
}

/** How long a run of `cpuMs` may work by the clock (locally) before `cpu_limit`. */
export function clockBudgetMs(
  cpuMs: number,
  server: Pick<ServerLimits, "cpuClockPercent" | "cpuClockStallMs">,
): number {
  return Math.max((cpuMs * server.cpuClockPercent) / 100, cpuMs + server.cpuClockStallMs);
}

/** The largest cpuMs whose clock budget is at most `clockMs` (at least 1). */
export function maxCpuMsWithinClock(
  clockMs: number,
  server: Pick<ServerLimits, "cpuClockPercent" | "cpuClockStallMs">,
): number {
  return Math.max(1, Math.floor(Math.min((clockMs * 100) / server.cpuClockPercent, clockMs - server.cpuClockStallMs)));
}

/** Fills defaults and caps each requested limit at the server maximum (never an error). */
export function clampLimits(requested: Limits | undefined, server: ServerLimits): EffectiveLimits {
  return {
    cpuMs: Math.min(requested?.cpuMs ?? server.defaultCpuMs, server.maxCpuMs),
    subRequests: Math.min(requested?.subRequests ?? server.defaultSubRequests, server.maxSubRequests),
    timeoutMs: Math.min(requested?.timeoutMs ?? server.defaultTimeoutMs, server.maxTimeoutMs),
  };
}

/**
 * The largest body a program request may have: the code (twice its cap, for JSON escaping) and
 * the input, plus room for the other fields. The same for every route, so a body is never refused
 * by one route and taken by another.
 */
export function programBodyCap(server: ServerLimits): number {
  return server.maxCodeBytes * 2 + server.maxInputBytes + REQUEST_OVERHEAD_BYTES;
}
