/**
 * @module run/context
 * What every step of a run takes: who runs (tenant, bindings, server limits), the run's settings
 * besides the program, and its clock (id, kind, start).
 */
import type { ExecuteRequest } from "@dwl/protocol";
import type { ServerLimits } from "../limits.ts";
import type { ExecutionLogLine } from "../observability.ts";

/** Who runs a program, under which server limits. */
export interface ExecutionContext {
  env: Env;
  tenant: string;
  server: ServerLimits;
}

/** How one run is set up: the /execute fields besides the program itself. */
export type RunSettings = Pick<ExecuteRequest, "input" | "request" | "limits" | "egress" | "storage" | "tools">;

/** One run's identity and start, read for `timing` and the execution log line. */
export interface RunClock {
  executionId: string;
  kind: ExecutionLogLine["kind"];
  /** `performance.now()` when the request began. */
  started: number;
}

export function startClock(kind: RunClock["kind"]): RunClock {
  return { executionId: crypto.randomUUID(), kind, started: performance.now() };
}
