/**
 * @module settings
 * Every `DWL_*` setting of the loader (Worker vars and secrets), the only place they are parsed
 * and validated. A value that does not parse is a {@link SettingError} naming the setting: a typo
 * must never mean "no limit" or "the default". docs/configuration.md is this table in prose
 * (settings.test.ts keeps the two equal).
 *
 * Plain TypeScript without Workers types: the local supervisor (apps/supervisor) imports it to
 * refuse a bad value before it starts the loader.
 */

/** Where a setting takes effect: both, only in local mode (`npm run dev`), only deployed, or tests. */
export type SettingScope = "both" | "local" | "deployed" | "tests";

interface SettingBase {
  name: string;
  scope: SettingScope;
  /** The default as the docs state it. */
  defaultText: string;
  /** What it does, one line. */
  summary: string;
  /** Set by the local supervisor itself; `npm run dev` does not take it from the environment. */
  setBySupervisor?: boolean;
}

export type SettingSpec =
  | (SettingBase & { kind: "integer"; min: number })
  | (SettingBase & { kind: "choice"; values: readonly string[] })
  | (SettingBase & { kind: "url" | "origin" | "loopback-url" | "api-keys" | "secret" });

const MIB = 1024 * 1024;
const int = (
  name: string,
  defaultText: string,
  min: number,
  summary: string,
  scope: SettingScope = "both",
): SettingSpec => ({ name, kind: "integer", min, defaultText, summary, scope });

/** Every setting the loader reads, in the order docs/configuration.md lists them. */
export const SETTINGS: readonly SettingSpec[] = [
  {
    name: "DWL_MODE",
    kind: "choice",
    values: ["local", "production"],
    scope: "both",
    defaultText: "production",
    summary: "`local` accepts the dev key `dwl_local_dev` and a dev encryption key; `npm run dev` and the tests set it",
    setBySupervisor: true,
  },
  {
    name: "DWL_API_KEYS",
    kind: "api-keys",
    scope: "deployed",
    defaultText: "(none)",
    summary:
      'secret: JSON object `{ "<sha256 hex of key>": "<tenant>" }`; a deployed loader refuses to serve without it',
  },
  {
    name: "DWL_ENCRYPTION_KEY",
    kind: "secret",
    scope: "deployed",
    defaultText: "(none; dev key locally)",
    summary: "secret: seals stored credentials and signs run tokens (at least 32 random characters)",
  },
  int("DWL_DEFAULT_CPU_MS", "50", 1, "CPU budget of a run that asks for none (`limits.cpuMs`)"),
  int(
    "DWL_MAX_CPU_MS",
    "30000",
    1,
    "largest `limits.cpuMs`; a larger request is capped (under npm run dev also to what the watchdog allows: 4,000 by default)",
  ),
  int("DWL_DEFAULT_SUBREQUESTS", "50", 0, "outbound requests of a run that asks for no `limits.subRequests`"),
  int("DWL_MAX_SUBREQUESTS", "50", 0, "largest `limits.subRequests`; a larger request is capped"),
  int("DWL_DEFAULT_TIMEOUT_MS", "10000", 1, "wall-clock budget of a run that asks for none (`limits.timeoutMs`)"),
  int("DWL_MAX_TIMEOUT_MS", "30000", 1, "largest `limits.timeoutMs`; a larger request is capped"),
  int("DWL_MAX_CODE_BYTES", String(MIB), 1, "UTF-8 bytes of `code` or of all `files` with their paths (413 above)"),
  int("DWL_MAX_INPUT_BYTES", String(MIB), 1, "bytes of `input` as JSON (413 above)"),
  int(
    "DWL_MAX_RESULT_BYTES",
    String(MIB),
    1,
    "bytes of the encoded result or response body (`output_too_large` above)",
  ),
  int("DWL_MAX_LOG_LINES", "1000", 1, "log lines kept per run (truncation is marked)"),
  int("DWL_MAX_LOG_BYTES", String(64 * 1024), 1, "bytes of log messages kept per run"),
  int("DWL_MAX_KV_VALUE_BYTES", String(MIB), 1, "bytes of one `env.KV` value"),
  int("DWL_MAX_FILE_BYTES", String(10 * MIB), 1, "bytes of one `env.FILES` object and of a `PUT /files` upload"),
  int("DWL_RATE_PER_MINUTE", "1200", 1, "executions one tenant may start per minute (bursts up to the same number)"),
  int("DWL_MAX_CONCURRENT", "50", 1, "executions one tenant may have running at once"),
  int("DWL_ADMISSION_QUEUE", "1000", 0, "executions of one tenant waiting for a turn; 0 refuses at once (429)"),
  int(
    "DWL_ADMISSION_MAX_WAIT_MS",
    "`DWL_MAX_TIMEOUT_MS`",
    0,
    "longest wait for a turn (a run's own shorter limits.timeoutMs, when known, is its bound); a longer expected wait is refused (429)",
  ),
  {
    name: "DWL_ADMISSION",
    kind: "choice",
    values: ["isolate", "durable-object"],
    scope: "both",
    defaultText: "isolate local, durable-object deployed",
    summary: "where per-tenant admission is kept: this loader isolate's memory, or one Durable Object per tenant",
  },
  int("DWL_MAX_SANDBOXES", "100", 0, "sandboxes one tenant may have"),
  int(
    "DWL_MAX_SANDBOX_STORAGE_BYTES",
    String(64 * MIB),
    0,
    "bytes of stored sandbox bundles per tenant, shared bundles counted once",
  ),
  int("DWL_SANDBOX_WRITES_PER_MINUTE", "60", 0, "sandbox creates and updates one tenant may attempt per minute"),
  {
    name: "DWL_CPU_ENFORCEMENT",
    kind: "choice",
    values: ["instrument", "platform", "both"],
    scope: "both",
    defaultText: "instrument",
    summary: "how `cpuMs` is enforced: fuel-metered code, the platform's own limit, or both (docs/metering.md)",
  },
  int(
    "DWL_CPU_CLOCK_PERCENT",
    "200",
    100,
    "how much of `cpuMs` a run's work may take by the clock before `cpu_limit`, in per cent (the clock also counts waiting for a core; docs/metering.md)",
    "local",
  ),
  int(
    "DWL_CPU_CLOCK_STALL_MS",
    "100",
    0,
    "the least a run's clock budget exceeds its `cpuMs` by, in ms: a stall of the runtime's thread (a GC, the OS giving the core away) lands whole on one run (docs/metering.md)",
    "local",
  ),
  int(
    "DWL_LOG_FLUSH_MS",
    "100 local, 0 deployed",
    0,
    "execution log lines are written in batches this often; 0 writes each at once",
  ),
  int(
    "DWL_MAX_WARM_ISOLATES",
    "256 local, 0 deployed",
    0,
    "distinct programs kept warm per loader isolate, each from its second run (a first run gets a one-off isolate while there is a bound); 0 = no bound, every run `LOADER.get`",
  ),
  int(
    "DWL_PYTHON_HEAP_BYTES",
    String(128 * MIB),
    48 * MIB,
    "bytes of a Python child's heap (the wasm memory its runs share); a run that exhausts it ends as `memory_limit`",
  ),
  int(
    "DWL_PYTHON_CONCURRENT_BOOTS",
    "1",
    1,
    "Python children started at once per loader isolate (each start holds the local runtime ~1 s)",
  ),
  int(
    "DWL_PYTHON_MAX_CHILDREN",
    "4 local, 0 deployed",
    0,
    "Python children (one per tenant scope, ~130 MB each locally) kept started per loader isolate, replaced ones included, one tenant at most half; past it a run gets a one-off child; 0 = no bound",
  ),
  int(
    "DWL_PYTHON_MAX_ONE_OFF",
    "2 local, 0 deployed",
    0,
    "one-off Python children alive at once per loader isolate, one tenant at most half; more runs wait their turn, a run that waits its whole timeoutMs gets 429; 0 = no bound",
  ),
  {
    name: "DWL_NPM_REGISTRY",
    kind: "url",
    scope: "both",
    defaultText: "https://registry.npmjs.org",
    summary: "npm-compatible registry `dependencies` are resolved and downloaded from",
  },
  {
    name: "DWL_PUBLIC_ORIGIN",
    kind: "origin",
    scope: "both",
    defaultText: "the request's origin",
    summary: "origin clients reach the loader on, for sandbox `url`s; `npm run dev` sets it",
    setBySupervisor: true,
  },
  {
    name: "DWL_SUPERVISOR_URL",
    kind: "loopback-url",
    scope: "local",
    defaultText: "(unset)",
    summary: "the local supervisor's loopback URL for effect notices; set only by `npm run dev`",
    setBySupervisor: true,
  },
  {
    name: "DWL_EGRESS_ALLOW_LOOPBACK",
    kind: "choice",
    values: ["true", "false"],
    scope: "tests",
    defaultText: "false",
    summary: "`true` lets egress reach loopback hosts (tests and local upstream stand-ins only)",
  },
  {
    name: "DWL_TEST_UPSTREAM",
    kind: "url",
    scope: "tests",
    defaultText: "(unset)",
    summary: "the loopback echo upstream of the test suite",
  },
];

const BY_NAME = new Map(SETTINGS.map((spec) => [spec.name, spec]));

/** A setting whose value does not parse; the message names it, its value and what it takes. */
export class SettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SettingError";
  }
}

/**
 * The loader settings `npm run dev` takes from its environment (`DWL_MAX_SANDBOXES=5 npm run
 * dev`): every one but those the supervisor sets itself and the tests' own.
 */
export function settingsFromEnvironment(
  environment: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const s of SETTINGS) {
    const value = environment[s.name];
    if (value !== undefined && value !== "" && !s.setBySupervisor && s.scope !== "tests") vars[s.name] = value;
  }
  return vars;
}

/**
 * The tests' own settings set in `npm run dev`'s environment, which it does not take from there
 * (a shell that happens to export one must not open loopback egress): named in a warning, with
 * the `--var` that sets them, rather than ignored in silence.
 */
export function testSettingsInEnvironment(
  environment: Readonly<Record<string, string | undefined>>,
): { name: string; value: string }[] {
  return SETTINGS.filter((s) => s.scope === "tests" && environment[s.name]).map((s) => ({
    name: s.name,
    value: environment[s.name] as string,
  }));
}

/** Worker vars as the runtime gives them: strings, or numbers and booleans from `[vars]` TOML. */
export type SettingVars = object;

/** The raw text of a setting, or undefined when it is unset or empty. */
export function rawSetting(vars: SettingVars, name: string): string | undefined {
  const value = (vars as Record<string, unknown>)[name];
  if (value === undefined || value === null || value === "") return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

function spec(name: string): SettingSpec {
  const found = BY_NAME.get(name);
  if (!found) throw new Error(`${name} is not a loader setting (settings.ts SETTINGS)`);
  return found;
}

const shown = (raw: string) => JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);

/** A whole-number setting within its range, or `fallback` when unset. */
export function integerSetting(vars: SettingVars, name: string, fallback: number): number {
  const raw = rawSetting(vars, name);
  if (raw === undefined) return fallback;
  const s = spec(name);
  const min = s.kind === "integer" ? s.min : 0;
  const value = Number(raw);
  if (/^\d+$/.test(raw.trim()) && Number.isSafeInteger(value) && value >= min) return value;
  throw new SettingError(`${name}=${shown(raw)} is not a whole number ≥ ${min} (default ${s.defaultText})`);
}

/** A setting that takes one of a few words, or `fallback` when unset. */
export function choiceSetting<T extends string>(vars: SettingVars, name: string, fallback: T): T {
  const raw = rawSetting(vars, name);
  if (raw === undefined) return fallback;
  const s = spec(name);
  const values = s.kind === "choice" ? s.values : [];
  if (values.includes(raw)) return raw as T;
  throw new SettingError(`${name}=${shown(raw)} is not one of ${values.join(", ")} (default ${s.defaultText})`);
}

/** An http(s) origin without path, query or fragment, or undefined. */
function bareOrigin(raw: string): string | undefined {
  const url = URL.parse(raw);
  const bare =
    url !== null &&
    url.pathname === "/" &&
    !url.search &&
    !url.hash &&
    !url.username &&
    !url.password &&
    !raw.endsWith("?") &&
    !raw.endsWith("#");
  return bare && (url.protocol === "http:" || url.protocol === "https:") ? url.origin : undefined;
}

/** What is wrong with a text setting's value, or undefined when it is fine. */
function textProblem(s: SettingSpec, raw: string): string | undefined {
  const got = `; got ${shown(raw)}`;
  switch (s.kind) {
    case "url": {
      const url = URL.parse(raw);
      return url && (url.protocol === "http:" || url.protocol === "https:")
        ? undefined
        : `${s.name} must be an http(s) URL${got}`;
    }
    case "origin":
      return bareOrigin(raw) !== undefined
        ? undefined
        : `${s.name} must be an http(s) origin without a path, like "http://127.0.0.1:8787"${got}`;
    case "loopback-url": {
      const url = URL.parse(raw);
      const loopback = url !== null && (url.hostname === "127.0.0.1" || url.hostname === "localhost");
      const ok = loopback && url.protocol === "http:" && !url.username && !url.password && !url.search && !url.hash;
      return ok ? undefined : `${s.name} must be an http://127.0.0.1:<port> or http://localhost:<port> URL${got}`;
    }
    case "api-keys": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      const ok =
        typeof parsed === "object" &&
        parsed !== null &&
        !Array.isArray(parsed) &&
        Object.values(parsed).every((tenant) => typeof tenant === "string");
      // A secret: its value is never echoed.
      return ok ? undefined : `${s.name} is not valid JSON: expected { "<sha256 hex of key>": "<tenant>" }`;
    }
    default:
      return undefined;
  }
}

/** `DWL_MODE = "local"`: the dev key and the dev encryption key are accepted. */
export function isLocalMode(vars: SettingVars): boolean {
  return rawSetting(vars, "DWL_MODE") === "local";
}

/** `DWL_EGRESS_ALLOW_LOOPBACK = "true"` (tests and local upstream stand-ins only). */
export function egressAllowsLoopback(vars: SettingVars): boolean {
  return rawSetting(vars, "DWL_EGRESS_ALLOW_LOOPBACK") === "true";
}

/** DWL_PUBLIC_ORIGIN as an origin, or undefined when unset (public-origin.ts). */
export function publicOriginSetting(vars: SettingVars): string | undefined {
  const raw = rawSetting(vars, "DWL_PUBLIC_ORIGIN");
  if (raw === undefined) return undefined;
  const origin = bareOrigin(raw);
  if (origin === undefined) throw new SettingError(textProblem(spec("DWL_PUBLIC_ORIGIN"), raw) as string);
  return origin;
}

/**
 * Checks every setting present in `vars` and throws a SettingError naming the first bad one.
 * Secrets are never echoed in the message.
 */
export function checkSettings(vars: SettingVars): void {
  for (const s of SETTINGS) {
    const raw = rawSetting(vars, s.name);
    if (raw === undefined) continue;
    if (s.kind === "integer") integerSetting(vars, s.name, 0);
    else if (s.kind === "choice") choiceSetting(vars, s.name, "");
    else {
      const problem = textProblem(s, raw);
      if (problem) throw new SettingError(problem);
    }
  }
}
