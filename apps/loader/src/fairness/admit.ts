/**
 * @module fairness/admit
 * Wraps an execution in its tenant's admission: over the tenant's rate or concurrency it waits
 * its turn (fairness/ledger.ts), and gets 429 with Retry-After only when that wait would be too
 * long or too many already wait (never a dropped connection); the lease released afterwards.
 *
 * Where the ledger lives is `server.admission`: "durable-object" (one TenantGate per tenant:
 * global across loader instances, the default when deployed) or "isolate" (this loader
 * isolate's memory: exact when one isolate serves everything, as under `wrangler dev`, the
 * default in local mode). The Durable Object round trips cost about 1.6 ms per execution under
 * `wrangler dev` and a fifth of warm throughput (bench/results.md).
 */
import { DwlHttpError } from "../errors.ts";
import { PARENT_TIMEOUT_GRACE_MS, type ServerLimits } from "../limits.ts";
import { AdmissionLedger, type Admission, type GateLimits } from "./ledger.ts";

interface Gate {
  acquire(limits: GateLimits): Admission | Promise<Admission>;
  release(lease: string): void | Promise<void>;
}

/** In-isolate ledgers, one per tenant seen by this isolate (tenants are the configured keys). */
const isolateLedgers = new Map<string, AdmissionLedger>();

function gateFor(env: Env, tenant: string, server: ServerLimits): Gate {
  if (server.admission === "isolate") {
    let ledger = isolateLedgers.get(tenant);
    if (!ledger) isolateLedgers.set(tenant, (ledger = new AdmissionLedger()));
    return ledger;
  }
  return env.TENANT_GATES.get(env.TENANT_GATES.idFromName(tenant));
}

export interface AdmittedOptions {
  /**
   * The request's own: lets the release finish after the response is sent instead of holding it
   * for another Durable Object round trip; without it the release is awaited.
   */
  waitUntil?: (p: Promise<unknown>) => void;
  /**
   * The run's wall-clock timeout, when known before it starts (`limits.timeoutMs`): it waits no
   * longer than that for its turn, and a longer expected wait is refused at once.
   */
  timeoutMs?: number;
}

export async function admitted<T>(
  env: Env,
  tenant: string,
  server: ServerLimits,
  work: () => Promise<T>,
  { waitUntil, timeoutMs }: AdmittedOptions = {},
): Promise<T> {
  const gate = gateFor(env, tenant, server);
  const ownTimeout = timeoutMs !== undefined && timeoutMs < server.admissionMaxWaitMs;
  const maxWaitMs = ownTimeout ? timeoutMs : server.admissionMaxWaitMs;
  const admission = await gate.acquire({
    perMinute: server.ratePerMinute,
    concurrent: server.maxConcurrent,
    leaseMs: server.maxTimeoutMs + PARENT_TIMEOUT_GRACE_MS * 2,
    maxWaitMs,
    queueMax: server.admissionQueue,
  });
  if (!admission.ok) {
    const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const wait = `the wait for a turn would be longer than ${ownTimeout ? `the run's limits.timeoutMs (${maxWaitMs} ms)` : `${maxWaitMs} ms`}`;
    const why = {
      rate: `this tenant is starting more than ${server.ratePerMinute} executions per minute and ${wait}`,
      concurrency: `this tenant is running more than ${server.maxConcurrent} executions at once and ${wait}`,
      queue: `this tenant already has ${server.admissionQueue} executions waiting for a turn`,
    }[admission.reason];
    throw DwlHttpError.of("rate_limited", `${why}; retry in ${seconds} s`, undefined, {
      "retry-after": String(seconds),
    });
  }
  try {
    return await work();
  } finally {
    const release = Promise.resolve()
      .then(() => gate.release(admission.lease))
      .catch(() => {});
    if (waitUntil) waitUntil(release);
    else await release;
  }
}
