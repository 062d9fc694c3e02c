/**
 * @module clock
 * The clock's slices (see fuel.ts refuel): one is open while the program works, closed while it
 * waits. The harness closes it at every wait it mediates (a fetch, an env.KV/env.FILES/tool call,
 * a body read, a timer) and reopens it when that wait ends and the program runs again (its last
 * pending call answered, a timer callback starting), or at the next fuel check. A macrotask
 * closes it too, for waits the harness does not see. Before, a slice stayed open until a
 * setTimeout(0) ran, and locally that timer waited behind the I/O itself (the loader and the KV
 * simulation run on the same thread), so an I/O-bound run was charged its waits (commit d55b2c8).
 */
import { now, promiseThen, queueTask, resolvePromise, startTimer } from "./intrinsics.ts";
import { currentRun, type RunState } from "./state.ts";

export function openSlice(run: RunState, at?: number): void {
  if (run.sliceStart !== undefined) return;
  if (!run.backstopPending) {
    try {
      startTimer(() => {
        run.backstopPending = false;
        closeSlice(run);
      }, 0);
    } catch {
      // Module evaluation runs in workerd's global scope, where timers are forbidden: there
      // only fuel applies.
      return;
    }
    run.backstopPending = true;
  }
  run.sliceStart = at ?? now();
}

export function closeSlice(run: RunState): void {
  if (run.sliceStart === undefined) return;
  run.clockMs += now() - run.sliceStart;
  run.sliceStart = undefined;
}

/** The run's clock total at `at` (now by default): refuel reads the clock once for all its uses. */
export function clockCpuMs(run: RunState, at: number = now()): number {
  openSlice(run, at);
  return run.clockMs + (run.sliceStart === undefined ? 0 : at - run.sliceStart);
}

/**
 * The program starts waiting on something the harness mediates. The slice closes in a microtask,
 * not now, so that work the program does synchronously after starting the call (a native sort
 * before its `await`) is still on the clock.
 */
export function waitStarts(run: RunState | undefined, counted: boolean): void {
  if (run === undefined || !run.clockAtWaits) return;
  if (counted) run.pendingWaits++;
  if (run.closeQueued) return;
  run.closeQueued = true;
  queueTask(() => {
    run.closeQueued = false;
    closeSlice(run);
  });
}

/** A mediated wait ended: once nothing else it started is pending, the program runs again. */
export function waitEnds(run: RunState | undefined): void {
  if (run === undefined || !run.clockAtWaits) return;
  run.pendingWaits--;
  if (run.pendingWaits === 0 && !run.cpuError) openSlice(run);
}

/** Runs `promise` as a mediated wait of the current run (see waitStarts). */
export function awaited<T>(promise: T): Promise<Awaited<T>> {
  const run = currentRun();
  waitStarts(run, true);
  const ends = () => waitEnds(run);
  return promiseThen(
    resolvePromise(promise),
    (value) => (ends(), value),
    (err) => {
      ends();
      throw err;
    },
  );
}
