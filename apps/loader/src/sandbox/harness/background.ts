/**
 * @module background
 * Work a program started and did not wait for: calls to `env` (storage, tools) still running when
 * it returned, and the promises it handed to `ctx.waitUntil`. A run's answer waits for them, under
 * its deadline: a program's first run is in a one-off child, dropped once it is answered, which
 * would cancel them and silently lose a write the program made. Counted, not kept: a program that
 * starts a million calls costs two numbers here.
 */
import { promiseThen, queueTask, resolvePromise, SafeWeakMap } from "./intrinsics.ts";
import type { RunState } from "./state.ts";

/** Calls to env still running, each with whether it has been handed to ctx.waitUntil since. */
const runningCalls = new SafeWeakMap<object, { handedOver: boolean }>();

/**
 * `promise`, a call to env made in `run`, counted until it settles. The program gets a promise of
 * its own, derived from it: the counting handles `promise`, so one the program neither awaits nor
 * catches still rejects unhandled, and its failure is logged (rejections.ts) instead of lost.
 */
export function trackCall<T>(run: RunState | undefined, promise: Promise<T>): Promise<T> {
  if (run === undefined) return promise;
  const programs = promiseThen(promise, passValue, rethrow) as Promise<T>;
  const call = { handedOver: false };
  runningCalls.set(programs, call);
  run.background.calls += 1;
  const done = (): void => {
    if (!call.handedOver) run.background.calls -= 1;
    call.handedOver = true;
    settleIfIdle(run);
  };
  promiseThen(promise, done, () => {
    run.background.failed += 1;
    done();
  });
  return programs;
}

const passValue = <T>(value: T): T => value;
const rethrow = (err: unknown): never => {
  throw err;
};

/** A promise the program handed to `ctx.waitUntil` in `run`: a call to env in it is waited for, not warned about. */
export function trackWaitUntil(run: RunState | undefined, promise: unknown): void {
  if (run === undefined) return;
  const call = typeof promise === "object" && promise !== null ? runningCalls.get(promise) : undefined;
  if (call && !call.handedOver) {
    call.handedOver = true;
    run.background.calls -= 1;
  }
  run.background.waitUntil += 1;
  const done = (): void => {
    run.background.waitUntil -= 1;
    settleIfIdle(run);
  };
  promiseThen(resolvePromise(promise), done, done);
}

function settleIfIdle(run: RunState): void {
  if (run.background.calls + run.background.waitUntil === 0) run.background.settled?.();
}

/** Settles once none of the run's background work is running. */
export function backgroundSettled(run: RunState): Promise<void> {
  return new Promise((resolve) => {
    if (run.background.calls + run.background.waitUntil === 0) return void queueTask(resolve);
    run.background.settled = resolve;
  });
}

/** The warning a run's logs end with when its program returned while calls to env were running. */
export function unawaitedCallsWarning(calls: number): string {
  const [s, was, it] = calls === 1 ? ["", "was", "it"] : ["s", "were", "them"];
  return `[dwl] the program returned while ${calls} call${s} to env (storage or tools) ${was} still running; the answer waited for ${it}. Await ${it}, or hand ${it} to ctx.waitUntil()`;
}

/** The warning when the run's deadline came first: the result stands, the rest may not have happened. */
export const backgroundCutWarning = (run: RunState, timeoutMs: number): string =>
  `[dwl] the program's result was ready, but at limits.timeoutMs (${timeoutMs} ms) ${run.background.calls} call(s) to env and ${run.background.waitUntil} ctx.waitUntil promise(s) were still running: they were cut off and may not have happened`;
