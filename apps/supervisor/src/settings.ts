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
  /** Serve this earlier build instead of building the loader at start (none: build). */
  loaderBuild: string | undefined;
  /** V8 heap per isolate, MB. */
  heapLimitMb: number;
  /** Backtracks before a regular expression falls back to V8's linear-time engine; 0: never. */
  regexpBacktracks: number;
  /** The runtime is declared hung after this long without a healthy answer. */
  watchdogMs: number;
  /**
   * How long a resend on its last chance (in flight at two crashes, never alone) keeps other
   * requests from being sent while it goes alone, ms.
   */
  suspectAloneMs: number;
  /** The runtime is killed (as a memory crash) when its resident memory passes this, MB. */
  maxResidentMb: number;
  /** A request body larger than this is refused (413), counted while it streams. */
  maxBodyBytes: number;
  /** A sandbox request declaring a body up to this size is read whole before it takes a slot. */
  smallUploadBytes: number;
  /** Program runs of one API key inside the runtime at once. */
  keyConcurrency: number;
  /**
   * CPU budgets (`limits.cpuMs`) of one API key's runs inside the runtime together, ms; a run
   * asking for more runs alone (unset: the loader's largest budget, DWL_MAX_CPU_MS).
   */
  keyCpuMs: number | undefined;
  /**
   * Thread time one API key's runs inside the runtime are expected to take together, ms, each
   * expected to take what the key's recent runs took (the loader measures it); a key whose runs
   * take more runs one at a time.
   */
  keyThreadMs: number;
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
  /** WebSocket connections relayed at once (each holds two sockets until it closes). */
  maxWebSockets: number;
  /** The same, per API key (keys not accepted yet share one count). */
  keyWebSockets: number;
  /** A sandbox's HTTP answers relayed at once, in all and per API key (open-connections.ts). */
  maxStreams: number;
  keyStreams: number;
  /** Bytes a WebSocket's client may fall behind the runtime before it is cut; all of them together. */
  webSocketLagBytes: number;
  webSocketsLagBytes: number;
  /** Recycle a runtime idle this long (0: never) whose resident memory is above `recycleResidentMb`. */
  recycleIdleMs: number;
  recycleResidentMb: number;
  /** Restart a runtime past this resident memory once drained, at most `drainWaitMs` later (0: never). */
  drainResidentMb: number;
  drainWaitMs: number;
  /** A port for the Chrome DevTools inspector of the loader (0: none). */
  inspectorPort: number;
}

type Env = Record<string, string | undefined>;

/** Settings that no longer exist: naming them at start beats silently ignoring them. */
const RETIRED: Record<string, string> = {
  DWL_KEY_QUEUE:
    "the queue is now bounded by expected wait (DWL_QUEUE_MAX_WAIT_MS) and memory (DWL_QUEUE_MAX, DWL_QUEUE_BODY_BYTES)",
};

export class SettingError extends Error {}

/** One setting of the supervisor (docs/configuration.md lists these beside the loader's). */
export interface SupervisorSetting {
  name: string;
  /**
   * Whole-number settings (those with a `min`): their default and smallest value, the default a
   * name when it follows another setting. `DWL_STATE_DIR` and `DWL_LOADER_BUILD` are paths.
   */
  fallback: number | string;
  min?: number;
  summary: string;
}

/** Every setting the supervisor reads, in the order docs/configuration.md lists them. */
export const SUPERVISOR_SETTINGS: readonly SupervisorSetting[] = [
  { name: "PORT", fallback: 8787, min: 0, summary: "public port (0: any free one)" },
  {
    name: "DWL_STATE_DIR",
    fallback: ".wrangler/state",
    summary: "local KV/R2/Durable Object state and the loader's build",
  },
  // The tests start six servers of one checkout; building once saves each ~3.5 s of a start.
  {
    name: "DWL_LOADER_BUILD",
    fallback: "none: built at start",
    summary: "serve the build an earlier start left (its `<DWL_STATE_DIR>/dwl-build`) as it is, unchecked",
  },
  { name: "DWL_HEAP_MB", fallback: 256, min: 1, summary: "V8 heap per isolate, MB" },
  {
    name: "DWL_REGEXP_BACKTRACKS",
    fallback: 10_000,
    min: 0,
    summary:
      "backtracks before a regular expression falls back to V8's linear-time engine; 0: no fallback and no V8 flag for it (each new isolate starts ~2 ms sooner; a catastrophic pattern then holds the runtime until the watchdog)",
  },
  {
    name: "DWL_WATCHDOG_MS",
    fallback: 10_000,
    min: 1,
    summary: "runtime silent this long → restarted, the run gets `cpu_limit`",
  },
  // A heap bomb takes the runtime down within a second or two of starting; an innocent resend
  // that runs longer holds the others back this long at most, once (the runs in flight before it
  // end within the same time).
  {
    name: "DWL_SUSPECT_ALONE_MS",
    fallback: 3_000,
    min: 1,
    summary:
      "a run in flight at two crashes goes alone once more: other requests wait until it answers, at most this long",
  },
  { name: "DWL_MAX_RSS_MB", fallback: 2048, min: 1, summary: "runtime resident memory cap, MB" },
  // The runtime's memory only grows under load (each one-off Python child leaves ~3–7 MB behind
  // for good, docs/python.md): restarted when drained, not at the cap with every run in it cut
  // short. The room above it is for what the runs in flight may still add: 4 kept and 2 one-off
  // Python children started from none add ~900 MB (measured), and a runtime this full holds most
  // of its kept ones already.
  {
    name: "DWL_DRAIN_RSS_MB",
    fallback: "¾ of DWL_MAX_RSS_MB",
    min: 0,
    summary:
      "resident memory past which the runtime is restarted once the requests in it end (new ones wait), MB; 0: never",
  },
  // The default limits.timeoutMs (DWL_DEFAULT_TIMEOUT_MS): most runs in flight end within it.
  {
    name: "DWL_DRAIN_WAIT_MS",
    fallback: 10_000,
    min: 0,
    summary: "longest wait for the requests in a draining runtime to end; past it, it is restarted under them",
  },
  // Room for the largest upload the loader takes (PUT /files: 10 MiB) and its request line.
  {
    name: "DWL_MAX_BODY_BYTES",
    fallback: 16 * 1024 * 1024,
    min: 1,
    summary: "request body cap (413), counted while it streams",
  },
  // A stalled upload that holds a slot holds its key's runs: 16 of them locked a key for 19.5 s.
  // Read whole first, each waiting upload costs at most this much here (bounded in all by
  // DWL_QUEUE_BODY_BYTES once it waits).
  {
    name: "DWL_SMALL_UPLOAD_BYTES",
    fallback: 1024 * 1024,
    min: 0,
    summary:
      "a sandbox request declaring a body up to this size is read whole before it takes a slot; larger ones stream",
  },
  // 16 per key keeps a flood's runs few inside the runtime, which interleaves all it holds: a
  // quiet tenant's run waits behind every one of them.
  { name: "DWL_KEY_CONCURRENCY", fallback: 16, min: 1, summary: "program requests of one key inside the runtime" },
  // A computing run holds the runtime's one thread: a key's runs together may keep it from
  // other keys for about this long.
  {
    name: "DWL_KEY_CPU_MS",
    fallback: "DWL_MAX_CPU_MS",
    min: 1,
    summary: "CPU budgets (`limits.cpuMs`) of one key's runs inside the runtime together; a run asking more runs alone",
  },
  // What another key's run waits for behind a flood of computing runs: about this, plus one run.
  {
    name: "DWL_KEY_THREAD_MS",
    fallback: 50,
    min: 1,
    summary:
      "thread time one key's runs inside the runtime are expected to take together, from what its recent runs took; more runs alone",
  },
  { name: "DWL_RUNTIME_CONCURRENCY", fallback: 64, min: 1, summary: "program requests of all keys inside the runtime" },
  { name: "DWL_QUEUE_MAX", fallback: 10_000, min: 0, summary: "requests waiting, all keys" },
  {
    name: "DWL_QUEUE_BODY_BYTES",
    fallback: 256 * 1024 * 1024,
    min: 0,
    summary: "bytes of bodies held by waiting requests",
  },
  // The longest timeoutMs a run may ask for: a wait longer than that outlives any run.
  {
    name: "DWL_QUEUE_MAX_WAIT_MS",
    fallback: 30_000,
    min: 1,
    summary: "a longer expected wait is refused (429); a run's own shorter limits.timeoutMs, when known, is its bound",
  },
  { name: "DWL_ACCEPTED_KEYS_MAX", fallback: 10_000, min: 1, summary: "accepted keys remembered for admission" },
  // Each holds two sockets (file descriptors) and at most a stream buffer each way.
  {
    name: "DWL_MAX_WEBSOCKETS",
    fallback: 1_000,
    min: 0,
    summary: "WebSocket connections relayed at once (0: none), past it 503",
  },
  // A tenant's open connections must not use up everyone's.
  {
    name: "DWL_KEY_WEBSOCKETS",
    fallback: 100,
    min: 0,
    summary: "WebSocket connections of one key at once, past it 429",
  },
  // A sandbox's streamed answer holds two sockets here and ~42 KB in the runtime (measured:
  // 1,000 open took workerd from 293 to 335 MB) for as long as the program streams.
  {
    name: "DWL_MAX_STREAMS",
    fallback: 1_000,
    min: 0,
    summary: "sandbox HTTP answers relayed at once (0: none), past it 503",
  },
  {
    name: "DWL_KEY_STREAMS",
    fallback: 100,
    min: 0,
    summary: "sandbox HTTP answers of one key relayed at once, past it 429",
  },
  // workerd buffers without bound what a client does not read: the supervisor reads it and cuts
  // the client instead, so a slow reader costs at most this much here.
  {
    name: "DWL_WEBSOCKET_LAG_BYTES",
    fallback: 16 * 1024 * 1024,
    min: 1,
    summary: "bytes a WebSocket client may fall behind before it is disconnected",
  },
  {
    name: "DWL_WEBSOCKETS_LAG_BYTES",
    fallback: 256 * 1024 * 1024,
    min: 1,
    summary: "bytes all WebSocket clients together may fall behind; past it a lagging one is disconnected",
  },
  {
    name: "DWL_RECYCLE_IDLE_MS",
    fallback: 10_000,
    min: 0,
    summary: "idle time before an idle runtime is recycled (0: never)",
  },
  // A fresh runtime with a few dozen warm programs stays under it (measured: ~220 MB with 20
  // under wrangler dev); a burst of a few thousand executions leaves workerd far above.
  {
    name: "DWL_RECYCLE_RSS_MB",
    fallback: 320,
    min: 1,
    summary: "resident memory above which an idle runtime is recycled, MB",
  },
  {
    name: "DWL_INSPECTOR_PORT",
    fallback: 0,
    min: 0,
    summary: "Chrome DevTools inspector port for the loader (0: off)",
  },
];

const BY_NAME = new Map(SUPERVISOR_SETTINGS.map((setting) => [setting.name, setting]));

function whole(env: Env, name: string): number {
  return wholeIfSet(env, name) ?? ((BY_NAME.get(name) as SupervisorSetting).fallback as number);
}

/** A whole-number setting's value, or undefined when it is not set (its default is not a number). */
function wholeIfSet(env: Env, name: string): number | undefined {
  const { fallback, min = 1 } = BY_NAME.get(name) as SupervisorSetting;
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (Number.isSafeInteger(value) && value >= min) return value;
  throw new SettingError(`${name}=${JSON.stringify(raw)} is not a whole number ≥ ${min} (default ${fallback})`);
}

export function readSettings(env: Env = process.env): Settings {
  for (const [name, why] of Object.entries(RETIRED)) {
    if (env[name] !== undefined) throw new SettingError(`${name} is no longer used: ${why}`);
  }
  const settings: Settings = {
    port: whole(env, "PORT"),
    stateDir: env.DWL_STATE_DIR || ".wrangler/state",
    loaderBuild: env.DWL_LOADER_BUILD || undefined,
    heapLimitMb: whole(env, "DWL_HEAP_MB"),
    regexpBacktracks: whole(env, "DWL_REGEXP_BACKTRACKS"),
    watchdogMs: whole(env, "DWL_WATCHDOG_MS"),
    suspectAloneMs: whole(env, "DWL_SUSPECT_ALONE_MS"),
    maxResidentMb: whole(env, "DWL_MAX_RSS_MB"),
    drainResidentMb: wholeIfSet(env, "DWL_DRAIN_RSS_MB") ?? Math.floor((whole(env, "DWL_MAX_RSS_MB") * 3) / 4),
    drainWaitMs: whole(env, "DWL_DRAIN_WAIT_MS"),
    maxBodyBytes: whole(env, "DWL_MAX_BODY_BYTES"),
    smallUploadBytes: whole(env, "DWL_SMALL_UPLOAD_BYTES"),
    keyConcurrency: whole(env, "DWL_KEY_CONCURRENCY"),
    keyCpuMs: wholeIfSet(env, "DWL_KEY_CPU_MS"),
    keyThreadMs: whole(env, "DWL_KEY_THREAD_MS"),
    runtimeConcurrency: whole(env, "DWL_RUNTIME_CONCURRENCY"),
    queueMax: whole(env, "DWL_QUEUE_MAX"),
    queueBodyBytes: whole(env, "DWL_QUEUE_BODY_BYTES"),
    queueMaxWaitMs: whole(env, "DWL_QUEUE_MAX_WAIT_MS"),
    acceptedKeysMax: whole(env, "DWL_ACCEPTED_KEYS_MAX"),
    maxWebSockets: whole(env, "DWL_MAX_WEBSOCKETS"),
    keyWebSockets: whole(env, "DWL_KEY_WEBSOCKETS"),
    maxStreams: whole(env, "DWL_MAX_STREAMS"),
    keyStreams: whole(env, "DWL_KEY_STREAMS"),
    webSocketLagBytes: whole(env, "DWL_WEBSOCKET_LAG_BYTES"),
    webSocketsLagBytes: whole(env, "DWL_WEBSOCKETS_LAG_BYTES"),
    recycleIdleMs: whole(env, "DWL_RECYCLE_IDLE_MS"),
    recycleResidentMb: whole(env, "DWL_RECYCLE_RSS_MB"),
    inspectorPort: whole(env, "DWL_INSPECTOR_PORT"),
  };
  if (settings.drainResidentMb >= settings.maxResidentMb) {
    throw new SettingError(
      `DWL_DRAIN_RSS_MB (${settings.drainResidentMb}) is not below DWL_MAX_RSS_MB (${settings.maxResidentMb}): the runtime would meet the cap before it drains (0: never drain)`,
    );
  }
  if (settings.keyConcurrency > settings.runtimeConcurrency) {
    throw new SettingError(
      `DWL_KEY_CONCURRENCY (${settings.keyConcurrency}) is above DWL_RUNTIME_CONCURRENCY (${settings.runtimeConcurrency})`,
    );
  }
  return settings;
}

/**
 * V8 flags for workerd (facts.md, measured): catastrophic regular expressions fall back to a
 * linear-time engine instead of freezing the runtime; a smaller heap makes a memory bomb abort
 * in ~1 s instead of ~6 s. Any regexp flag costs every new isolate ~2 ms: workerd's built-in
 * code cache is made for V8's default flags (docs/local-serving.md), so 0 backtracks sets none.
 */
export function v8FlagsOf({
  heapLimitMb,
  regexpBacktracks,
}: Pick<Settings, "heapLimitMb" | "regexpBacktracks">): string[] {
  return [
    ...(regexpBacktracks > 0
      ? [
          "--enable-experimental-regexp-engine-on-excessive-backtracks",
          `--regexp-backtracks-before-fallback=${regexpBacktracks}`,
        ]
      : []),
    `--max-old-space-size=${heapLimitMb}`,
  ];
}
