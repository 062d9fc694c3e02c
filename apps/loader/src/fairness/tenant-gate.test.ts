import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DwlHttpError } from "../errors.ts";
import { readServerLimits } from "../limits.ts";
import { admitted } from "./admit.ts";

const gate = () => env.TENANT_GATES.get(env.TENANT_GATES.idFromName(`gate-${crypto.randomUUID()}`));

describe("TenantGate", () => {
  it("admits up to the concurrency limit and again after a release", async () => {
    const g = gate();
    const limits = { perMinute: 100, concurrent: 2, leaseMs: 60_000 };
    const a = await g.acquire(limits);
    const b = await g.acquire(limits);
    const c = await g.acquire(limits);
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, false]);
    if (!c.ok) expect(c).toMatchObject({ reason: "concurrency" });
    if (a.ok) await g.release(a.lease);
    expect((await g.acquire(limits)).ok).toBe(true);
  });

  it("refuses past the rate with the time until the next token", async () => {
    const g = gate();
    const limits = { perMinute: 2, concurrent: 10, leaseMs: 60_000 };
    expect((await g.acquire(limits)).ok).toBe(true);
    expect((await g.acquire(limits)).ok).toBe(true);
    const third = await g.acquire(limits);
    expect(third).toMatchObject({ ok: false, reason: "rate" });
    if (!third.ok) expect(third.retryAfterMs).toBeGreaterThan(20_000);
  });

  it("lets an expired lease go, so a lost release cannot lock a tenant out", async () => {
    const g = gate();
    const limits = { perMinute: 100, concurrent: 1, leaseMs: 50 };
    expect((await g.acquire(limits)).ok).toBe(true);
    expect((await g.acquire(limits)).ok).toBe(false);
    await new Promise((r) => setTimeout(r, 80));
    expect((await g.acquire(limits)).ok).toBe(true);
  });
});

describe.each(["durable-object", "isolate"] as const)("admitted() with %s admission", (admission) => {
  it("answers 429 with Retry-After past the tenant's rate, and keeps tenants apart", async () => {
    const tenant = `t-${crypto.randomUUID()}`;
    const server = { ...readServerLimits({}), ratePerMinute: 1, admission };
    expect(await admitted(env, tenant, server, async () => "first")).toBe("first");
    const err = await admitted(env, tenant, server, async () => "second").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DwlHttpError);
    expect(err).toMatchObject({ status: 429, type: "rate_limited", headers: { "retry-after": expect.stringMatching(/^\d+$/) } });
    expect(await admitted(env, `other-${tenant}`, server, async () => "other")).toBe("other");
  });

  it("releases the lease when the work fails", async () => {
    const tenant = `t-${crypto.randomUUID()}`;
    const server = { ...readServerLimits({}), maxConcurrent: 1, admission };
    await expect(admitted(env, tenant, server, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await admitted(env, tenant, server, async () => "after")).toBe("after");
  });
});

describe("readServerLimits()", () => {
  it("keeps admission in the isolate, batches log lines and bounds warm isolates in local mode only", () => {
    expect(readServerLimits({ DWL_MODE: "local" })).toMatchObject({ admission: "isolate", logFlushMs: 100, maxWarmIsolates: 256 });
    expect(readServerLimits({})).toMatchObject({ admission: "durable-object", logFlushMs: 0, maxWarmIsolates: 0 });
    expect(readServerLimits({ DWL_MODE: "local", DWL_ADMISSION: "durable-object", DWL_LOG_FLUSH_MS: "0" })).toMatchObject({ admission: "durable-object", logFlushMs: 0 });
  });
});
