/**
 * @module python/boot
 * Boots Pyodide in a Python child before its first run, in a call of its own: the boot (~1.6 s
 * of CPU, up to ~4 s right after a runtime start) is the runtime's cost, not the program's, so it
 * is charged to neither the run's timeoutMs nor its CPU budget (`timing.startMs` shows it).
 * Boots block the local runtime's one thread, so this loader isolate boots a bounded number of
 * children at once (DWL_PYTHON_CONCURRENT_BOOTS, default 1): other tenants' requests get the
 * thread between boots instead of after a pile of them.
 */
import { supervisedRequest } from "../supervision/cancel.ts";
import { invokeChild } from "../run/invoke.ts";
import type { ChildCall, ChildOutcome } from "../sandbox/child-protocol.ts";
import { PYTHON_BOOT_CPU_MS, PYTHON_BOOT_TIMEOUT_MS } from "../limits.ts";
import { slotsOf } from "../slots.ts";

/** Compatibility flags of a Python child (see sandbox/load.ts). */
export const PYTHON_CHILD_COMPATIBILITY_FLAGS = ["nodejs_als"];

/** Isolate ids this loader isolate has booted (or is booting): their runs need no boot call. */
const booted = new Map<string, Promise<ChildOutcome>>();
/**
 * Boots the child of `isolateId` unless this loader isolate did already (a one-off child, with no
 * id, every time). Answers the boot's
 * outcome: a failed boot (reported to the run that needed it) is tried again by the next run.
 */
export function ensurePythonBooted(
  isolateId: string | undefined,
  stub: WorkerStub,
  call: ChildCall,
  maxConcurrentBoots: number,
  platformLimits?: { cpuMs: number; subRequests: number },
): Promise<ChildOutcome> {
  let boot = isolateId === undefined ? undefined : booted.get(isolateId);
  if (boot === undefined) {
    const bootCall: ChildCall = {
      ...call,
      python: call.python && { ...call.python, boot: true },
      fuel: null,
      limits: { ...call.limits, timeoutMs: PYTHON_BOOT_TIMEOUT_MS },
    };
    // Outside the request's supervision: every run of the child waits for this one boot, so one
    // client that leaves must not stop it for the others (supervision/cancel.ts).
    boot = slotsOf("python boots", maxConcurrentBoots).run(() =>
      supervisedRequest.exit(() =>
        invokeChild({
          stub,
          call: bootCall,
          ...(platformLimits && {
            platform: { ...platformLimits, cpuMs: Math.max(platformLimits.cpuMs, PYTHON_BOOT_CPU_MS) },
          }),
        }),
      ),
    );
    // A one-off child (no id) is booted for its one run and forgotten.
    if (isolateId === undefined) return boot;
    booted.set(isolateId, boot);
    void boot.then((outcome) => {
      if (!outcome.ok) booted.delete(isolateId);
    });
  }
  return boot;
}
