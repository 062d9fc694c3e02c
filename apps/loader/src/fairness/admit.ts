/**
 * @module fairness/admit
 * Wraps an execution in its tenant's admission: 429 with Retry-After when the tenant is over
 * its rate or concurrency limit (never a dropped connection), the lease released afterwards.
 */
import { DwlHttpError } from "../errors.ts";
import { PARENT_TIMEOUT_GRACE_MS, type ServerLimits } from "../limits.ts";

/**
 * `waitUntil` (the request's) lets the release finish after the response is sent instead of
 * holding it for another Durable Object round trip; without it the release is awaited.
 */
export async function admitted<T>(env: Env, tenant: string, server: ServerLimits, work: () => Promise<T>, waitUntil?: (p: Promise<unknown>) => void): Promise<T> {
  const gate = env.TENANT_GATES.get(env.TENANT_GATES.idFromName(tenant));
  const admission = await gate.acquire({
    perMinute: server.ratePerMinute,
    concurrent: server.maxConcurrent,
    leaseMs: server.maxTimeoutMs + PARENT_TIMEOUT_GRACE_MS * 2,
  });
  if (!admission.ok) {
    const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const what = admission.reason === "rate" ? `more than ${server.ratePerMinute} executions per minute` : `more than ${server.maxConcurrent} executions at once`;
    throw new DwlHttpError(429, "rate_limited", `this tenant is running ${what}; retry in ${seconds} s`, undefined, { "retry-after": String(seconds) });
  }
  try {
    return await work();
  } finally {
    const release = gate.release(admission.lease).catch(() => {});
    if (waitUntil) waitUntil(release);
    else await release;
  }
}
