/**
 * @module supervision
 * The wire between the local supervisor (`npm run dev`, apps/supervisor) and the loader it runs.
 * Deployed, no supervisor exists and none of this is used.
 *
 * The supervisor never runs a program twice. To know which runs it may still resend after the
 * runtime went down, the loader tells it — before the first side effect of each request, and
 * waiting for the answer — that this request can no longer be replayed invisibly.
 */
import { z } from "zod";

/**
 * Set by the supervisor on every request it forwards (any value a client sent is replaced): an
 * opaque token naming that request in effect notices.
 */
export const SUPERVISED_REQUEST_HEADER = "x-dwl-supervised-request";

/** Tokens the supervisor mints: short, URL- and header-safe. */
export const SupervisedRequestTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

/**
 * `POST <DWL_SUPERVISOR_URL>/effects`: these requests are about to have a side effect (a storage
 * write, an egress request, a tool call). The supervisor answers 204 once it has recorded them;
 * only then may the effect happen.
 */
export const MAX_TOKENS_PER_NOTICE = 1000;
export const EffectNoticeSchema = z.object({
  requests: z.array(SupervisedRequestTokenSchema).min(1).max(MAX_TOKENS_PER_NOTICE),
});
export type EffectNotice = z.infer<typeof EffectNoticeSchema>;

/**
 * Set by the loader on its answer to a supervised sandbox request (`/sandboxes/:id/execute`,
 * `/sandboxes/:id/http/*`): the CPU budget (`limits.cpuMs`, as clamped) each run of that
 * sandbox has. The supervisor weighs the sandbox's next requests by it when it admits them (a
 * sandbox's limits are stored with it, not sent with each request) and removes it from the
 * answer.
 */
export const RUN_CPU_BUDGET_HEADER = "x-dwl-run-cpu-ms";

/**
 * Set by the loader, beside RUN_CPU_BUDGET_HEADER, on its answer to a supervised request that
 * created or updated a sandbox: that sandbox's id. Its next requests are weighed by the budget
 * from the start (unknown, each would take its key's whole share: one at a time). Removed from
 * the answer by the supervisor.
 */
export const DEFINED_SANDBOX_HEADER = "x-dwl-defined-sandbox";

/**
 * Set by the loader on its answer to every supervised request that did work on the runtime's
 * thread: how long, in ms, that work held it before the answer began (bundling a program that
 * was not cached, and each run's time by the harness's clock). Under workerd every isolate shares
 * one thread, so the supervisor admits a key's runs by what its recent ones took (a flood of
 * computing runs would otherwise hold another key's run behind all of them). Removed from the
 * answer by the supervisor.
 */
export const THREAD_USE_HEADER = "x-dwl-thread-ms";

/**
 * `POST <CANCEL_PATH>/<token>` on the runtime, from the supervisor: the client of that request
 * went away before its answer began, so the loader stops the request's runs (their next check
 * throws; what they would still do never happens). Only the supervisor may send it: the
 * SUPERVISOR_SECRET_HEADER carries the secret path segment of DWL_SUPERVISOR_URL.
 */
export const CANCEL_PATH = "/_dwl/cancel";
export const SUPERVISOR_SECRET_HEADER = "x-dwl-supervisor-secret";
