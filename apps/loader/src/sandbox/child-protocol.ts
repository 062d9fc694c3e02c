/**
 * @module child-protocol
 * What the loader and the harness (harness.child.js) exchange over RPC. Internal: the wire
 * format users see is in @dwl/protocol.
 */
import type { EgressRecord, ExecutionError, LogEntry, ProgramRequest } from "@dwl/protocol";
import type { ProgramShape } from "../bundle/bundle.ts";
import type { EffectiveLimits } from "../limits.ts";
import type { PythonProgram } from "../bundle/bundle.ts";

export interface ChildCall {
  /** Proves the call comes from the loader (sandbox/load.ts callerKeyFor). */
  callerKey: string;
  shape: ProgramShape;
  input: unknown;
  request?: ProgramRequest;
  limits: EffectiveLimits;
  /** credential name → per-run placeholder (env.SECRETS in the program) */
  secrets: Record<string, string>;
  /** Signed per-run context the harness attaches to every outbound request (egress/run-token.ts). */
  runToken: string | null;
  /** Fuel budget of the run (cpuMs × FUEL_PER_CPU_MS), or null when the code is not metered. */
  fuel: number | null;
  maxResultBytes: number;
  maxLogLines: number;
  maxLogBytes: number;
  /** A Python run: the program's files, handed to the Python child's program module. */
  python?: PythonCall;
}

export interface PythonCall extends PythonProgram {
  /** Bound of the child's Python (wasm) heap. */
  heapLimitBytes: number;
  /** Only boot Pyodide (python/boot.ts); no program runs. */
  boot?: boolean;
}

interface ChildReport {
  logs: LogEntry[];
  logsTruncated: boolean;
  egress: EgressRecord[];
  runMs: number;
}

/** `result` is already JSON text, encoded (and size-checked) inside the child. */
export type ChildOutcome = ChildReport & ({ ok: true; result: string } | { ok: false; error: ExecutionError });

/** The harness's RPC surface, as the loader sees it. */
export interface HarnessEntrypoint {
  run(call: ChildCall): Promise<ChildOutcome>;
}
