/**
 * @module supervision/effects
 * Effect notices to the local supervisor (packages/protocol/src/supervision.ts). The supervisor
 * may resend a request that died with the runtime only if it provably had no side effect yet, so
 * before the first side effect the loader tells it — and waits for its answer — that the request
 * can no longer be replayed. Deployed, `DWL_SUPERVISOR_URL` is unset and all of this costs a
 * property read.
 *
 * Attribution is by tenant, on purpose. The capabilities a program writes through (ScopedKv,
 * ScopedFiles, the egress gateway, operator tools) get per-isolate props, and a warm isolate
 * serves every run of the same program, so the loader cannot tell which run an effect belongs
 * to. Any effect of a tenant therefore marks every supervised request of that tenant still being
 * handled as effectful. Over-marking only turns a would-be replay into a `runtime_restarted`
 * error; under-marking would run a program twice, which is what this exists to prevent.
 *
 * The state is per loader isolate: locally (the only place a supervisor exists) workerd runs the
 * app, its loopback entrypoints and its Durable Objects in one isolate, so the middleware and the
 * capabilities see the same maps.
 */
import {
  type EffectNotice,
  MAX_TOKENS_PER_NOTICE,
  SUPERVISED_REQUEST_HEADER,
  SupervisedRequestTokenSchema,
} from "@dwl/protocol";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { EFFECT_NOTICE_TIMEOUT_MS } from "../limits.ts";
import { supervisedRequest } from "./cancel.ts";
import { ioTurn } from "./io-turn.ts";
import { supervisorEndpoint } from "./supervisor-url.ts";

/** Thrown instead of performing an effect the supervisor has not recorded. */
export class EffectNoticeError extends Error {
  constructor(detail: string) {
    super(`the local supervisor could not record this side effect; it was not performed (${detail})`);
    this.name = "EffectNoticeError";
  }
}

/** Tokens of the supervised requests each tenant has in flight. */
const active = new Map<string, Set<string>>();
/** Per token, the notice that reports it (pending or done): a token is reported at most once. */
const notices = new Map<string, Promise<void>>();

/**
 * Middleware (after auth): the request's supervisor token, if any, is active for its tenant
 * until the handler returns. A streaming response may outlive that; the supervisor never replays
 * a request whose response head it has sent, so nothing is lost.
 */
export const trackSupervisedRequest: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = c.env.DWL_SUPERVISOR_URL
    ? SupervisedRequestTokenSchema.safeParse(c.req.header(SUPERVISED_REQUEST_HEADER))
    : undefined;
  if (!token?.success) return next();
  const tenant = c.get("tenant");
  let tokens = active.get(tenant);
  if (!tokens) active.set(tenant, (tokens = new Set()));
  tokens.add(token.data);
  try {
    await supervisedRequest.run(token.data, next);
  } finally {
    tokens.delete(token.data);
    if (tokens.size === 0 && active.get(tenant) === tokens) active.delete(tenant);
    notices.delete(token.data);
  }
};

async function postNotice(url: string, requests: string[]): Promise<void> {
  const body: EffectNotice = { requests };
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(EFFECT_NOTICE_TIMEOUT_MS),
    });
  } catch (err) {
    throw new EffectNoticeError(`POST ${url} failed: ${(err as Error).message}`);
  }
  await response.body?.cancel();
  if (!response.ok) throw new EffectNoticeError(`POST ${url} answered ${response.status}`);
}

/**
 * Call right before a side effect of `tenant` (a storage write, an egress request, a tool call):
 * returns once the supervisor has recorded every supervised request of the tenant in flight, and
 * throws EffectNoticeError when it could not, so the caller does not perform the effect.
 * Concurrent callers share one notice per token; a failed notice is forgotten, so the next effect
 * asks again rather than failing for the rest of the request. An effect that comes after a long
 * chain of in-process calls first lets the runtime read its sockets (io-turn.ts), where a cancel
 * of its request may be waiting; `ctx` (the caller's) keeps the timer that tells alive.
 */
export async function beforeSideEffect(
  env: Pick<Env, "DWL_SUPERVISOR_URL">,
  tenant: string,
  ctx?: Pick<ExecutionContext, "waitUntil">,
): Promise<void> {
  const raw = env.DWL_SUPERVISOR_URL;
  if (!raw) return;
  const tokens = active.get(tenant);
  if (!tokens || tokens.size === 0) return;
  const turn = ioTurn(ctx);
  if (turn) await turn;
  const endpoint = supervisorEndpoint(raw);
  if (endpoint instanceof Error) throw new EffectNoticeError(endpoint.message);
  const url = endpoint.effectsUrl;
  const waits: Promise<void>[] = [];
  const fresh: string[] = [];
  for (const token of tokens) {
    const notice = notices.get(token);
    if (notice) waits.push(notice);
    else fresh.push(token);
  }
  for (let i = 0; i < fresh.length; i += MAX_TOKENS_PER_NOTICE) {
    const batch = fresh.slice(i, i + MAX_TOKENS_PER_NOTICE);
    const notice = postNotice(url, batch);
    for (const token of batch) notices.set(token, notice);
    notice.catch(() => {
      for (const token of batch) if (notices.get(token) === notice) notices.delete(token);
    });
    waits.push(notice);
  }
  await Promise.all(waits);
}
