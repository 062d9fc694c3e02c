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
