/**
 * @module fairness/ledger
 * One tenant's admission state: a token bucket (rate) and a set of leases (concurrency). Pure
 * bookkeeping, so the same rules run in the TenantGate Durable Object (global, when deployed)
 * and in the loader isolate's memory (one isolate serves everything under `wrangler dev`).
 */
export interface GateLimits {
  /** Executions admitted per minute (bucket refill), bursting up to the same number. */
  perMinute: number;
  /** Executions running at once. */
  concurrent: number;
  /** A lease not released within this long is considered finished. */
  leaseMs: number;
}

export type Admission = { ok: true; lease: string } | { ok: false; reason: "rate" | "concurrency"; retryAfterMs: number };

export class AdmissionLedger {
  private tokens = -1;
  private refilledAt = 0;
  private readonly leases = new Map<string, number>();

  acquire(limits: GateLimits, now = Date.now()): Admission {
    for (const [lease, expires] of this.leases) if (expires <= now) this.leases.delete(lease);
    if (this.tokens < 0) {
      this.tokens = limits.perMinute;
      this.refilledAt = now;
    }
    const perMs = limits.perMinute / 60_000;
    this.tokens = Math.min(limits.perMinute, this.tokens + (now - this.refilledAt) * perMs);
    this.refilledAt = now;
    if (this.leases.size >= limits.concurrent) {
      const soonest = Math.min(...this.leases.values());
      return { ok: false, reason: "concurrency", retryAfterMs: Math.max(100, Math.min(soonest - now, 1_000)) };
    }
    if (this.tokens < 1) return { ok: false, reason: "rate", retryAfterMs: Math.ceil((1 - this.tokens) / perMs) };
    this.tokens -= 1;
    const lease = crypto.randomUUID();
    this.leases.set(lease, now + limits.leaseMs);
    return { ok: true, lease };
  }

  release(lease: string): void {
    this.leases.delete(lease);
  }
}
