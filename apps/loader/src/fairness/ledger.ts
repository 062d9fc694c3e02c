/**
 * @module fairness/ledger
 * One tenant's admission state: a token bucket (rate), a set of leases (concurrency) and the
 * requests waiting for either. Pure bookkeeping, so the same rules run in the TenantGate Durable
 * Object (global, when deployed) and in the loader isolate's memory (local mode).
 *
 * A burst is queued, not refused: a request over the tenant's rate or concurrency waits for a
 * token or a released lease, in arrival order. It is refused (429) only when its expected wait is
 * longer than `maxWaitMs` (a run may not wait longer than the longest timeout), when `queueMax`
 * requests already wait, or when it has waited `maxWaitMs` after all; the refusal carries the
 * expected wait as its retry time.
 */
export interface GateLimits {
  /** Executions admitted per minute (bucket refill), bursting up to the same number. */
  perMinute: number;
  /** Executions running at once. */
  concurrent: number;
  /** A lease not released within this long is considered finished. */
  leaseMs: number;
  /** The longest a request waits for its turn; 0 (or absent): it never waits. */
  maxWaitMs?: number;
  /** Requests waiting at once (each holds its parsed request meanwhile); 0 (or absent): none wait. */
  queueMax?: number;
}

export type Refusal = { ok: false; reason: "rate" | "concurrency" | "queue"; retryAfterMs: number };
export type Admission = { ok: true; lease: string } | Refusal;

interface Waiter {
  limits: GateLimits;
}

/** How often the first waiter checks for room, ms; the n-th checks n times less often, up to MAX_POLL_MS. */
const POLL_MS = 5;
const MAX_POLL_MS = 250;

/** Lease durations measured before a concurrency wait is predicted from their median. */
const HOLD_SAMPLES = 15;

export class AdmissionLedger {
  private tokens = -1;
  private refilledAt = 0;
  private readonly leases = new Map<string, { startedAt: number; expires: number }>();
  private readonly waiters: Waiter[] = [];
  private readonly holdsMs: number[] = [];

  /** A lease now, or once the tenant has room (see the module comment), or a refusal. */
  acquire(limits: GateLimits, now = Date.now()): Admission | Promise<Admission> {
    const atOnce = this.waiters.length === 0 ? this.tryAcquire(limits, now) : this.refusalNow(limits, now);
    if (atOnce.ok || !limits.maxWaitMs || !limits.queueMax) return atOnce;
    const expectedMs = this.expectedWaitMs(limits, atOnce);
    if (this.waiters.length >= (limits.queueMax ?? 0))
      return { ok: false, reason: "queue", retryAfterMs: Math.max(atOnce.retryAfterMs, expectedMs ?? 0) };
    if (expectedMs !== undefined && expectedMs > limits.maxWaitMs) return { ...atOnce, retryAfterMs: expectedMs };
    return this.wait(limits, atOnce);
  }

  /**
   * Each waiter checks its own turn on its own timer instead of being woken by a release: in a
   * stateless Worker (the in-isolate ledger) the release comes from another request, and a
   * promise resolved across requests does not resume the waiting one. The head of the queue
   * checks every few ms; those further back less often.
   */
  private async wait(limits: GateLimits, refusal: Refusal): Promise<Admission> {
    const waiter: Waiter = { limits };
    this.waiters.push(waiter);
    const until = Date.now() + (limits.maxWaitMs ?? 0);
    try {
      for (;;) {
        const position = this.waiters.indexOf(waiter);
        await new Promise((r) => setTimeout(r, Math.min(POLL_MS * (position + 1), MAX_POLL_MS)));
        const now = Date.now();
        if (this.waiters[0] === waiter) {
          const admission = this.tryAcquire(limits, now);
          if (admission.ok) return admission;
        }
        if (now >= until) return { ...refusal, retryAfterMs: 1_000 };
      }
    } finally {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
    }
  }

  release(lease: string, now = Date.now()): void {
    const held = this.leases.get(lease);
    if (!held) return;
    this.leases.delete(lease);
    this.holdsMs.push(now - held.startedAt);
    if (this.holdsMs.length > HOLD_SAMPLES) this.holdsMs.shift();
  }

  /** Requests waiting (for tests). */
  get queued(): number {
    return this.waiters.length;
  }

  /** Why a request arriving behind waiters cannot go first (it never overtakes them). */
  private refusalNow(limits: GateLimits, now: number): Refusal {
    this.refill(limits, now);
    if (this.leases.size >= limits.concurrent) return { ok: false, reason: "concurrency", retryAfterMs: 1_000 };
    return {
      ok: false,
      reason: "rate",
      retryAfterMs: Math.ceil(Math.max(0, 1 - this.tokens) / (limits.perMinute / 60_000)),
    };
  }

  private refill(limits: GateLimits, now: number): void {
    for (const [lease, { expires }] of this.leases) if (expires <= now) this.leases.delete(lease);
    if (this.tokens < 0) {
      this.tokens = limits.perMinute;
      this.refilledAt = now;
    }
    this.tokens = Math.min(limits.perMinute, this.tokens + (now - this.refilledAt) * (limits.perMinute / 60_000));
    this.refilledAt = now;
  }

  /**
   * This request's wait behind the ones already waiting: by the bucket's refill when the rate is
   * the bound; by the median measured lease time when concurrency is (undefined until measured).
   */
  private expectedWaitMs(limits: GateLimits, refusal: Refusal): number | undefined {
    const position = this.waiters.length + 1;
    if (refusal.reason === "rate") return Math.ceil((position - this.tokens) / (limits.perMinute / 60_000));
    if (this.holdsMs.length < HOLD_SAMPLES) return undefined;
    const sorted = [...this.holdsMs].sort((a, b) => a - b);
    return Math.ceil(position / Math.max(1, limits.concurrent)) * (sorted[sorted.length >> 1] as number);
  }

  private tryAcquire(limits: GateLimits, now: number): Admission {
    this.refill(limits, now);
    const perMs = limits.perMinute / 60_000;
    if (this.leases.size >= limits.concurrent) {
      const soonest = Math.min(...[...this.leases.values()].map((l) => l.expires));
      return { ok: false, reason: "concurrency", retryAfterMs: Math.max(100, Math.min(soonest - now, 1_000)) };
    }
    if (this.tokens < 1) return { ok: false, reason: "rate", retryAfterMs: Math.ceil((1 - this.tokens) / perMs) };
    this.tokens -= 1;
    const lease = crypto.randomUUID();
    this.leases.set(lease, { startedAt: now, expires: now + limits.leaseMs });
    return { ok: true, lease };
  }
}
