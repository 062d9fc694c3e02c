/**
 * @module supervision/cancel
 * Stops the runs of a supervised request whose client went away (the supervisor says so:
 * CANCEL_PATH). Cutting the connection to the runtime does not stop them: workerd goes on with a
 * run its caller dropped, to its end, effects and all. Each run of a supervised request registers
 * how to stop it while it is in the child (invoke.ts, serve.ts); the supervisor's notice calls
 * those of its token. Deployed, there is no supervisor and nothing registers.
 *
 * A notice may come before the run it is about registers (a client that leaves as it sends: the
 * notice and the request race to the loader on two connections), so a cancelled token is
 * remembered for CANCELLED_TOKEN_KEPT_MS, and a run that registers under it is stopped at once. A notice
 * reaches the loader only when workerd reads its sockets, which a run of in-process calls can put
 * off for as long as it lasts: effects let it read them every so often (io-turn.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { SUPERVISOR_SECRET_HEADER, SupervisedRequestTokenSchema } from "@dwl/protocol";
import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { CANCELLED_TOKEN_KEPT_MS } from "../limits.ts";
import { supervisorEndpoint } from "./supervisor-url.ts";

/** The token of the supervised request being handled (set by trackSupervisedRequest). */
export const supervisedRequest = new AsyncLocalStorage<string>();

/** Per token, how to stop each of its runs in a child now. */
const stoppers = new Map<string, Set<() => void>>();

/** Cancelled tokens, oldest first, with when they were cancelled. */
const cancelled = new Map<string, number>();
/** Cancel notices received so far (io-turn.ts gives one that came in a turn to act). */
let notices = 0;

/** How many cancel notices the loader has taken in (it only grows). */
export function cancelNotices(): number {
  return notices;
}

function remember(token: string, now: number): void {
  for (const [old, at] of cancelled) {
    if (now - at < CANCELLED_TOKEN_KEPT_MS) break;
    cancelled.delete(old);
  }
  cancelled.delete(token);
  cancelled.set(token, now);
}

/** Whether the current supervised request was cancelled (its client left): work for it may be skipped. */
export function currentRequestCancelled(): boolean {
  const token = supervisedRequest.getStore();
  return token !== undefined && cancelled.has(token);
}

/**
 * Calls `stop` (in the current request's context, where its stubs belong: the supervisor's notice
 * arrives as a request of its own, whose context may not use them) if the current supervised
 * request is cancelled before what it returns is called.
 */
export function whileRunning(stop: () => void): () => void {
  const token = supervisedRequest.getStore();
  if (token === undefined) return () => {};
  let set = stoppers.get(token);
  if (!set) stoppers.set(token, (set = new Set()));
  let resolve!: () => void;
  let done = false;
  new Promise<void>((r) => (resolve = r)).then(() => {
    if (!done) stop();
  });
  set.add(resolve);
  // Its request was cancelled before this run began: it is stopped as it starts (the harness
  // remembers a run stopped before it began: state.ts cancelRun).
  if (cancelled.has(token)) resolve();
  return () => {
    done = true;
    set.delete(resolve);
    if (set.size === 0 && stoppers.get(token) === set) stoppers.delete(token);
  };
}

/** POST CANCEL_PATH/:token — 204 once the token's runs were told to stop; 404 to anyone but the supervisor. */
export function cancelSupervisedRequest(c: Context<AppEnv>): Response {
  const endpoint = c.env.DWL_SUPERVISOR_URL ? supervisorEndpoint(c.env.DWL_SUPERVISOR_URL) : undefined;
  const secret = endpoint instanceof Error ? "" : (endpoint?.secret ?? "");
  const token = SupervisedRequestTokenSchema.safeParse(c.req.param("token"));
  if (secret === "" || !sameText(c.req.header(SUPERVISOR_SECRET_HEADER) ?? "", secret) || !token.success)
    return c.json({ error: { type: "not_found", message: `no route for POST ${c.req.path}` } }, 404);
  notices++;
  remember(token.data, Date.now());
  for (const stop of stoppers.get(token.data) ?? []) stop();
  return c.body(null, 204);
}

/** Compares in time that does not depend on where the texts differ (the secret is guessed otherwise). */
function sameText(given: string, expected: string): boolean {
  const encoder = new TextEncoder();
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  return a.byteLength === b.byteLength && crypto.subtle.timingSafeEqual(a, b);
}
