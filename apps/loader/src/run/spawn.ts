/**
 * @module run/spawn
 * The spawn step, once per run: the run's per-run egress (credential placeholders and the signed
 * token), the scope baked into its child (part of the isolate id), the child itself (warm or
 * one-off, sandbox/load.ts), the settings the harness receives and the limits handed to the
 * Worker Loader with the entrypoint. The RPC run (run/invoke.ts) and the sandbox HTTP request
 * (run/serve.ts) both start from what this returns.
 */
import { runEgress } from "../egress/run-egress.ts";
import {
  clockBudgetMs,
  DEFAULT_NAMESPACE,
  type EffectiveLimits,
  FUEL_PER_CPU_MS,
  type ServerLimits,
} from "../limits.ts";
import { pythonChildId } from "../python/generations.ts";
import { PYTHON_CHILD_KEY } from "../python/program.ts";
import { pythonChildModules } from "../python/runtime-files.ts";
import type { ChildCall } from "../sandbox/child-protocol.ts";
import { type ChildScope, callerKeyFor, isolateIdFor, openChild, pythonCheckScope } from "../sandbox/load.ts";
import { type CompiledProgram, isMetered } from "./compile.ts";
import type { ExecutionContext, RunClock, RunSettings } from "./context.ts";
import type { ChildRun, PlatformLimits } from "./invoke.ts";
import type { CheckedProgram } from "./request-check.ts";

/** One run of a compiled program: for whom, with which settings, as checked, on which clock. */
export interface ProgramRun {
  compiled: CompiledProgram;
  settings: RunSettings;
  context: ExecutionContext;
  /** The request check's verdict on `settings`: the run's limits, egress scope and tools. */
  checked: CheckedProgram;
  clock: RunClock;
}

/** A run with its child chosen. */
export interface SpawnedRun extends Omit<ChildRun, "stub"> {
  isolateId: string;
  /** A one-off isolate (`LOADER.load`), dropped after the run. */
  oneOff: boolean;
  /** The child's stub; a one-off child is created by this call (sandbox/load.ts OpenedChild). */
  open: () => WorkerStub;
}

/** The spawned run with its child's stub, made now when it was not yet (a one-off child: created now). */
export function childRunOf({ open, ...run }: SpawnedRun): ChildRun {
  return { ...run, stub: open() };
}

/** What the run's child is created with besides its code (part of its isolate id). */
function childScopeOf({
  settings,
  context,
  checked,
}: Pick<ProgramRun, "settings" | "context" | "checked">): ChildScope {
  return {
    tenant: context.tenant,
    namespace: settings.storage?.namespace ?? DEFAULT_NAMESPACE,
    egress: checked.egress,
    tools: checked.tools,
  };
}

/** The isolate id of the run's child. Python: one booted child per tenant scope runs all of its Python programs. */
async function childIdOf(compiled: CompiledProgram, scope: ChildScope): Promise<string> {
  return compiled.bundle.python
    ? pythonChildId(await isolateIdFor(PYTHON_CHILD_KEY, scope))
    : await isolateIdFor(compiled.key, scope);
}

/**
 * The run that compiles a Python program in a warm child of its tenant (sandbox/load.ts
 * pythonCheckScope): the run itself, or the same in the scope of another of the tenant's warm
 * children; undefined when there is none to ask without taking a place.
 */
export async function pythonCheckRun(run: ProgramRun): Promise<ProgramRun | undefined> {
  if (!run.compiled.bundle.python) return undefined;
  const own = childScopeOf(run);
  const scope = await pythonCheckScope(own, (s) => childIdOf(run.compiled, s), run.context.server);
  if (scope === undefined) return undefined;
  if (scope === own) return run;
  return {
    ...run,
    settings: { ...run.settings, storage: { namespace: scope.namespace } },
    checked: { ...run.checked, egress: scope.egress, tools: scope.tools },
  };
}

/** Spawns (or reuses) the child of a compiled program for one run. */
export async function spawnRun({ compiled, settings, context, checked, clock }: ProgramRun): Promise<SpawnedRun> {
  const { env, server } = context;
  const { bundle, pinned } = compiled;
  const { limits } = checked;
  const egress = await runEgress(checked.egress, env, clock.executionId);
  const scope = childScopeOf({ settings, context, checked });
  const isolateId = await childIdOf(compiled, scope);
  const callerKey = await callerKeyFor(env, isolateId);
  const runtimeModules = bundle.python ? await pythonChildModules(env) : undefined;
  const { open, oneOff, startedForRun } = openChild(
    env.LOADER,
    isolateId,
    bundle,
    scope,
    server,
    callerKey,
    pinned,
    runtimeModules,
  );
  const call: ChildCall = {
    callerKey,
    runId: crypto.randomUUID(),
    shape: bundle.shape,
    input: settings.input ?? null,
    ...(settings.request ? { request: settings.request } : {}),
    limits,
    secrets: egress.secrets,
    runToken: egress.runToken,
    fuel: isMetered(server) ? limits.cpuMs * FUEL_PER_CPU_MS : null,
    clockBudgetMs: clockBudgetMs(limits.cpuMs, server),
    ...(env.DWL_SUPERVISOR_URL ? { heartbeat: true } : {}),
    maxResultBytes: server.maxResultBytes,
    maxLogLines: server.maxLogLines,
    maxLogBytes: server.maxLogBytes,
    ...(bundle.python ? { python: { ...bundle.python, heapLimitBytes: server.pythonHeapBytes } } : {}),
  };
  const platform = platformLimits(limits, server);
  return { open, call, ...(platform ? { platform } : {}), isolateId, oneOff, startedForRun };
}

/**
 * Per-run limits for the Worker Loader, beside the isolate-wide ones sandbox/load.ts gives the
 * WorkerCode (the server's maxima): the platform applies the lower.
 */
function platformLimits(limits: EffectiveLimits, server: ServerLimits): PlatformLimits | undefined {
  return server.cpuEnforcement === "instrument" ? undefined : { cpuMs: limits.cpuMs, subRequests: limits.subRequests };
}
