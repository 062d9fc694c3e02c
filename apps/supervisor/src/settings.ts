/**
 * @module settings
 * Every setting of `npm run dev`, read from the environment once at start. A value that is not a
 * whole number in its range stops the start with a message naming it: a typo must never mean
 * "no limit".
 */
export interface Settings {
  /** The public port (0: any free one). */
  port: number;
  /** Local KV/R2/Durable Object state (wrangler's `--persist-to`). */
  stateDir: string;
  /** V8 heap per isolate, MB. */
  heapLimitMb: number;
  /** The runtime is declared hung after this long without a healthy answer. */
  watchdogMs: number;
  /** The runtime is killed (as a memory crash) when its resident memory passes this, MB. */
  maxResidentMb: number;
  /** A request body larger than this is refused (413), counted while it streams. */
  maxBodyBytes: number;
  /** Program runs of one API key inside the runtime at once. */
  keyConcurrency: number;
  /** Program runs of all keys inside the runtime at once; the slots go round robin by key. */
  runtimeConcurrency: number;
  /** Requests waiting for a slot, all keys together. */
  queueMax: number;
  /** Bytes of request bodies held by waiting requests, all keys together. */
  queueBodyBytes: number;
  /** A request whose expected wait is longer than this is refused (429), ms. */
  queueMaxWaitMs: number;
  /** API keys the runtime has accepted, remembered for admission (LRU beyond). */
  acceptedKeysMax: number;
  /** Recycle a runtime idle this long (0: never) whose resident memory is above `recycleResidentMb`. */
  recycleIdleMs: number;
  recycleResidentMb: number;
  /** A port for the Chrome DevTools inspector of the loader (0: none). */
  inspectorPort: number;
}

type Env = Record<string, string | undefined>;

/** Settings that no longer exist: naming them at start beats silently ignoring them. */
const RETIRED: Record<string, string> = {
  DWL_KEY_QUEUE: "the queue is now bounded by expected wait (DWL_QUEUE_MAX_WAIT_MS) and memory (DWL_QUEUE_MAX, DWL_QUEUE_BODY_BYTES)",
};

export class SettingError extends Error {}

function whole(env: Env, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (Number.isSafeInteger(value) && value >= min) return value;
  throw new SettingError(`${name}=${JSON.stringify(raw)} is not a whole number ≥ ${min} (default ${fallback})`);
}

export function readSettings(env: Env = process.env): Settings {
  for (const [name, why] of Object.entries(RETIRED)) {
    if (env[name] !== undefined) throw new SettingError(`${name} is no longer used: ${why}`);
  }
  const settings: Settings = {
    port: whole(env, "PORT", 8787, 0),
    stateDir: env.DWL_STATE_DIR || ".wrangler/state",
    heapLimitMb: whole(env, "DWL_HEAP_MB", 256),
    watchdogMs: whole(env, "DWL_WATCHDOG_MS", 10_000),
    maxResidentMb: whole(env, "DWL_MAX_RSS_MB", 2048),
    // Room for the largest upload the loader takes (PUT /files: 10 MiB) and its request line.
    maxBodyBytes: whole(env, "DWL_MAX_BODY_BYTES", 16 * 1024 * 1024),
    // 16 per key keeps a flood's runs few inside the runtime, which interleaves all it holds: a
    // quiet tenant's run waits behind every one of them.
    keyConcurrency: whole(env, "DWL_KEY_CONCURRENCY", 16),
    runtimeConcurrency: whole(env, "DWL_RUNTIME_CONCURRENCY", 64),
    queueMax: whole(env, "DWL_QUEUE_MAX", 10_000, 0),
    queueBodyBytes: whole(env, "DWL_QUEUE_BODY_BYTES", 256 * 1024 * 1024, 0),
    // The longest timeoutMs a run may ask for: a wait longer than that outlives any run.
    queueMaxWaitMs: whole(env, "DWL_QUEUE_MAX_WAIT_MS", 30_000),
    acceptedKeysMax: whole(env, "DWL_ACCEPTED_KEYS_MAX", 10_000),
    recycleIdleMs: whole(env, "DWL_RECYCLE_IDLE_MS", 10_000, 0),
    // A fresh runtime with a few dozen warm programs stays under it (measured: ~220 MB with 20
    // under wrangler dev); a burst of a few thousand executions leaves workerd far above.
    recycleResidentMb: whole(env, "DWL_RECYCLE_RSS_MB", 320),
    inspectorPort: whole(env, "DWL_INSPECTOR_PORT", 0, 0),
  };
  if (settings.keyConcurrency > settings.runtimeConcurrency) {
    throw new SettingError(`DWL_KEY_CONCURRENCY (${settings.keyConcurrency}) is above DWL_RUNTIME_CONCURRENCY (${settings.runtimeConcurrency})`);
  }
  return settings;
}
