/**
 * @module execute
 * The execution pipeline shared by every way of running a program (POST /execute now; sandboxes
 * and MCP later): bundle (cached) → spawn a child isolate → run → collect one response.
 */
import type { ExecuteRequest, ExecutionError } from "@dwl/protocol";
import { bundleProgram, USER_MODULE } from "./bundle/bundle.ts";
import { BundleCache } from "./bundle/cache.ts";
import { CompileError } from "./bundle/compile-error.ts";
import { clampLimits, DEFAULT_NAMESPACE, FUEL_PER_CPU_MS, type ServerLimits } from "./limits.ts";
import { runEgress } from "./egress/run-egress.ts";
import { programSource } from "./program-source.ts";
import type { ChildOutcome } from "./sandbox/child-protocol.ts";
import { isolateIdFor, loadChild } from "./sandbox/load.ts";
import { runInChild } from "./sandbox/run.ts";
import { mapStack, traceMapFor } from "./sandbox/stack.ts";

/** One per loader isolate: bundles are reused across requests and tenants (same code, same bundle). */
const bundles = new BundleCache();

export interface ExecutionContext {
  env: Env;
  tenant: string;
  server: ServerLimits;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Runs one program and returns the response body as JSON text. The result is spliced in as the
 * child encoded it, so a large result is never parsed and re-encoded by the loader.
 */
export async function executeProgram(body: ExecuteRequest, { env, tenant, server }: ExecutionContext): Promise<string> {
  const started = performance.now();
  const executionId = crypto.randomUUID();
  const limits = clampLimits(body.limits, server);
  const egress = await runEgress(body.egress, tenant, env, executionId);
  const metered = server.cpuEnforcement !== "platform";
  const source = await programSource(body, metered);

  let bundled;
  try {
    bundled = await bundles.getOrBuild(source.key, () => bundleProgram(source));
  } catch (err) {
    if (!(err instanceof CompileError)) throw err;
    const bundleMs = round(performance.now() - started);
    const error: ExecutionError = { type: "compile", name: "CompileError", message: err.message, ...(err.location ? { location: err.location } : {}) };
    return JSON.stringify({
      ok: false,
      error,
      logs: [],
      egress: [],
      timing: { totalMs: bundleMs, bundleMs, startMs: 0, runMs: 0, cached: false },
      executionId,
      limits,
    });
  }
  const bundleDone = performance.now();
  const { bundle, cached } = bundled;

  const scope = { tenant, namespace: body.storage?.namespace ?? DEFAULT_NAMESPACE, egress: egress.scope };
  const isolateId = await isolateIdFor(source.key, scope);
  const stub = loadChild(env.LOADER, isolateId, bundle, scope, server);
  const outcome: ChildOutcome = await runInChild(stub, {
    shape: bundle.shape,
    input: body.input ?? null,
    ...(body.request ? { request: body.request } : {}),
    limits,
    secrets: egress.secrets,
    runToken: egress.runToken,
    fuel: metered ? limits.cpuMs * FUEL_PER_CPU_MS : null,
    maxResultBytes: server.maxResultBytes,
    maxLogLines: server.maxLogLines,
    maxLogBytes: server.maxLogBytes,
  }, server.cpuEnforcement === "instrument" ? undefined : { cpuMs: limits.cpuMs, subRequests: limits.subRequests });
  const finished = performance.now();

  const callMs = finished - bundleDone;
  const timing = {
    totalMs: round(finished - started),
    bundleMs: round(bundleDone - started),
    startMs: round(Math.max(0, callMs - outcome.runMs)),
    runMs: round(Math.min(outcome.runMs, callMs)),
    cached,
  };
  const rest = { logs: outcome.logs, ...(outcome.logsTruncated ? { logsTruncated: true } : {}), egress: outcome.egress, timing, executionId, limits };
  if (outcome.ok) return `{"ok":true,"result":${outcome.result},${JSON.stringify(rest).slice(1)}`;

  const error = outcome.error;
  if (error.stack) error.stack = mapStack(error.stack, traceMapFor(bundle, bundle.map), USER_MODULE);
  return JSON.stringify({ ok: false, error, ...rest });
}
