/**
 * @module observability
 * One structured log line per execution for Workers Logs / `wrangler tail`: ids, outcome,
 * timings and sizes — never user code, input, results, log text or secrets.
 */
export interface ExecutionLogLine {
  executionId: string;
  tenant: string;
  kind: "execute" | "sandbox-execute" | "sandbox-http";
  shape?: string;
  outcome: "ok" | string;
  cached?: boolean;
  totalMs?: number;
  bundleMs?: number;
  runMs?: number;
  resultBytes?: number;
  logLines?: number;
  egressCalls?: number;
}

export function logExecution(line: ExecutionLogLine): void {
  console.log(JSON.stringify({ event: "dwl.execution", ...line }));
}
