/**
 * @module run/invoke
 * Calls the harness's `run` over RPC under the parent-side deadline (run/deadline.ts). Failures
 * of the isolate itself become `runtime` values: across RPC, failures are values.
 */
import type { ExecutionError } from "@dwl/protocol";
import {
  type ChildCall,
  type ChildOutcome,
  HARNESS_ENTRYPOINT,
  type HarnessEntrypoint,
} from "../sandbox/child-protocol.ts";
import { whileRunning } from "../supervision/cancel.ts";
import { countThreadUse } from "../supervision/thread-use.ts";
import { withParentDeadline } from "./deadline.ts";

/** Per-run limits the Worker Loader applies with the entrypoint. */
export interface PlatformLimits {
  cpuMs: number;
  subRequests: number;
}

/** What calling a child needs: its stub, the harness's settings, the platform's limits. */
export interface ChildRun {
  stub: WorkerStub;
  call: ChildCall;
  /** Absent when only the harness meters CPU (`DWL_CPU_ENFORCEMENT=instrument`). */
  platform?: PlatformLimits;
  /** Whether the child's isolate was started for this call (sandbox/load.ts); absent: it was not. */
  startedForRun?: () => boolean;
}

/**
 * The thread time of one call to a child, for the supervisor (supervision/thread-use.ts): the
 * program's time by the harness's clock, and when its isolate was started for the call, the
 * start too (`callMs` less the harness's `runMs`: creating the isolate and evaluating its
 * modules, which the clock does not see; by the clock, so on a busy thread it counts long).
 */
export function countCallThreadUse(child: ChildRun, callMs: number, report: { runMs: number; clockMs?: number }): void {
  if (typeof report.clockMs !== "number") return;
  const start = child.startedForRun?.() ? Math.max(0, callMs - report.runMs) : 0;
  countThreadUse(report.clockMs + start);
}

const EMPTY_REPORT = { logs: [], logsTruncated: false, egress: [], runMs: 0 };

/**
 * Runs `call` once in the child. `platform` limits go to the Worker Loader with the entrypoint,
 * per run (Cloudflare applies the lower of these and the WorkerCode's; open-source workerd
 * ignores both).
 */
export async function invokeChild(child: ChildRun): Promise<ChildOutcome> {
  const { stub, call, platform } = child;
  const entrypoint = stub.getEntrypoint(
    HARNESS_ENTRYPOINT,
    platform ? { limits: platform } : {},
  ) as unknown as HarnessEntrypoint & Partial<Disposable>;
  const unregister = whileRunning(
    () => void Promise.resolve(entrypoint.cancel(call.callerKey, call.runId)).catch(() => {}),
  );
  const sent = performance.now();
  try {
    const outcome = await withParentDeadline(
      entrypoint.run(call),
      call.limits.timeoutMs,
      (): ChildOutcome => ({
        ok: false,
        error: {
          type: "timeout",
          name: "TimeoutError",
          message: `the program did not finish within ${call.limits.timeoutMs} ms (limits.timeoutMs)`,
        },
        ...EMPTY_REPORT,
        runMs: call.limits.timeoutMs,
      }),
    );
    countCallThreadUse(child, performance.now() - sent, outcome);
    return outcome;
  } catch (err) {
    return { ok: false, error: isolateFailure(err), ...EMPTY_REPORT };
  } finally {
    unregister();
    entrypoint[Symbol.dispose]?.();
  }
}

/** Something broke the isolate itself (not the program): reported as a `runtime` failure. */
function isolateFailure(err: unknown): ExecutionError {
  const message = err instanceof Error ? err.message : String(err);
  return { type: "runtime", name: "IsolateError", message: `the program's isolate failed: ${message}` };
}
