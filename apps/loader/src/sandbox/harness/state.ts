/**
 * @module state
 * The per-run state every hook (console, fetch, refuel) finds through the AsyncLocalStorage
 * (currentRun). One isolate may serve several runs at once (a warm, content-addressed
 * isolate): everything per run lives there, never in module state.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { EgressRecord } from "@dwl/protocol";
import type { EffectiveLimits } from "../../limits.ts";
import { type ChildCall, MAX_CANCELLED_EARLY } from "../child-protocol.ts";
import { LimitError } from "./errors.ts";
import { setAdd, setClear, setDelete } from "./intrinsics.ts";
import { LogBuffer } from "./logs.ts";

/** How a run ended before the program returned: a limit failed it, or its deadline passed. */
export type RunEnd = { kind: "failed" } | { kind: "timeout" };

export interface RunState {
  /** `ChildCall.runId`: what the loader names it by to stop it (cancelRun). */
  runId: string;
  limits: EffectiveLimits;
  logs: LogBuffer;
  egress: EgressRecord[];
  subRequests: number;
  runToken: string | null;
  /** Fuel budget (checks), or null when the code is not metered (see fuel.ts). */
  fuel: number | null;
  fuelUsed: number;
  /** The batch of checks handed out last (fuel.ts nextBatch), and the clock when it was. */
  fuelBatch: number;
  clockAtRefuel: number;
  /** The clock's budget (ms): cpuMs and the loader's allowance for a busy machine. */
  clockBudgetMs: number;
  /** Its metered work prints HEARTBEAT_LINE (child-globals.ts): the loader is supervised. */
  heartbeat: boolean;
  /** CPU time of the clock's closed slices, and the start of the open one (see clock.ts). */
  clockMs: number;
  /**
   * How long the program's module took to evaluate, when this run imported it first (program.ts
   * programModule): top-level work, which only fuel bounds, told to the loader beside the clock.
   */
  moduleMs: number;
  sliceStart: number | undefined;
  /** Waits the harness mediates close the clock's slice (not for Python, which meters itself). */
  clockAtWaits: boolean;
  pendingWaits: number;
  backstopPending: boolean;
  closeQueued: boolean;
  /** When the run's timeoutMs is up, by the harness's clock (`now`); Infinity once it is answered. */
  deadline: number;
  /** Set once the run is out of CPU or time: every later fuel check throws it again. */
  cpuError: LimitError | undefined;
  /** The first limit the run hit; it ends the run whatever the program does afterwards. */
  failure: Error | undefined;
  /** Ends the run now (set while the run is being settled). */
  ended: ((end: RunEnd) => void) | undefined;
  /** The first name the program read from `env` that is not there, and the names that are (result.ts hint). */
  missingBinding: { name: string; present: string[] } | undefined;
  /** Calls to env and ctx.waitUntil work still running (background.ts), and who waits for none. */
  /** `failed`: calls to env that rejected (background.ts trackCall). */
  background: { calls: number; waitUntil: number; failed: number; settled: (() => void) | undefined };
}

const runs = new AsyncLocalStorage<RunState>();
// Bound now: a program may replace AsyncLocalStorage.prototype.getStore (a native no-op would
// otherwise switch off metering, subrequest counting and log capture for its runs).
export const currentRun: () => RunState | undefined = AsyncLocalStorage.prototype.getStore.bind(runs);
/** `runs.run(store, fn, ...args)`: node:async_hooks passes the extra arguments to `fn`. */
export const runWith = AsyncLocalStorage.prototype.run.bind(runs) as <R, A extends unknown[]>(
  run: RunState | undefined,
  fn: (...args: A) => R,
  ...args: A
) => R;

/** The run that started last in this isolate: it pays for orphan code (see orphanRun). */
export let lastRun: RunState | undefined;
let noRunError: LimitError | undefined;

/** The runs of this isolate not answered yet, by `ChildCall.runId` (for cancelRun). */
const unanswered = new Map<string, RunState>();
/**
 * Runs stopped before they began (the loader's cancel and its run are two calls, which need not
 * arrive in order), oldest first; a run that begins under one of these ids is stopped at once.
 */
const cancelledEarly = new Set<string>();
/** Ids added to cancelledEarly since it was last cleared (a bound on its size; its own methods are the program's to replace). */
let cancelledEarlyAdded = 0;

function clientGone(): LimitError {
  return new LimitError("runtime", "ClientGoneError", "the client went away before the answer; the run was stopped");
}

export function newRun(call: ChildCall, started: number): RunState {
  lastRun = {
    runId: call.runId,
    limits: call.limits,
    logs: new LogBuffer(call.maxLogLines, call.maxLogBytes, started),
    egress: [],
    subRequests: 0,
    runToken: call.runToken,
    fuel: call.fuel,
    fuelUsed: 0,
    fuelBatch: 1,
    clockAtRefuel: 0,
    clockBudgetMs: call.clockBudgetMs,
    heartbeat: call.heartbeat === true,
    clockMs: 0,
    moduleMs: 0,
    sliceStart: undefined,
    // Python too (its meter calls refuel from python/runner.py): with slices left open across its
    // awaits, a Python run was charged what other tenants computed meanwhile (1 of 20 runs of
    // five 10 ms sleeps ended cpu_limit, "355 ms by the clock", beside a computing JS run).
    clockAtWaits: true,
    pendingWaits: 0,
    backstopPending: false,
    closeQueued: false,
    deadline: started + call.limits.timeoutMs,
    cpuError: undefined,
    failure: undefined,
    ended: undefined,
    missingBinding: undefined,
    background: { calls: 0, waitUntil: 0, failed: 0, settled: undefined },
  };
  unanswered.set(call.runId, lastRun);
  if (setDelete(cancelledEarly, call.runId)) lastRun.cpuError = lastRun.failure = clientGone();
  return lastRun;
}

/**
 * Stops run `runId` (its client went away): it ends now, its next fuel check throws, and so does
 * its next call to env or fetch, so what it would still do never happens.
 */
export function cancelRun(runId: string): void {
  const run = unanswered.get(runId);
  if (!run) {
    // Kept only until its run begins, microseconds later: the set is bounded by forgetting them all.
    if (++cancelledEarlyAdded > MAX_CANCELLED_EARLY) {
      setClear(cancelledEarly);
      cancelledEarlyAdded = 1;
    }
    setAdd(cancelledEarly, runId);
    return;
  }
  const err = clientGone();
  run.cpuError ??= err;
  failRun(run, err);
}

/**
 * The run has been answered. Its deadline no longer applies: what it left running (a streamed
 * body, a timer, a WebSocket listener) is bounded by what is left of its budget, not by its
 * timeoutMs, which is about the answer.
 */
export function settled(run: RunState): void {
  run.deadline = Infinity;
  unanswered.delete(run.runId);
}

/** Records the first limit a run hit and ends it now, even if the program swallows the error. */
export function failRun(run: RunState, err: Error): void {
  run.failure ??= err;
  run.ended?.({ kind: "failed" });
}

/**
 * The run that pays for metered code running outside any run's async context ("orphan" code):
 * callbacks the runtime calls from nowhere, such as a FinalizationRegistry cleanup, a WebSocket
 * or WebSocketPair `message` listener, or whatever such code schedules in turn. Handing those a
 * free batch ran them unmetered, and locally a loop there held the whole runtime (every tenant).
 * They are charged to the run that started last in this isolate: still in flight, it ends with
 * cpu_limit; already settled, its unused budget is all the orphan code gets (the same rule as a
 * timer it left behind), and once that is spent every later check throws again at once. Before
 * any run there is no budget at all (program code only loads inside a run, so none should run).
 */
export function orphanRun(): RunState {
  if (lastRun !== undefined) return lastRun;
  noRunError ??= new LimitError("cpu_limit", "CpuLimitError", "CPU limit reached: program code ran outside any run");
  throw noRunError;
}
