/**
 * @module fuel
 * The CPU meter: the refuel function metered code calls (bundle/rewrite.ts inserts the checks),
 * and the clock's last word when a run returns.
 */
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_LINE, REFUEL_GLOBAL } from "../child-globals.ts";
import { clockCpuMs, closeSlice } from "./clock.ts";
import { LimitError, timeoutMessage } from "./errors.ts";
import { mathFloor, mathMax, mathMin, mathRound, now, runtimeLog, SafeWeakMap } from "./intrinsics.ts";
import { currentRun, failRun, orphanRun, type RunState } from "./state.ts";

/**
 * Metered code (bundle/rewrite.ts) counts down a module's counter and calls this when it runs
 * out; each call hands out the next batch (see nextBatch). Two budgets, whichever runs out first:
 * - fuel: checks executed, converted from cpuMs by FUEL_PER_CPU_MS (deterministic; works where
 *   the clock is frozen during execution, as on Cloudflare);
 * - the clock, where it advances during execution (local workerd): the time of each continuous
 *   slice of work (clock.ts openSlice), against the run's clock budget (DWL_CPU_CLOCK_PERCENT of
 *   cpuMs). A slice starts at the first check after the program waited, or when a wait the
 *   harness mediates ends, and ends when the program starts such a wait or a macrotask gets to
 *   run, so microtask storms, costly operations per check (a stack overflow caught and retried)
 *   and native calls are charged at their real cost, and I/O waits are not.
 * Past the run's deadline (timeoutMs) a check ends it as a timeout: a program that computes
 * without ever waiting gives the deadline's timer no chance to fire.
 * Once one is spent every later check of that run throws again at once, so catching the
 * error (try/catch, finally, a loop in the catch) cannot buy more time.
 */
const MAX_FUEL_BATCH = 4_096;
/**
 * How long, by the clock, a batch of checks should take at most. A fixed batch of 4,096 let a loop
 * of long native calls (a 7 ms JSON.parse per iteration) run 28 s between two looks at the clock,
 * holding the runtime's one thread for every tenant, far past its cpuMs.
 */
const BATCH_CLOCK_MS = 2;

/**
 * The size of the run's next batch: it starts at one check, doubles while a batch takes less
 * than half of BATCH_CLOCK_MS, up to MAX_FUEL_BATCH, and shrinks in proportion when one took
 * longer, down to one check. Cheap checks reach the full batch within a dozen refuels; checks
 * each costing a native call's time keep the clock looked at every BATCH_CLOCK_MS plus one
 * iteration. Where the clock is frozen during execution (deployed) every batch reads 0 ms: full
 * batches, as before, and the platform's CPU limit bounds native calls.
 */
function nextBatch(run: RunState, clockMs: number): number {
  const took = clockMs - run.clockAtRefuel;
  run.clockAtRefuel = clockMs;
  const batch = run.fuelBatch;
  if (took < BATCH_CLOCK_MS / 2) run.fuelBatch = mathMin(batch * 2, MAX_FUEL_BATCH);
  else if (took > BATCH_CLOCK_MS) run.fuelBatch = mathMax(1, mathFloor((batch * BATCH_CLOCK_MS) / took));
  return run.fuelBatch;
}

/** When this isolate last printed HEARTBEAT_LINE. */
let lastHeartbeatAt = 0;

/**
 * Says the runtime is computing, not frozen. Runs compute one after the other on workerd's one
 * thread, each within its budget (80 % of the supervisor's watchdog), but the watchdog's health
 * probe waits for all of them: three at once were taken for a native hang and the runtime was
 * restarted under every tenant. Only metered work within its budget beats; a native call does not.
 */
function heartbeat(run: RunState, at: number): void {
  if (!run.heartbeat) return;
  if (at - lastHeartbeatAt < HEARTBEAT_INTERVAL_MS) return;
  lastHeartbeatAt = at;
  runtimeLog(HEARTBEAT_LINE);
}

/** The clock allows more than cpuMs: it also counts waiting for a core (limits.ts CPU_CLOCK_PERCENT). */
const overClockBudget = (run: RunState, clockMs: number): boolean => clockMs > run.clockBudgetMs;

/**
 * What each module's counter was handed last: its checks down to where it stands now (-1, or
 * lower after a check of several units) are what the call charges.
 * Batches differ in size, so a counter handed a full batch before the run's batch shrank must
 * still be charged in full.
 */
const handedOut = new SafeWeakMap<object, number>();

/**
 * `counter`: the module's counter object (bundle/rewrite.ts passes it). A call without one
 * (Python, which counts its own events: python/runner.py) or with an object no batch was handed
 * to (a program calling refuel itself) is charged a whole batch.
 */
function refuel(counter?: unknown): number {
  const run = currentRun() ?? orphanRun();
  if (run.fuel === null) return MAX_FUEL_BATCH;
  if (run.cpuError) throw run.cpuError;
  // Metered code passes its counter object; anything else is a program calling refuel itself.
  const key = typeof counter === "object" && counter !== null ? counter : undefined;
  const handed = key === undefined ? undefined : handedOut.get(key);
  // A check that charges several units at once (`(F.f -= n) < 0`, bundle/direct-calls.ts) takes
  // the counter below -1: what it went below zero by was spent too.
  const below = (key as { f?: unknown } | undefined)?.f;
  const overdrawn = typeof below === "number" && below < -1 ? -below : 1;
  run.fuelUsed += handed === undefined ? MAX_FUEL_BATCH : handed + overdrawn;
  // One clock read for the slice, the deadline and the heartbeat: each read is a call into the
  // runtime, and metered code calls refuel every batch (fib(32): ~1,700 times).
  const at = now();
  const clockMs = clockCpuMs(run, at);
  if (run.fuelUsed > run.fuel || overClockBudget(run, clockMs)) {
    // Say which bound it was: fuel is a count of steps, not a measured time, so a run of cheap
    // steps can spend it in less wall time than cpuMs.
    const why =
      run.fuelUsed > run.fuel
        ? "its loop iterations and calls went past the count that"
        : `it computed for ${mathRound(clockMs)} ms by the clock, past what`;
    run.cpuError = new LimitError(
      "cpu_limit",
      "CpuLimitError",
      `CPU limit reached: ${why} limits.cpuMs = ${run.limits.cpuMs} ms allows`,
    );
  } else if (at > run.deadline) {
    // The deadline's timer cannot fire while the program computes without waiting; here, where
    // the clock advances during execution (local workerd), the check can see it.
    run.cpuError = new LimitError(
      "timeout",
      "TimeoutError",
      timeoutMessage("the program did not finish", run.limits.timeoutMs),
    );
  } else {
    heartbeat(run, at);
    const batch = run.clockAtWaits ? nextBatch(run, clockMs) : MAX_FUEL_BATCH;
    if (key !== undefined) handedOut.set(key, batch);
    return batch;
  }
  failRun(run, run.cpuError);
  throw run.cpuError;
}

/**
 * A run that ends over its clock budget ends with cpu_limit, never ok: a native call (a default
 * sort of a million numbers, a giant JSON.parse, a catastrophic regex) runs no fuel check, so its
 * slice is seen at the next fuel check or here, when the program has returned. Only where the
 * clock advances during execution (local workerd); deployed, the platform's cpuMs bounds it.
 */
export function endedOverBudget(run: RunState): LimitError | undefined {
  if (run.fuel === null || !run.clockAtWaits || run.cpuError) return run.cpuError;
  closeSlice(run);
  if (!overClockBudget(run, run.clockMs)) return undefined;
  run.cpuError = new LimitError(
    "cpu_limit",
    "CpuLimitError",
    `CPU limit reached: the program used more than ${run.limits.cpuMs} ms of CPU (limits.cpuMs), ${mathRound(run.clockMs)} ms by the clock, some of it in native calls no fuel check could interrupt`,
  );
  failRun(run, run.cpuError);
  return run.cpuError;
}

/**
 * Puts refuel on globalThis and on String.prototype, non-writable and non-configurable: the
 * program cannot swap it. Metered code reads it as `"".__dwlRefuel` (bundle/rewrite.ts): a
 * string literal always reaches the realm's own String.prototype, whereas the name `globalThis`
 * can be shadowed by a module-level declaration that a cyclic import gives a `__dwlRefuel` of the
 * program's own before the module's first line reads it.
 */
export function installRefuel(): void {
  const property = { value: refuel, writable: false, configurable: false, enumerable: false };
  Object.defineProperty(globalThis, REFUEL_GLOBAL, property);
  Object.defineProperty(String.prototype, REFUEL_GLOBAL, property);
}
