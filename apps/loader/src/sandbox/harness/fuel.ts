/**
 * @module fuel
 * The CPU meter: the refuel function metered code calls (bundle/rewrite.ts inserts the checks),
 * and the clock's last word when a run returns.
 */
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_LINE, REFUEL_GLOBAL } from "../child-globals.ts";
import { clockCpuMs, closeSlice } from "./clock.ts";
import { LimitError, timeoutMessage } from "./errors.ts";
import { mathRound, now, runtimeLog } from "./intrinsics.ts";
import { currentRun, failRun, orphanRun, type RunState } from "./state.ts";

/**
 * Metered code (bundle/rewrite.ts) counts down a local counter and calls this every FUEL_BATCH
 * checks. Two budgets, whichever runs out first:
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
const FUEL_BATCH = 4_096;

/** When this isolate last printed HEARTBEAT_LINE. */
let lastHeartbeatAt = 0;

/**
 * Says the runtime is computing, not frozen. Runs compute one after the other on workerd's one
 * thread, each within its budget (80 % of the supervisor's watchdog), but the watchdog's health
 * probe waits for all of them: three at once were taken for a native hang and the runtime was
 * restarted under every tenant. Only metered work within its budget beats; a native call does not.
 */
function heartbeat(run: RunState): void {
  if (!run.heartbeat) return;
  const at = now();
  if (at - lastHeartbeatAt < HEARTBEAT_INTERVAL_MS) return;
  lastHeartbeatAt = at;
  runtimeLog(HEARTBEAT_LINE);
}

/** The clock allows more than cpuMs: it also counts waiting for a core (limits.ts CPU_CLOCK_PERCENT). */
const overClockBudget = (run: RunState, clockMs: number): boolean => clockMs > run.clockBudgetMs;

function refuel(): number {
  const run = currentRun() ?? orphanRun();
  if (run.fuel === null) return FUEL_BATCH;
  if (run.cpuError) throw run.cpuError;
  run.fuelUsed += FUEL_BATCH;
  const clockMs = clockCpuMs(run);
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
  } else if (now() > run.deadline) {
    // The deadline's timer cannot fire while the program computes without waiting; here, where
    // the clock advances during execution (local workerd), the check can see it.
    run.cpuError = new LimitError(
      "timeout",
      "TimeoutError",
      timeoutMessage("the program did not finish", run.limits.timeoutMs),
    );
  } else {
    heartbeat(run);
    return FUEL_BATCH;
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
