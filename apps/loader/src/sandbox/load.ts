/**
 * @module load
 * The only caller of the Worker Loader binding. Isolates are content-addressed: the id hashes
 * the bundle together with everything baked into the child (its `env`, `globalOutbound` and
 * their props, compatibility settings), so a warm isolate is reused only by runs that would have
 * built exactly the same one, and never carries one tenant's scope into another's run.
 */
import { exports } from "cloudflare:workers";
import type { Bundle } from "../bundle/bundle.ts";
import { USER_MODULE } from "../bundle/bundle.ts";
import { hex, randomHex, sha256Bytes, sha256Hex } from "../hash.ts";
import {
  CHILD_COMPATIBILITY_DATE,
  CHILD_COMPATIBILITY_FLAGS,
  PYTHON_BOOT_CPU_MS,
  RAN_ONCE_REMEMBERED,
  type ServerLimits,
} from "../limits.ts";
import { PYTHON_CHILD_COMPATIBILITY_FLAGS } from "../python/boot.ts";
import { tenantShare } from "../python/places.ts";
import { toolDefinition } from "../tools/registry.ts";
import { CALLER_KEY_PLACEHOLDER } from "./child-protocol.ts";
// The harness (sandbox/harness/) bundled into one minified text module by
// apps/loader/build-harness.mjs, which rebuilds it when any of its inputs changes.
import HARNESS_SOURCE from "./harness.min.child.js";

export const HARNESS_MODULE = "harness.js";
if (!HARNESS_SOURCE.includes(`"${CALLER_KEY_PLACEHOLDER}"`))
  throw new Error("the bundled harness (harness.min.child.js) lost its caller-key placeholder");

/** Everything a child isolate is created with besides its code. Part of the isolate id. */
export interface ChildScope {
  tenant: string;
  /** Storage namespace `env.KV` / `env.FILES` are confined to. */
  namespace: string;
  /** Canonical `egress.allow` rules and credential names, sorted: the gateway's props. */
  egress: { allow: string[]; credentials: string[] };
  /** Operator tools handed to the program (tools/registry.ts names), sorted. */
  tools: string[];
}

export async function isolateIdFor(bundleKey: string, scope: ChildScope): Promise<string> {
  const material = JSON.stringify([
    bundleKey,
    scope.tenant,
    scope.namespace,
    scope.egress,
    scope.tools,
    CHILD_COMPATIBILITY_DATE,
    CHILD_COMPATIBILITY_FLAGS,
  ]);
  return `dwl-${await sha256Hex(material)}`;
}

/** Capabilities baked into the child's `env`: loopback stubs whose props fix the scope. */
function childEnv(scope: ChildScope): Record<string, unknown> {
  const props = { tenant: scope.tenant, namespace: scope.namespace };
  const env: Record<string, unknown> = { KV: exports.ScopedKv({ props }), FILES: exports.ScopedFiles({ props }) };
  for (const name of scope.tools) {
    const tool = toolDefinition(name);
    if (tool) env[tool.binding] = exports[tool.entrypoint]({ props: { ...props, egress: scope.egress } });
  }
  return env;
}

/**
 * A random secret of this loader isolate, for caller keys when no server secret is configured.
 * Made on first use: workerd forbids generating random values in global scope.
 */
let localSalt: string | undefined;
function localSaltOnce(): string {
  localSalt ??= randomHex(32);
  return localSalt;
}

/**
 * The key that lets the loader (and only the loader) start runs in a child: baked into the
 * harness text, sent with every call. Derived from a server secret and the isolate id, so every
 * loader instance builds identical code for one id, as Worker Loader caching requires.
 */
export async function callerKeyFor(
  env: Pick<Env, "DWL_API_KEYS" | "DWL_ENCRYPTION_KEY" | "DWL_MODE">,
  isolateId: string,
): Promise<string> {
  const secret =
    env.DWL_MODE !== "local" && (env.DWL_API_KEYS || env.DWL_ENCRYPTION_KEY)
      ? `${env.DWL_API_KEYS ?? ""}|${env.DWL_ENCRYPTION_KEY ?? ""}`
      : localSaltOnce();
  // Not through sha256Hex's memo: the text holds the server's secrets, and it is hashed once per isolate.
  return hex(await sha256Bytes(`dwl/caller-key/v1|${secret}|${isolateId}`));
}

/**
 * Isolate ids this loader isolate has started with `LOADER.get`, when they are bounded
 * (`server.maxWarmIsolates`). workerd under `wrangler dev` never evicts them: each holds ~2.8 MB
 * and V8 gives out after about 1,050 (bench/run.mjs, scale). The set only grows, like the
 * runtime's own cache it mirrors.
 */
const warmIsolateIds = new Set<string>();

/**
 * Python children started by this loader isolate, bounded separately (`server.pythonMaxChildren`):
 * each holds ~130 MB locally (bench: python), against ~3 MB for a JS program. Pinned or not: a
 * Python sandbox shares its tenant scope's child. A child replaced after a fatal failure
 * (python/generations.ts) stays counted: workerd keeps it, and its memory, for the runtime's life.
 * By isolate id, the scope it was started for: one tenant holds at most its share (python/places.ts).
 */
const warmPythonIds = new Map<string, ChildScope>();

/** Programs that have run once (in a one-off isolate), at most `capacity`, the oldest forgotten first. */
export class FirstRuns {
  readonly #ids = new Set<string>();
  constructor(private readonly capacity: number) {}

  /**
   * Whether this is the program's first run (now remembered), or its second (forgotten here: it
   * goes warm). A forgotten program's next run counts as a first one again.
   */
  isFirst(isolateId: string): boolean {
    if (this.#ids.delete(isolateId)) return false;
    this.#ids.add(isolateId);
    if (this.#ids.size > this.capacity) this.#ids.delete(this.#ids.values().next().value as string);
    return true;
  }
}

const firstRuns = new FirstRuns(RAN_ONCE_REMEMBERED);

export interface OpenedChild {
  /**
   * The child's stub, made by the first call. For a one-off isolate that call is `LOADER.load`,
   * which starts creating the isolate at once (a Python child's is ~90 MB before it boots,
   * measured under npm run dev): a run that must wait for a one-off place (python/places.ts)
   * makes it only once it holds one, or every waiting run holds a child the bound never counts.
   */
  open: () => WorkerStub;
  /** A one-off isolate (`LOADER.load`), dropped after the run: nothing of it is warm. */
  oneOff: boolean;
  /**
   * Whether the isolate was started for this run (asked once its call was made): its start,
   * the isolate's creation and its modules' evaluation, was then this run's work.
   */
  startedForRun: () => boolean;
}

/**
 * The child for one run: `LOADER.get` (reused while warm) for a pinned program (a stored
 * sandbox), a warm program, or a program's second run while fewer than `server.maxWarmIsolates`
 * ids are warm (`server.pythonMaxChildren` for Python); a program's first run, and every new one
 * past that bound, gets `LOADER.load`, an isolate dropped after the run. Why the first run is
 * one-off: most programs (an agent's, a model's) run once; under `wrangler dev` a new isolate by
 * `load` answers 2–5 ms sooner than one by `get` (docs/performance.md); and a program run once
 * takes none of the warm places from programs that repeat. A Python child is warm from its first
 * run: its boot is what warmth saves.
 */
export function openChild(
  loader: WorkerLoader,
  isolateId: string,
  bundle: Bundle,
  scope: ChildScope,
  server: ServerLimits,
  callerKey: string,
  pinned = false,
  runtimeModules: Record<string, WorkerLoaderModule> = {},
): OpenedChild {
  // A Python child boots Pyodide (~1.6 s of CPU) in a call of its own (python/boot.ts), which
  // the isolate-wide CPU bound must allow.
  const maxCpuMs = bundle.python ? Math.max(server.maxCpuMs, PYTHON_BOOT_CPU_MS) : server.maxCpuMs;
  const platformLimits =
    server.cpuEnforcement === "instrument" ? undefined : { cpuMs: maxCpuMs, subRequests: server.maxSubRequests };
  const code = (): WorkerLoaderWorkerCode => ({
    compatibilityDate: CHILD_COMPATIBILITY_DATE,
    // Pyodide takes a child with Node's `process` for Node.js and reaches for node:fs and ws;
    // a Python child gets only what the harness needs (AsyncLocalStorage).
    compatibilityFlags: bundle.python ? PYTHON_CHILD_COMPATIBILITY_FLAGS : CHILD_COMPATIBILITY_FLAGS,
    mainModule: HARNESS_MODULE,
    modules: {
      ...runtimeModules,
      [HARNESS_MODULE]: HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, callerKey),
      [USER_MODULE]: bundle.code,
      ...Object.fromEntries(Object.entries(bundle.modules ?? {}).map(([name, { code }]) => [name, { js: code }])),
    },
    env: childEnv(scope),
    // Every outbound request goes through the gateway, which denies by default.
    globalOutbound: exports.EgressGateway({ props: { tenant: scope.tenant, ...scope.egress } }),
    ...(platformLimits ? { limits: platformLimits } : {}),
  });
  const bound = bundle.python ? server.pythonMaxChildren : pinned ? 0 : server.maxWarmIsolates;
  if (bound > 0 && !(bundle.python ? warmPythonIds : warmIsolateIds).has(isolateId)) {
    const full = bundle.python
      ? !pythonPlaceFree(scope.tenant, bound)
      : warmIsolateIds.size >= bound || firstRuns.isFirst(isolateId);
    if (full) return { open: once(() => loader.load(code())), oneOff: true, startedForRun: () => true };
    if (bundle.python) warmPythonIds.set(isolateId, scope);
    else warmIsolateIds.add(isolateId);
  }
  // The Worker Loader asks for the code only when it has no isolate of that id.
  let started = false;
  const open = once(() =>
    loader.get(isolateId, () => {
      started = true;
      return code();
    }),
  );
  return { open, oneOff: false, startedForRun: () => started };
}

/** `make`, called at most once: every call answers the first one's stub. */
function once(make: () => WorkerStub): () => WorkerStub {
  let stub: WorkerStub | undefined;
  return () => (stub ??= make());
}

/** Whether `tenant` may make one more Python child warm: a place is free, within its share. */
function pythonPlaceFree(tenant: string, bound: number): boolean {
  return warmPythonIds.size < bound && heldBy(warmPythonIds, tenant) < tenantShare(bound);
}

/**
 * The scope whose Python child may compile a program of scope `own` without running it (a
 * sandbox write's check: python/runner.py `check` runs nothing of the program, so any child of
 * the same tenant will do): `own` when its child is warm, else the scope of another warm child
 * of the tenant, else `own` when the tenant holds none and a place is free (its first Python
 * child, as its first run would start); undefined when asking would take another place.
 * `idOf`: a scope's child id.
 */
export async function pythonCheckScope(
  own: ChildScope,
  idOf: (scope: ChildScope) => Promise<string>,
  server: ServerLimits,
): Promise<ChildScope | undefined> {
  const bound = server.pythonMaxChildren;
  if (bound <= 0) return own;
  const held = [...warmPythonIds.values()].filter((scope) => scope.tenant === own.tenant);
  for (const scope of [own, ...held]) if (warmPythonIds.has(await idOf(scope))) return scope;
  return held.length === 0 && pythonPlaceFree(own.tenant, bound) ? own : undefined;
}

function heldBy(places: Map<string, ChildScope>, tenant: string): number {
  let held = 0;
  for (const holder of places.values()) if (holder.tenant === tenant) held += 1;
  return held;
}

/** How many program isolates this loader isolate holds warm (bounded ones only). */
export function warmIsolateCount(): number {
  return warmIsolateIds.size;
}
