/**
 * @module run/pipeline
 * One run of a program, the same steps for every way in: request → check (run/request-check.ts)
 * → bundle (run/compile.ts) → spawn (run/spawn.ts) → call the child under the parent's deadline
 * (run/invoke.ts over RPC, run/serve.ts for a sandbox's HTTP request) → collect (run/respond.ts).
 * POST /execute and MCP `execute` start at the top; stored sandboxes start from their stored
 * bundle (sandboxes/service.ts).
 */
import type { ExecuteRequest, ExecutionError } from "@dwl/protocol";
import { CompileError } from "../compile-error.ts";
import { ensurePythonBooted } from "../python/boot.ts";
import { replacePythonChild } from "../python/generations.ts";
import { inOneOffPlace } from "../python/places.ts";
import type { ChildOutcome } from "../sandbox/child-protocol.ts";
import { type CompiledProgram, compileProgram } from "./compile.ts";
import { type ExecutionContext, startClock } from "./context.ts";
import { invokeChild } from "./invoke.ts";
import { type CheckedProgram, checkProgramRequest } from "./request-check.ts";
import { compileFailureReply, httpReply, type RunReply, runReply } from "./respond.ts";
import { type ServedRequest, serveChild } from "./serve.ts";
import { childRunOf, type ProgramRun, type SpawnedRun, spawnRun, pythonCheckRun } from "./spawn.ts";

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
  return runCompiled({ compiled, settings: body, context, checked: plan, clock });
}

/** Runs a compiled program once: its default function, its script, or its fetch handler with `request`. */
export async function runCompiled(run: ProgramRun): Promise<RunReply> {
  const compiledAt = performance.now();
  const spawned = await spawnRun(run);
  const outcome = await invokeSpawned(spawned, run);
  return runReply(outcome, run, compiledAt);
}

/** Serves one HTTP request with a compiled program's fetch handler. */
export async function serveCompiled(
  run: ProgramRun,
  request: Request,
): Promise<{ response: Response; served: ServedRequest }> {
  const served = await serveChild(childRunOf(await spawnRun(run)), request);
  return { response: httpReply(served, run), served };
}

/**
 * A Python program's compile failure, found by compiling its files in a Python child without
 * running anything (a sandbox's definition: the loader cannot parse Python itself); undefined when
 * it compiles, or when the check could not be made (the program's runs then report it). Only in
 * a warm child of the tenant (spawn.ts pythonCheckRun), booted once for all its programs: a write
 * neither boots a one-off child (~1.6 s of the runtime's thread, for up to 60 writes a minute,
 * outside the admission that bounds runs) nor takes a warm place its runs may never use.
 */
export async function pythonCompileFailure(
  run: ProgramRun,
): Promise<Extract<ExecutionError, { type: "compile" }> | undefined> {
  const checkRun = await pythonCheckRun(run);
  if (checkRun === undefined) return undefined;
  const spawned = await spawnRun(checkRun);
  // A child that became one-off meanwhile (its tenant's places taken) is neither created nor asked.
  if (!spawned.call.python || spawned.oneOff) return undefined;
  spawned.call.python = { ...spawned.call.python, check: true };
  const outcome = await invokeSpawned(spawned, checkRun);
  return !outcome.ok && outcome.error.type === "compile" ? outcome.error : undefined;
}

/**
 * A Python child boots Pyodide in a call of its own first (python/boot.ts); a failed boot is the
 * run's answer. A one-off child waits for a place (python/places.ts).
 */
async function invokeSpawned(spawned: SpawnedRun, { compiled, context }: ProgramRun): Promise<ChildOutcome> {
  if (!compiled.bundle.python) return invokeChild(childRunOf(spawned));
  // Inside the one-off place, for a one-off child: it is created only then.
  const bootAndRun = async (): Promise<ChildOutcome> => {
    const child = childRunOf(spawned);
    const boot = await ensurePythonBooted(
      spawned.oneOff ? undefined : spawned.isolateId,
      child.stub,
      child.call,
      context.server.pythonConcurrentBoots,
      child.platform,
    );
    return boot.ok ? await invokeChild(child) : boot;
  };
  if (spawned.oneOff) return inOneOffPlace(context.server, context.tenant, spawned.call.limits.timeoutMs, bootAndRun);
  const outcome = await bootAndRun();
  // The failed child keeps its warm place: workerd keeps the isolate, and its memory, regardless.
  if (!outcome.ok && outcome.replaceChild) replacePythonChild(spawned.isolateId);
  return outcome;
}
