/**
 * @module child-protocol
 * What the loader and the harness (sandbox/harness/, bundled into the child's main module)
 * exchange: RPC message shapes, header names and the globals the harness installs. The harness
 * imports these (its bundle inlines them), so both sides name each one here. Only constants and
 * type-only imports: anything else would be bundled into every child. Internal: the wire format
 * users see is in @dwl/protocol.
 */
import type { EgressRecord, ExecutionError, LogEntry, ProgramRequest } from "@dwl/protocol";
import type { ProgramShape } from "../bundle/bundle.ts";
import type { EffectiveLimits } from "../limits.ts";
import type { PythonProgram } from "../bundle/bundle.ts";

/** The string in the harness's text that sandbox/load.ts replaces with the isolate's caller key. */
export const CALLER_KEY_PLACEHOLDER = "__DWL_CALLER_KEY__";
/** The harness's entrypoint the loader calls (run/invoke.ts, run/serve.ts). */
export const HARNESS_ENTRYPOINT = "Run";
/** A sandbox's fetch answer carries its run report here (URI-encoded JSON); the loader removes it. */
export const REPORT_HEADER = "x-dwl-report";
/** Characters of that header: logs are dropped from the report, oldest first, to fit. */
export const MAX_REPORT_CHARS = 16 * 1024;
/** The run's signed token on every outbound request (egress/run-token.ts). */
export const RUN_TOKEN_HEADER = "x-dwl-run";
/**
 * Set by the egress gateway on its own answers (egress/gateway.ts), which drops anything an
 * upstream sends under these names. A refusal: the harness throws EgressDeniedError.
 */
export const EGRESS_DENIED_HEADER = "x-dwl-egress-denied";
/**
 * The program's redirect mode when it is not "follow" ("manual", "error"), from the harness to
 * the gateway, which otherwise follows redirects itself (dropping credentials across hosts).
 */
export const EGRESS_REDIRECT_HEADER = "x-dwl-redirect";
/** Causes an error's reported stack shows below it, at most: a chain is short; a cycle must end. */
export const MAX_ERROR_CAUSES = 5;
/**
 * Runs a child remembers as stopped before they began (the loader's cancel and its run are two
 * calls, which need not arrive in order): past this the remembered ones are all forgotten.
 */
export const MAX_CANCELLED_EARLY = 64;
/** The statuses fetch follows as redirects. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** The gateway's audit of a request it passed (final URL, credentials used); the harness removes it. */
export const EGRESS_AUDIT_HEADER = "x-dwl-egress";

export interface ChildCall {
  /** Proves the call comes from the loader (sandbox/load.ts callerKeyFor). */
  callerKey: string;
  /** Names the run to `HarnessEntrypoint.cancel`. */
  runId: string;
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
  /** The run's budget by the clock, where it advances during execution (limits.ts clockBudgetMs). */
  clockBudgetMs: number;
  /** Print the heartbeat (child-globals.ts) while computing: the loader is supervised (DWL_SUPERVISOR_URL). */
  heartbeat?: boolean;
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
  /** Only compile the program's files (a sandbox's definition, run/pipeline.ts); nothing runs. */
  check?: boolean;
}

interface ChildReport {
  logs: LogEntry[];
  logsTruncated: boolean;
  egress: EgressRecord[];
  runMs: number;
  /**
   * The program's time by the clock (harness/clock.ts: working, not waiting), ms; absent when the
   * child did not report (it did not run, or did not answer).
   */
  clockMs?: number;
}

/** `result` is already JSON text, encoded (and size-checked) inside the child. */
export type ChildOutcome = ChildReport &
  (
    | { ok: true; result: string }
    | {
        ok: false;
        error: ExecutionError;
        /** The child can serve no further run (a Python child whose Pyodide failed fatally). */
        replaceChild?: true;
      }
  );

/** The props of a sandbox's HTTP call to the harness's fetch (run/serve.ts). */
export interface ChildServeProps {
  call: ChildCall;
  callerKey: string;
}

/** The harness's RPC surface, as the loader sees it. */
export interface HarnessEntrypoint {
  run(call: ChildCall): Promise<ChildOutcome>;
  /** Stops run `runId` of this isolate, if it is still going: its client went away. */
  cancel(callerKey: string, runId: string): void;
}
