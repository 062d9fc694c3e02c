/**
 * @module execute
 * The execution pipeline shared by every way of running a program (POST /execute, sandboxes,
 * MCP): bundle (cached) → spawn a child isolate → run → collect one response.
 */
import { isPythonProgram, type ExecuteRequest, type ExecutionError } from "@dwl/protocol";
import { bundleProgram, USER_MODULE, type Bundle } from "./bundle/bundle.ts";
import { BundleCache } from "./bundle/cache.ts";
import { CompileError } from "./compile-error.ts";
import { runEgress, type RunEgress } from "./egress/run-egress.ts";
import { clampLimits, DEFAULT_NAMESPACE, FUEL_PER_CPU_MS, type EffectiveLimits, type ServerLimits } from "./limits.ts";
import { logExecution } from "./observability.ts";
import { programSource } from "./program-source.ts";
import { ensurePythonBooted } from "./python/boot.ts";
import { PYTHON_CHILD_KEY, pythonBundle, pythonProgram, pythonProgramKey } from "./python/program.ts";
import { pythonChildModules } from "./python/runtime-files.ts";
import { checkProgramRequest, type CheckedProgram } from "./run/request-check.ts";
import type { ChildCall, ChildOutcome } from "./sandbox/child-protocol.ts";
import { callerKeyFor, isolateIdFor, openChild, type ChildScope } from "./sandbox/load.ts";
import { runInChild } from "./sandbox/run.ts";
import { mapStack, traceMapFor } from "./sandbox/stack.ts";

/** One per loader isolate: bundles are reused across requests and tenants (same code, same bundle). */
const bundles = new BundleCache();

export interface ExecutionContext {
  env: Env;
  tenant: string;
  server: ServerLimits;
}

/** A program ready to run: its bundle and the content key that addresses it. */
export interface CompiledProgram {
  bundle: Bundle;
  key: string;
  cached: boolean;
  /** A stored sandbox: always kept warm, whatever the warm-isolate bound (sandbox/load.ts). */
  pinned?: boolean;
}

/** How one run is set up: the /execute fields besides the program itself. */
export type RunSettings = Pick<ExecuteRequest, "input" | "request" | "limits" | "egress" | "storage" | "tools">;

/** Clock readings of one execution, for `timing`. */
export interface RunClock {
  executionId: string;
  started: number;
  compiled: number;
  /** For the execution log line (observability.ts). */
  kind?: "execute" | "sandbox-execute";
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export function isMetered(server: ServerLimits): boolean {
  return server.cpuEnforcement !== "platform";
}

/** Bundles (or finds in the cache) a program. Throws CompileError for the program's mistakes. */
export async function compileProgram(
  body: Pick<ExecuteRequest, "code" | "files" | "entry" | "dependencies" | "language">,
  server: ServerLimits,
): Promise<CompiledProgram> {
  if (isPythonProgram(body)) {
    const program = pythonProgram(body);
    return { bundle: pythonBundle(program), key: await pythonProgramKey(program), cached: true };
  }
  const source = await programSource(body, isMetered(server));
  const { bundle, cached } = await bundles.getOrBuild(source.key, () => bundleProgram(source));
  return { bundle, key: source.key, cached };
}

export function compileFailure(err: CompileError): ExecutionError {
  return {
    type: "compile",
    name: "CompileError",
    message: err.message,
    ...(err.location ? { location: err.location } : {}),
  };
}

/**
 * Runs one program and returns the response body as JSON text. The result is spliced in as the
 * child encoded it, so a large result is never parsed and re-encoded by the loader. `checked`:
 * the request check's verdict when the route ran it already (before admission); otherwise the
 * request is checked here, before any bundling.
 */
export async function executeProgram(
  body: ExecuteRequest,
  context: ExecutionContext,
  checked?: CheckedProgram,
): Promise<string> {
  const clock = { executionId: crypto.randomUUID(), started: performance.now(), compiled: 0 };
  const limits = clampLimits(body.limits, context.server);
  const plan = checked ?? (await checkProgramRequest(body, context));
  let compiled: CompiledProgram;
  try {
    compiled = await compileProgram(body, context.server);
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    const bundleMs = round(performance.now() - clock.started);
    return JSON.stringify({
      ok: false,
      error: compileFailure(err),
      logs: [],
      egress: [],
      timing: { totalMs: bundleMs, bundleMs, startMs: 0, runMs: 0, cached: false },
      executionId: clock.executionId,
      limits,
    });
  }
  clock.compiled = performance.now();
  return (await runCompiled(compiled, body, context, clock, plan)).json;
}

/** Everything baked into the child for these settings (part of its isolate id). */
export function childScope(
  tenant: string,
  settings: Pick<RunSettings, "storage">,
  egress: RunEgress,
  checked: CheckedProgram,
): ChildScope {
  return {
    tenant,
    namespace: settings.storage?.namespace ?? DEFAULT_NAMESPACE,
    egress: egress.scope,
    tools: checked.tools,
  };
}

/**
 * The content key a program's child is addressed by: its bundle's, or for Python the shared
 * runtime's (one booted child per tenant scope runs all of its Python programs).
 */
export function childKey(compiled: Pick<CompiledProgram, "bundle" | "key">): string {
  return compiled.bundle.python ? PYTHON_CHILD_KEY : compiled.key;
}

/** The per-run settings the harness receives. */
export function childCall(
  bundle: Bundle,
  settings: RunSettings,
  limits: EffectiveLimits,
  egress: RunEgress,
  server: ServerLimits,
  callerKey: string,
): ChildCall {
  return {
    callerKey,
    shape: bundle.shape,
    input: settings.input ?? null,
    ...(settings.request ? { request: settings.request } : {}),
    limits,
    secrets: egress.secrets,
    runToken: egress.runToken,
    fuel: isMetered(server) ? limits.cpuMs * FUEL_PER_CPU_MS : null,
    maxResultBytes: server.maxResultBytes,
    maxLogLines: server.maxLogLines,
    maxLogBytes: server.maxLogBytes,
    ...(bundle.python ? { python: { ...bundle.python, heapLimitBytes: server.pythonHeapBytes } } : {}),
  };
}

export function platformLimits(
  limits: EffectiveLimits,
  server: ServerLimits,
): { cpuMs: number; subRequests: number } | undefined {
  return server.cpuEnforcement === "instrument" ? undefined : { cpuMs: limits.cpuMs, subRequests: limits.subRequests };
}

/** Spawns (or reuses) the child for a compiled program, runs it once and builds the response. */
export async function runCompiled(
  compiled: CompiledProgram,
  settings: RunSettings,
  { env, tenant, server }: ExecutionContext,
  clock: RunClock,
  checked: CheckedProgram,
): Promise<{ json: string; outcome: ChildOutcome }> {
  const { bundle, cached, pinned } = compiled;
  const limits = clampLimits(settings.limits, server);
  const runEgressSettings = await runEgress(checked.egress, env, clock.executionId);
  const scope = childScope(tenant, settings, runEgressSettings, checked);
  const isolateId = await isolateIdFor(childKey(compiled), scope);
  const callerKey = await callerKeyFor(env, isolateId);
  const runtimeModules = bundle.python ? await pythonChildModules(env) : undefined;
  const { stub, oneOff } = openChild(env.LOADER, isolateId, bundle, scope, server, callerKey, pinned, runtimeModules);
  const call = childCall(bundle, settings, limits, runEgressSettings, server, callerKey);
  const boot = bundle.python
    ? await ensurePythonBooted(
        oneOff ? undefined : isolateId,
        stub,
        call,
        server.pythonConcurrentBoots,
        platformLimits(limits, server),
      )
    : undefined;
  const outcome = boot && !boot.ok ? boot : await runInChild(stub, call, platformLimits(limits, server));
  const finished = performance.now();

  const callMs = finished - clock.compiled;
  const timing = {
    totalMs: round(finished - clock.started),
    bundleMs: round(clock.compiled - clock.started),
    startMs: round(Math.max(0, callMs - outcome.runMs)),
    runMs: round(Math.min(outcome.runMs, callMs)),
    cached,
  };
  const rest = {
    logs: outcome.logs,
    ...(outcome.logsTruncated ? { logsTruncated: true } : {}),
    egress: outcome.egress,
    timing,
    executionId: clock.executionId,
    limits,
  };
  logExecution(
    {
      executionId: clock.executionId,
      tenant,
      kind: clock.kind ?? "execute",
      shape: bundle.shape,
      outcome: outcome.ok ? "ok" : outcome.error.type,
      cached,
      totalMs: timing.totalMs,
      bundleMs: timing.bundleMs,
      runMs: timing.runMs,
      ...(outcome.ok ? { resultBytes: outcome.result.length } : {}),
      logLines: outcome.logs.length,
      egressCalls: outcome.egress.length,
    },
    server.logFlushMs,
  );
  if (outcome.ok) return { json: `{"ok":true,"result":${outcome.result},${JSON.stringify(rest).slice(1)}`, outcome };

  const error = outcome.error;
  if (error.stack && !bundle.python) error.stack = mapStack(error.stack, traceMapFor(bundle, bundle.map), USER_MODULE);
  return { json: JSON.stringify({ ok: false, error, ...rest }), outcome };
}
