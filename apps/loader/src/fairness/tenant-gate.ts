/**
 * @module fairness/tenant-gate
 * Per-tenant admission held by one Durable Object per tenant, so the limits are global: every
 * loader instance asks the same object. Leases expire on their own, so a lost release (a crashed
 * request) cannot lock a tenant out.
 */
import { DurableObject } from "cloudflare:workers";
import { AdmissionLedger, type Admission, type GateLimits } from "./ledger.ts";

export type { Admission, GateLimits } from "./ledger.ts";

export class TenantGate extends DurableObject<Env> {
  private readonly ledger = new AdmissionLedger();

  /** Waits (bounded by `limits.maxWaitMs`) for the tenant to have room: other calls, releases included, are served meanwhile. */
  acquire(limits: GateLimits): Admission | Promise<Admission> {
    return this.ledger.acquire(limits);
  }

  release(lease: string): void {
    this.ledger.release(lease);
  }
}
