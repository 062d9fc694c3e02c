/**
 * @module run
 * Calls the harness in a child isolate with per-run settings and a parent-side deadline. The
 * child enforces `timeoutMs` itself (its own timer); the parent's deadline is a backstop for a
 * child that cannot answer at all. Failures of the isolate itself become `runtime` values.
 */
import type { ExecutionError } from "@dwl/protocol";
import { PARENT_TIMEOUT_GRACE_MS } from "../limits.ts";
import type { ChildCall, ChildOutcome, HarnessEntrypoint } from "./child-protocol.ts";

const EMPTY_REPORT = { logs: [], logsTruncated: false, egress: [], runMs: 0 };

/**
 * `platformLimits` go to the Worker Loader with the entrypoint, per run (Cloudflare applies the
 * lower of these and the WorkerCode's; open-source workerd ignores both).
 */
export async function runInChild(
  stub: WorkerStub,
  call: ChildCall,
  platformLimits?: { cpuMs: number; subRequests: number },
): Promise<ChildOutcome> {
  const entrypoint = stub.getEntrypoint(
    "Run",
    platformLimits ? { limits: platformLimits } : {},
  ) as unknown as HarnessEntrypoint & Partial<Disposable>;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<ChildOutcome>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ok: false,
          error: {
            type: "timeout",
            name: "TimeoutError",
            message: `the program did not finish within ${call.limits.timeoutMs} ms (limits.timeoutMs)`,
          },
          ...EMPTY_REPORT,
          runMs: call.limits.timeoutMs,
        }),
      call.limits.timeoutMs + PARENT_TIMEOUT_GRACE_MS,
    );
  });
  try {
    return await Promise.race([entrypoint.run(call), deadline]);
  } catch (err) {
    return { ok: false, error: isolateFailure(err), ...EMPTY_REPORT };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    entrypoint[Symbol.dispose]?.();
  }
}

/** Something broke the isolate itself (not the program): reported as a `runtime` failure. */
function isolateFailure(err: unknown): ExecutionError {
  const message = err instanceof Error ? err.message : String(err);
  return { type: "runtime", name: "IsolateError", message: `the program's isolate failed: ${message}` };
}
