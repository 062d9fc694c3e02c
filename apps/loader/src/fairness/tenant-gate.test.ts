import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DwlHttpError } from "../errors.ts";
import { readServerLimits } from "../limits.ts";
import { admitted } from "./admit.ts";
import { AdmissionLedger } from "./ledger.ts";

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

describe("a burst is queued, not refused", () => {
  it("waits for a released lease, in arrival order", async () => {
    const ledger = new AdmissionLedger();
    const limits = { perMinute: 1_000, concurrent: 2, leaseMs: 60_000, maxWaitMs: 5_000, queueMax: 10 };
    const [a] = [await ledger.acquire(limits), await ledger.acquire(limits)];
    const order: string[] = [];
    const third = Promise.resolve(ledger.acquire(limits)).then((r) => (order.push("third"), r));
    const fourth = Promise.resolve(ledger.acquire(limits)).then((r) => (order.push("fourth"), r));
    expect(ledger.queued).toBe(2);
    if (a?.ok) ledger.release(a.lease);
    expect(await third).toMatchObject({ ok: true });
    expect(order).toEqual(["third"]);
    expect(ledger.queued).toBe(1);
    void fourth;
  });

  it("waits for the bucket's next token when that is soon enough, and refuses at once when not", async () => {
    const ledger = new AdmissionLedger();
    // One token a second; a burst of 60 empties the bucket.
    const limits = { perMinute: 60, concurrent: 10_000, leaseMs: 60_000, maxWaitMs: 2_500, queueMax: 100 };
    for (let i = 0; i < 60; i++) expect(await ledger.acquire(limits)).toMatchObject({ ok: true });
    const next = ledger.acquire(limits);
    expect(next).toBeInstanceOf(Promise);
    // The second in line would wait ~2 s (under 2.5 s): it queues; the third ~3 s: refused at once, told how long.
    const second = ledger.acquire(limits);
    expect(second).toBeInstanceOf(Promise);
    const third = ledger.acquire(limits);
    expect(third).toMatchObject({ ok: false, reason: "rate" });
    if (!(third instanceof Promise) && !third.ok) expect(third.retryAfterMs).toBeGreaterThan(2_500);
    expect(await next).toMatchObject({ ok: true });
    expect(await second).toMatchObject({ ok: true });
  });

  it("refuses at once when queueMax requests already wait", async () => {
    const ledger = new AdmissionLedger();
    const limits = { perMinute: 1_000, concurrent: 1, leaseMs: 60_000, maxWaitMs: 5_000, queueMax: 1 };
    await ledger.acquire(limits);
    void ledger.acquire(limits);
    expect(ledger.acquire(limits)).toMatchObject({ ok: false, reason: "queue" });
  });
});

describe.each(["durable-object", "isolate"] as const)("admitted() with %s admission", (admission) => {
  it("runs a burst of 20 against a concurrency of 2: all of them, two at a time", async () => {
    const tenant = `t-${crypto.randomUUID()}`;
    const server = { ...readServerLimits({}), maxConcurrent: 2, admission };
    let running = 0;
    let most = 0;
    const work = async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 30));
      running--;
      return "done";
    };
    const results = await Promise.all(Array.from({ length: 20 }, () => admitted(env, tenant, server, work)));
    expect(results).toEqual(Array(20).fill("done"));
    expect(most).toBe(2);
  });

  it("answers 429 with Retry-After past the tenant's rate, and keeps tenants apart", async () => {
    const tenant = `t-${crypto.randomUUID()}`;
    const server = { ...readServerLimits({}), ratePerMinute: 1, admission };
    expect(await admitted(env, tenant, server, async () => "first")).toBe("first");
    const err = await admitted(env, tenant, server, async () => "second").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DwlHttpError);
    expect(err).toMatchObject({
      status: 429,
      type: "rate_limited",
      headers: { "retry-after": expect.stringMatching(/^\d+$/) },
    });
    expect(await admitted(env, `other-${tenant}`, server, async () => "other")).toBe("other");
  });

  it("waits for a turn no longer than the run's own timeout", async () => {
    const tenant = `t-${crypto.randomUUID()}`;
    const server = { ...readServerLimits({}), maxConcurrent: 1, admission };
    let release!: () => void;
    const holding = admitted(env, tenant, server, () => new Promise<string>((r) => (release = () => r("held"))));
    const started = Date.now();
    const hasty = await admitted(env, tenant, server, async () => "ran", { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(hasty).toMatchObject({ status: 429, type: "rate_limited" });
    expect((hasty as Error).message).toContain("limits.timeoutMs (100 ms)");
    expect(Date.now() - started).toBeLessThan(5_000);
    const patient = admitted(env, tenant, server, async () => "ran", { timeoutMs: 10_000 });
    release();
    expect(await Promise.all([holding, patient])).toEqual(["held", "ran"]);
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
    expect(readServerLimits({ DWL_MODE: "local" })).toMatchObject({
      admission: "isolate",
      logFlushMs: 100,
      maxWarmIsolates: 256,
    });
    expect(readServerLimits({})).toMatchObject({ admission: "durable-object", logFlushMs: 0, maxWarmIsolates: 0 });
    expect(
      readServerLimits({ DWL_MODE: "local", DWL_ADMISSION: "durable-object", DWL_LOG_FLUSH_MS: "0" }),
    ).toMatchObject({ admission: "durable-object", logFlushMs: 0 });
  });
});
