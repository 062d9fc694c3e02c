/**
 * @module run/serve
 * Calls the harness's `fetch` with one HTTP request of a persistent sandbox, under the same
 * parent-side deadline as an RPC run (run/deadline.ts). The program's response streams back as
 * it made it; the harness reports the run's logs and any error in the `x-dwl-report` header,
 * read (and removed) here, the one place that parses it.
 */
import type { ExecutionError, LogEntry } from "@dwl/protocol";
import {
  type ChildServeProps,
  HARNESS_ENTRYPOINT,
  type HarnessEntrypoint,
  REPORT_HEADER,
} from "../sandbox/child-protocol.ts";
import { whileRunning } from "../supervision/cancel.ts";
import { withParentDeadline } from "./deadline.ts";
import { type ChildRun, countCallThreadUse } from "./invoke.ts";

/** The end of one HTTP request in the child, as the harness reports it. */
export interface HttpReport {
  logs: LogEntry[];
  runMs: number;
  /** The program's time by the clock until it answered (ChildReport `clockMs`). */
  clockMs?: number;
  error?: ExecutionError;
}

/** The program's response (without the report header), or the report's error. */
export type ServedRequest =
  | { report: HttpReport & { error: ExecutionError }; response: null }
  | { report: HttpReport & { error?: undefined }; response: Response };

export async function serveChild(child: ChildRun, request: Request): Promise<ServedRequest> {
  const { stub, call, platform } = child;
  const { timeoutMs } = call.limits;
  const entrypoint = stub.getEntrypoint(HARNESS_ENTRYPOINT, {
    props: { call, callerKey: call.callerKey } satisfies ChildServeProps,
    ...(platform ? { limits: platform } : {}),
  });
  // Until the answer begins: from then on the client is reading it, and a client that goes away
  // cancels the program's stream itself.
  const unregister = whileRunning(
    () =>
      void Promise.resolve((entrypoint as unknown as HarnessEntrypoint).cancel(call.callerKey, call.runId)).catch(
        () => {},
      ),
  );
  const sent = performance.now();
  const response = await withParentDeadline(entrypoint.fetch(request), timeoutMs, () => null).finally(unregister);
  if (response === null) return { report: { logs: [], runMs: 0, error: timedOut(timeoutMs) }, response: null };
  // A 504 whose report cannot be read is taken for a timeout too.
  const { error, ...report } = readReport(response) ?? {
    logs: [],
    runMs: 0,
    ...(response.status === 504 ? { error: timedOut(timeoutMs) } : {}),
  };
  countCallThreadUse(child, performance.now() - sent, report);
  if (error) return { report: { ...report, error }, response: null };
  const out = new Response(response.body, response);
  out.headers.delete(REPORT_HEADER);
  return { report, response: out };
}

function timedOut(timeoutMs: number): ExecutionError {
  return { type: "timeout", name: "TimeoutError", message: `the request was not answered within ${timeoutMs} ms` };
}

/** The harness's report on a response, or null when it is missing or unreadable. */
function readReport(response: Response): HttpReport | null {
  try {
    return JSON.parse(decodeURIComponent(response.headers.get(REPORT_HEADER) ?? "")) as HttpReport;
  } catch {
    return null;
  }
}
