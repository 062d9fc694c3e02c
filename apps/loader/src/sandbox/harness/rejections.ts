/**
 * @module rejections
 * A promise rejected with nothing to handle it (an error thrown in a floating async call, a timer
 * callback's rejection) fails silently otherwise: the run answers ok and its logs say nothing. The
 * run it belongs to gets an `error` line with the reason, mapped like any logged stack.
 */
import { currentRun } from "./state.ts";

const UNHANDLED = "[dwl] a promise was rejected and nothing handled it:";

/** Logs each unhandled rejection in the run whose code rejected it (none outside a run). */
export function installRejectionReport(): void {
  globalThis.addEventListener("unhandledrejection", (event: PromiseRejectionEvent) => {
    currentRun()?.logs.add("error", [UNHANDLED, event.reason]);
  });
}
