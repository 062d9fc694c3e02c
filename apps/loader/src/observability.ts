/**
 * @module observability
 * One structured log line per execution for Workers Logs / `wrangler tail`: ids, outcome,
 * timings and sizes — never user code, input, results, log text or secrets.
 *
 * With `flushMs` > 0 the lines are written in batches, one `console.log` per batch with one JSON
 * line per execution. Why: under `wrangler dev` every console call in the loader goes through
 * the inspector to wrangler, about 1.2 ms and a fifth of warm throughput per call (measured with
 * bench/run.mjs --only=classic); local mode batches every 100 ms by default (DWL_LOG_FLUSH_MS).
 * Deployed, each line is written at once (Workers Logs indexes one entry per call).
 */
import { waitUntil } from "cloudflare:workers";
import { MAX_BATCHED_LINES } from "./limits.ts";

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

let batch: string[] | undefined;

function flush(): void {
  const lines = batch;
  batch = undefined;
  if (lines?.length) console.log(lines.join("\n"));
}

export function logExecution(line: ExecutionLogLine, flushMs = 0): void {
  const text = JSON.stringify({ event: "dwl.execution", ...line });
  if (flushMs <= 0) {
    console.log(text);
    return;
  }
  if (batch) {
    batch.push(text);
    if (batch.length >= MAX_BATCHED_LINES) flush();
    return;
  }
  batch = [text];
  // The request that opens a batch keeps itself alive until the batch is written.
  waitUntil(scheduler.wait(flushMs).then(flush));
}
