import { describe, expect, it } from "vitest";
import { call, execute, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

describe("per-tenant concurrency", () => {
  it("queues the excess of 60 concurrent executions and runs them all, 50 at a time, serving another tenant meanwhile", async () => {
    const started = Date.now();
    const code = `export default () => new Promise((r) => setTimeout(() => r("done"), 400)); // ${crypto.randomUUID()}`;
    const flood = Array.from({ length: 60 }, () =>
      call("/execute", { method: "POST", body: JSON.stringify({ code }) }).then(async (res) => ({
        status: res.status,
        retryAfter: res.headers.get("retry-after"),
        body: await res.json(),
      })),
    );
    const quiet = await execute({ code: "export default () => 'other tenant served'" }, OTHER_TENANT_KEY);
    const results = await Promise.all(flood);
    expect(expectOk(quiet).result).toBe("other tenant served");
    expect(results.map((r) => r.status)).toEqual(Array(60).fill(200));
    expect(results.map((r) => r.body)).toEqual(Array(60).fill(expect.objectContaining({ ok: true, result: "done" })));
    // The ten past the tenant's 50 waited for a first one to end (400 ms each).
    expect(Date.now() - started).toBeGreaterThanOrEqual(780);
    // Leases were released: the tenant is served again.
    expect(expectOk(await execute({ code: "export default () => 'after the flood'" })).result).toBe("after the flood");
  });
});
