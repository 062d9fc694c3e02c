import { describe, expect, it } from "vitest";
import { PARENT_TIMEOUT_GRACE_MS } from "../limits.ts";
import { parentDeadlineMs, withDeadline } from "./deadline.ts";

const never = new Promise<never>(() => {});

describe("withDeadline", () => {
  it("answers the work's value when it settles first", async () => {
    expect(await withDeadline(Promise.resolve("done"), 1_000, () => "late")).toBe("done");
  });

  it("answers the timeout's value once the time has passed", async () => {
    const started = Date.now();
    expect(await withDeadline(never, 30, () => "late")).toBe("late");
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("rejects as the work rejects", async () => {
    await expect(withDeadline(Promise.reject(new Error("broken")), 1_000, () => "late")).rejects.toThrow("broken");
  });

  it("gives a child the grace past its own timeout", () => {
    expect(parentDeadlineMs(100)).toBe(100 + PARENT_TIMEOUT_GRACE_MS);
  });
});
