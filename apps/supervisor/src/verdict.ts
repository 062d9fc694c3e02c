/**
 * @module verdict
 * The answer for the request that took the runtime down: for an execution, a normal
 * `ok: false` response (memory_limit after a heap crash, cpu_limit after the watchdog killed a
 * hung runtime), so clients handle it like any other failed run.
 */
import { randomUUID } from "node:crypto";
import type { ExecuteResponse } from "@dwl/protocol";
import type { CrashCause } from "./runtime.ts";
import type { BufferedRequest, BufferedResponse } from "./upstream.ts";

const EXECUTION_PATH = /^\/(execute|sandboxes\/[^/]+\/execute)(\?|$)/;

/**
 * A request that runs a program and that the loader's per-tenant admission may answer with 429
 * (MCP tool calls are refused inside a 200 JSON-RPC answer instead).
 */
export function isExecution(request: Pick<BufferedRequest, "method" | "path">): boolean {
  return (request.method === "POST" && EXECUTION_PATH.test(request.path)) || /^\/sandboxes\/[^/]+\/http(\/|\?|$)/.test(request.path);
}

export interface VerdictContext {
  cause: CrashCause;
  heapLimitMb: number;
  maxResidentMb: number;
  watchdogMs: number;
  elapsedMs: number;
}

function describe({ cause, heapLimitMb, maxResidentMb, watchdogMs }: VerdictContext): { type: "memory_limit" | "cpu_limit" | "runtime"; name: string; message: string } {
  if (cause === "memory") {
    return {
      type: "memory_limit",
      name: "MemoryLimitError",
      message: `the program exhausted its memory (local limits: ${heapLimitMb} MB of JavaScript heap per isolate, ${maxResidentMb} MB for the runtime); the runtime was restarted`,
    };
  }
  if (cause === "hang") {
    return {
      type: "cpu_limit",
      name: "CpuLimitError",
      message: `the runtime stopped responding for over ${watchdogMs} ms in work that metering cannot interrupt (a long native operation); it was restarted`,
    };
  }
  return { type: "runtime", name: "RuntimeCrash", message: "the runtime crashed while running this program; it was restarted" };
}

export function verdictFor(request: BufferedRequest, context: VerdictContext): BufferedResponse {
  const error = describe(context);
  if (request.method === "POST" && EXECUTION_PATH.test(request.path)) {
    const body: ExecuteResponse = {
      ok: false,
      error,
      logs: [],
      egress: [],
      timing: { totalMs: context.elapsedMs, bundleMs: 0, startMs: 0, runMs: context.elapsedMs, cached: false },
      executionId: randomUUID(),
    };
    return { status: 200, headers: [["content-type", "application/json; charset=utf-8"]], body: Buffer.from(JSON.stringify(body)) };
  }
  const body = { error: { type: "internal", message: `${error.message} (${error.type})` } };
  return { status: 502, headers: [["content-type", "application/json; charset=utf-8"]], body: Buffer.from(JSON.stringify(body)) };
}
