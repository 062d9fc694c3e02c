/**
 * @module entrypoint
 * The harness's RPC surface: the `Run` entrypoint the loader calls (run/invoke.ts `run`, and
 * `fetch` for a persistent sandbox's HTTP requests, run/serve.ts), and the module's
 * default export, which serves nothing.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import type { EgressRecord, ExecutionError, LogEntry } from "@dwl/protocol";
import {
  CALLER_KEY_PLACEHOLDER,
  type ChildCall,
  type ChildOutcome,
  type ChildServeProps,
  type HarnessEntrypoint,
  MAX_REPORT_CHARS,
  REPORT_HEADER,
} from "../child-protocol.ts";
import { envFor } from "./capabilities.ts";
import { closeSlice } from "./clock.ts";
import { backgroundCutWarning, backgroundSettled, unawaitedCallsWarning } from "./background.ts";
import { ChildLostError, timeoutMessage } from "./errors.ts";
import { endedOverBudget } from "./fuel.ts";
import { arraySlice, mathCeil, now, roundMs, startTimer, stopTimer, stringify } from "./intrinsics.ts";
import { childLostBy, hasFetchHandler, invoke, programContext, programModule } from "./program.ts";
import { describeError, encodeResponse, encodeResult, httpResponse } from "./result.ts";
import { cancelRun, runWith, newRun, type RunEnd, type RunState, settled } from "./state.ts";

/**
 * Only the loader may start a run: it bakes this per-isolate key into the module text (see
 * sandbox/load.ts) and sends it with every call. A program can reach the Run entrypoint (through
 * cloudflare:workers exports or by importing this module) but cannot name the key: it appears in
 * no function's source text (a module-scope constant; build-harness.mjs checks it appears once).
 */
const CALLER_KEY: string = CALLER_KEY_PLACEHOLDER;

/** The end of a sandbox request, reported to the loader in a header (URI-encoded JSON, cut to fit). */
interface ServeReport {
  logs: LogEntry[];
  egress: EgressRecord[];
  runMs: number;
  clockMs: number;
  error?: ExecutionError;
}

function reportHeader(report: ServeReport): string {
  let logs = report.logs;
  for (;;) {
    const encoded = encodeURIComponent(stringify({ ...report, logs }));
    if (encoded.length <= MAX_REPORT_CHARS || logs.length === 0) return encoded.slice(0, MAX_REPORT_CHARS);
    logs = arraySlice(logs, mathCeil(logs.length / 2));
  }
}

/**
 * What the run held the thread for so far: its time by the clock (clock.ts), its slices closed,
 * and its program module's evaluation if it imported it first.
 */
function clockTotal(run: RunState): number {
  closeSlice(run);
  return roundMs(run.clockMs + run.moduleMs);
}

/** A run's answer, before its logs and timings are added (ChildOutcome). */
type SettledRun = { ok: true; result: string } | { ok: false; error: ExecutionError; replaceChild?: true };

const timeoutError = (what: string, timeoutMs: number): ExecutionError => ({
  type: "timeout",
  name: "TimeoutError",
  message: timeoutMessage(what, timeoutMs),
});

/** Entry point the loader calls over RPC. Per-run settings arrive as the argument. */
export class Run
  extends WorkerEntrypoint<Record<string, unknown>, Partial<ChildServeProps> | undefined>
  implements HarnessEntrypoint
{
  /**
   * Serves one HTTP request of a persistent sandbox with the program's fetch handler; per-run
   * settings arrive in the entrypoint's props. The response streams back as the program made it;
   * logs and any error travel in the x-dwl-report header, which the loader removes.
   */
  override async fetch(request: Request): Promise<Response> {
    const call = this.ctx.props?.call;
    if (!call || this.ctx.props?.callerKey !== CALLER_KEY)
      return new Response("DWL child isolate: nothing to serve", { status: 404 });
    const started = now();
    const run = newRun(call, started);
    const outcome = await runWith(run, () => this.#serve(run, call, request));
    const { logs } = run.logs.toJSON();
    const runMs = roundMs(now() - started);
    const clockMs = clockTotal(run);
    if (outcome.response) {
      // A HEAD's answer has no body: handed one, the runtime read it to its end before the
      // headers went (a 10 s stream held a HEAD for 10 s; longer ones ended as timeouts).
      const head = request.method === "HEAD";
      if (head) outcome.response.body?.cancel().catch(() => {});
      const response = new Response(head ? null : outcome.response.body, outcome.response);
      response.headers.set(REPORT_HEADER, reportHeader({ logs, egress: run.egress, runMs, clockMs }));
      return response;
    }
    return new Response(null, {
      status: 500,
      headers: { [REPORT_HEADER]: reportHeader({ logs, egress: run.egress, runMs, clockMs, error: outcome.error }) },
    });
  }

  async #serve(
    run: RunState,
    call: ChildCall,
    request: Request,
  ): Promise<{ response: Response; error?: undefined } | { response?: undefined; error: ExecutionError }> {
    let timer: ReturnType<typeof startTimer> | undefined;
    const ended = new Promise<RunEnd>((resolve) => {
      run.ended = resolve;
      timer = startTimer(() => resolve({ kind: "timeout" }), call.limits.timeoutMs);
    });
    try {
      const serve = (async () => {
        const program = await programModule();
        if (!hasFetchHandler(program)) {
          throw new TypeError(
            "this sandbox's program has no fetch handler: export default { fetch(request, env, ctx) { … } }",
          );
        }
        const response = await program.fetch(request, envFor(this.env, call.secrets), programContext());
        return { kind: "response" as const, response: httpResponse(response) };
      })();
      const done = await Promise.race([serve, ended]);
      if (done.kind === "response") endedOverBudget(run);
      // A "failed" end always comes with run.failure set (state.ts failRun).
      if (run.failure || done.kind === "failed") return { error: describeError(run.failure, run) };
      if (done.kind === "timeout") {
        return { error: timeoutError("the request was not answered", call.limits.timeoutMs) };
      }
      return { response: done.response };
    } catch (err) {
      return { error: describeError(run.failure ?? err, run) };
    } finally {
      // Set synchronously by the Promise executor above.
      stopTimer(timer!);
      settled(run);
    }
  }

  cancel(callerKey: string, runId: string): void {
    if (callerKey !== CALLER_KEY) throw new TypeError("runs are stopped by the loader only");
    cancelRun(runId);
  }

  async run(call: ChildCall | undefined): Promise<ChildOutcome> {
    if (call?.callerKey !== CALLER_KEY) throw new TypeError("runs are started by the loader only");
    const started = now();
    const run = newRun(call, started);
    const outcome = await runWith(run, () => this.#settle(run, call));
    const { logs, truncated } = run.logs.toJSON();
    const runMs = roundMs(now() - started);
    return { ...outcome, logs, logsTruncated: truncated, egress: run.egress, runMs, clockMs: clockTotal(run) };
  }

  async #settle(run: RunState, call: ChildCall): Promise<SettledRun> {
    const answer = await this.#answer(run, call);
    // The child died during this run after the run had failed some other way (its deep recursion
    // reached the CPU limit first, then overflowed the C stack): this run gets that failure, and
    // the loader replaces the child before the next run, which was failed by it otherwise.
    const lost = childLostBy();
    if (lost === undefined || (!answer.ok && answer.replaceChild)) return answer;
    return { ok: false, error: describeError(lost, run), replaceChild: true };
  }

  async #answer(run: RunState, call: ChildCall): Promise<SettledRun> {
    let timer: ReturnType<typeof startTimer> | undefined;
    const ended = new Promise<RunEnd>((resolve) => {
      run.ended = resolve;
      timer = startTimer(() => resolve({ kind: "timeout" }), call.limits.timeoutMs);
    });
    try {
      const done = await Promise.race([invoke(call, envFor(this.env, call.secrets), ended), ended]);
      if (done.kind !== "timeout") endedOverBudget(run);
      // A "failed" end always comes with run.failure set (state.ts failRun).
      if (run.failure || done.kind === "failed") return { ok: false, error: describeError(run.failure, run) };
      if (done.kind === "timeout") {
        return { ok: false, error: timeoutError("the program did not finish", call.limits.timeoutMs) };
      }
      let result: string;
      if (done.kind === "response") {
        // The body is read under the same deadline (a body that never ends is a timeout).
        const encoded = await Promise.race([encodeResponse(done.response, call.maxResultBytes), ended]);
        if (run.failure) return { ok: false, error: describeError(run.failure, run) };
        if ("kind" in encoded) {
          // A "failed" end always comes with run.failure set, so this is the deadline.
          (done.response as Response).body?.cancel().catch(() => {});
          return { ok: false, error: timeoutError("the response body was not complete", call.limits.timeoutMs) };
        }
        result = stringify(encoded);
      } else {
        result = encodeResult(done.value, call.maxResultBytes, (message) => run.logs.add("warn", [message]));
      }
      // What the program left running (calls to env, waitUntil work) finishes before the answer.
      const unawaited = run.background.calls;
      const drained = await Promise.race([backgroundSettled(run), ended]);
      if (run.failure) return { ok: false, error: describeError(run.failure, run) };
      if (drained !== undefined) run.logs.add("warn", [backgroundCutWarning(run, call.limits.timeoutMs)]);
      else if (unawaited > 0) run.logs.add("warn", [unawaitedCallsWarning(unawaited)]);
      // A call to env failed: the runtime reports a rejection nothing handled only after a
      // macrotask, and one the program did not await must reach its logs (rejections.ts), not
      // vanish with a result that looks like success. Only then: a turn costs a run 1–3 ms.
      if (run.background.failed > 0) await new Promise((resolve) => startTimer(resolve, 0));
      return { ok: true, result };
    } catch (err) {
      const error = describeError(run.failure ?? err, run);
      return err instanceof ChildLostError ? { ok: false, error, replaceChild: true } : { ok: false, error };
    } finally {
      // Set synchronously by the Promise executor above.
      stopTimer(timer!);
      settled(run);
    }
  }
}

export default {
  fetch(): Response {
    return new Response("DWL child isolate: call the Run entrypoint over RPC", { status: 404 });
  },
};
