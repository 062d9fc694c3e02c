/**
 * @module rejections
 * A promise rejected with nothing to handle it (an error thrown in a floating async call, a timer
 * callback's rejection) fails silently otherwise: the run answers ok and its logs say nothing. The
 * run it belongs to gets an `error` line with the reason, mapped like any logged stack. So does
 * an exception a timer's callback throws, which the runtime reports only in its own log.
 */
import { LimitError } from "./errors.ts";
import { currentRun, type RunState } from "./state.ts";

const UNHANDLED = "[dwl] a promise was rejected and nothing handled it:";

/** Logs each unhandled rejection in the run whose code rejected it (none outside a run). */
export function installRejectionReport(): void {
  globalThis.addEventListener("unhandledrejection", (event: PromiseRejectionEvent) => {
    currentRun()?.logs.add("error", [UNHANDLED, event.reason]);
  });
}

/** Logs, in `run`, what a `setTimeout`/`setInterval` callback threw (a limit has failed the run already). */
export function reportTimerThrow(run: RunState, timer: string, thrown: unknown): void {
  if (thrown instanceof LimitError) return;
  run.logs.add("error", [`[dwl] a ${timer} callback threw and nothing caught it:`, thrown]);
}
