import { describe, expect, it } from "vitest";
import { call, execute, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

describe("per-tenant concurrency", () => {
  it("answers the excess of 60 concurrent executions with 429 and Retry-After, and serves another tenant meanwhile", async () => {
    const code = `export default () => new Promise((r) => setTimeout(() => r("done"), 400)); // ${crypto.randomUUID()}`;
    const flood = Array.from({ length: 60 }, () =>
      call("/execute", { method: "POST", body: JSON.stringify({ code }) }).then(async (res) => ({ status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() })),
    );
    const quiet = await execute({ code: "export default () => 'other tenant served'" }, OTHER_TENANT_KEY);
    const results = await Promise.all(flood);
    expect(expectOk(quiet).result).toBe("other tenant served");
    const limited = results.filter((r) => r.status === 429);
    const served = results.filter((r) => r.status === 200);
    expect(served.length).toBe(50);
    expect(limited.length).toBe(10);
    for (const r of limited) {
      expect(r.retryAfter).toMatch(/^\d+$/);
      expect(r.body).toMatchObject({ error: { type: "rate_limited" } });
    }
    // Leases were released: the tenant is served again.
    expect(expectOk(await execute({ code: "export default () => 'after the flood'" })).result).toBe("after the flood");
  });
});
