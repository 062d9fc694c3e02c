/**
 * @module run/pipeline
 * One run of a program, the same steps for every way in: request → check (run/request-check.ts)
 * → bundle (run/compile.ts) → spawn (run/spawn.ts) → call the child under the parent's deadline
 * (run/invoke.ts over RPC, run/serve.ts for a sandbox's HTTP request) → collect (run/respond.ts).
 * POST /execute and MCP `execute` start at the top; stored sandboxes start from their stored
 * bundle (sandboxes/service.ts).
 */
import type { ExecuteRequest } from "@dwl/protocol";
import { CompileError } from "../compile-error.ts";
import { ensurePythonBooted } from "../python/boot.ts";
import type { ChildOutcome } from "../sandbox/child-protocol.ts";
import { type CompiledProgram, compileProgram } from "./compile.ts";
import { type ExecutionContext, type RunClock, type RunSettings, startClock } from "./context.ts";
import { invokeChild } from "./invoke.ts";
import { type CheckedProgram, checkProgramRequest } from "./request-check.ts";
import { compileFailureReply, httpReply, type RunReply, runReply } from "./respond.ts";
import { serveChild } from "./serve.ts";
import { type SpawnedRun, spawnRun } from "./spawn.ts";

/**
 * Runs one program from its request. `checked`: the request check's verdict when the caller ran
 * it already (before admission); otherwise the request is checked here, before any bundling.
 */
export async function executeProgram(
  body: ExecuteRequest,
  context: ExecutionContext,
  checked?: CheckedProgram,
): Promise<RunReply> {
  const clock = startClock("execute");
  const plan = checked ?? (await checkProgramRequest(body, context));
  let compiled: CompiledProgram;
  try {
    compiled = await compileProgram(body, context.server);
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    return compileFailureReply(err, clock, plan.limits);
  }
  return runCompiled(compiled, body, context, plan, clock);
}

/** Runs a compiled program once (its default function, script or `request`), from `clock`'s start. */
export async function runCompiled(
  compiled: CompiledProgram,
  settings: RunSettings,
  context: ExecutionContext,
  checked: CheckedProgram,
  clock: RunClock,
): Promise<RunReply> {
  const compiledAt = performance.now();
  const run = await spawnRun(compiled, settings, context, checked, clock.executionId);
  const outcome = await runInChild(run, compiled, context);
  return runReply(outcome, compiled, { clock, compiledAt, limits: run.limits }, context);
}

/** Serves one HTTP request with a compiled program's fetch handler. */
export async function serveCompiled(
  compiled: CompiledProgram,
  settings: RunSettings,
  context: ExecutionContext,
  checked: CheckedProgram,
  clock: RunClock,
  request: Request,
): Promise<{ response: Response; served: Awaited<ReturnType<typeof serveChild>> }> {
  const run = await spawnRun(compiled, settings, context, checked, clock.executionId);
  const served = await serveChild(run, request);
  return { response: httpReply(served, compiled, clock, context), served };
}

/** A Python child boots Pyodide in a call of its own first (python/boot.ts); a failed boot is the run's answer. */
async function runInChild(run: SpawnedRun, { bundle }: CompiledProgram, { server }: ExecutionContext) {
  const boot: ChildOutcome | undefined = bundle.python
    ? await ensurePythonBooted(
        run.oneOff ? undefined : run.isolateId,
        run.stub,
        run.call,
        server.pythonConcurrentBoots,
        run.platform,
      )
    : undefined;
  return boot && !boot.ok ? boot : invokeChild(run);
}
