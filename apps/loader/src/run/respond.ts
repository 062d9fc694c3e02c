/**
 * @module run/respond
 * The collect step: one run's answer, assembled once whichever way the program ran: timing, the
 * error's stack mapped to the user's files, and the execution log line. An execute run
 * (POST /execute, POST /sandboxes/:id/execute, MCP `execute`) becomes a {@link RunReply}: HTTP
 * sends {@link replyJson}, with the result spliced in as the child encoded it (a large result
 * is never parsed and re-encoded), and MCP reads {@link replyObject}. A sandbox HTTP request
 * becomes the program's response, or its error as JSON ({@link httpReply}).
 */
import {
  type EgressRecord,
  EXECUTION_ID_HEADER,
  type ExecuteResponse,
  type ExecutionError,
  type LogEntry,
  type Timing,
} from "@dwl/protocol";
import type { CompileError } from "../compile-error.ts";
import type { EffectiveLimits } from "../limits.ts";
import { type ExecutionLogLine, logExecution } from "../observability.ts";
import type { ChildOutcome } from "../sandbox/child-protocol.ts";
import { mapErrorStack, mapLoggedStacks } from "../sandbox/stack.ts";
import { compileFailure } from "./compile.ts";
import type { ExecutionContext, RunClock } from "./context.ts";
import type { ServedRequest } from "./serve.ts";
import type { ProgramRun } from "./spawn.ts";

interface ReplyCommon {
  logs: LogEntry[];
  logsTruncated?: true;
  egress: EgressRecord[];
  timing: Timing;
  executionId: string;
  limits: EffectiveLimits;
}

/** An execute run's answer: the response body, with the result as the child's JSON text. */
export type RunReply = ({ ok: true; resultJson: string } | { ok: false; error: ExecutionError }) & ReplyCommon;

/** The response body as JSON text, for HTTP. */
export function replyJson(reply: RunReply): string {
  if (!reply.ok) return JSON.stringify(reply);
  const { ok: _, resultJson, ...rest } = reply;
  return `{"ok":true,"result":${resultJson},${JSON.stringify(rest).slice(1)}`;
}

/** The response body as an object, for MCP: only the result is decoded (the child's JSON text). */
export function replyObject(reply: RunReply): ExecuteResponse {
  if (!reply.ok) return reply;
  const { ok: _, resultJson, ...rest } = reply;
  return { ok: true, result: JSON.parse(resultJson), ...rest };
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** A program that did not compile: no child was started. */
export function compileFailureReply(err: CompileError, clock: RunClock, limits: EffectiveLimits): RunReply {
  const bundleMs = round(performance.now() - clock.started);
  return {
    ok: false,
    error: compileFailure(err),
    logs: [],
    egress: [],
    timing: { totalMs: bundleMs, bundleMs, startMs: 0, runMs: 0, cached: false },
    executionId: clock.executionId,
    limits,
  };
}

/** A run the child answered (or the parent's deadline did); `compiledAt`: when its bundle was ready. */
export function runReply(outcome: ChildOutcome, run: ProgramRun, compiledAt: number): RunReply {
  const { clock, context } = run;
  const { bundle, cached } = run.compiled;
  const finished = performance.now();
  const callMs = finished - compiledAt;
  const timing = {
    totalMs: round(finished - clock.started),
    bundleMs: round(compiledAt - clock.started),
    startMs: round(Math.max(0, callMs - outcome.runMs)),
    runMs: round(Math.min(outcome.runMs, callMs)),
    cached,
  };
  logRun(clock, context, {
    shape: bundle.shape,
    outcome: outcome.ok ? "ok" : outcome.error.type,
    cached,
    totalMs: timing.totalMs,
    bundleMs: timing.bundleMs,
    runMs: timing.runMs,
    ...(outcome.ok ? { resultBytes: outcome.result.length } : {}),
    logLines: outcome.logs.length,
    egressCalls: outcome.egress.length,
  });
  mapLoggedStacks(outcome.logs, bundle);
  const common: ReplyCommon = {
    logs: outcome.logs,
    ...(outcome.logsTruncated ? { logsTruncated: true } : {}),
    egress: outcome.egress,
    timing,
    executionId: clock.executionId,
    limits: run.checked.limits,
  };
  if (outcome.ok) return { ok: true, resultJson: outcome.result, ...common };
  mapErrorStack(outcome.error, bundle);
  return { ok: false, error: outcome.error, ...common };
}

/** A sandbox HTTP request's answer: the program's response, or its error (504 for a timeout, else 500). */
export function httpReply(served: ServedRequest, { compiled, clock, context }: ProgramRun): Response {
  const { report } = served;
  if (report.error) mapErrorStack(report.error, compiled.bundle);
  mapLoggedStacks(report.logs, compiled.bundle);
  logRun(clock, context, { outcome: report.error?.type ?? "ok", runMs: report.runMs, logLines: report.logs.length });
  if (served.response === null) return httpErrorResponse(served.report.error, clock.executionId);
  served.response.headers.set(EXECUTION_ID_HEADER, clock.executionId);
  return served.response;
}

/** A sandbox HTTP request's error as `{ error, executionId }`. */
export function httpErrorResponse(error: ExecutionError, executionId: string): Response {
  return Response.json(
    { error, executionId },
    { status: error.type === "timeout" ? 504 : 500, headers: { [EXECUTION_ID_HEADER]: executionId } },
  );
}

/** The one execution log line (observability.ts) of a run. */
function logRun(
  clock: RunClock,
  { tenant, server }: ExecutionContext,
  fields: Omit<ExecutionLogLine, "executionId" | "tenant" | "kind">,
): void {
  logExecution({ executionId: clock.executionId, tenant, kind: clock.kind, ...fields }, server.logFlushMs);
}
