import { describe, expect, it } from "vitest";
import { clampLimits, clockBudgetMs, maxCpuMsWithinClock, readServerLimits } from "./limits.ts";

describe("server limits", () => {
  it("uses the documented defaults without configuration", () => {
    expect(readServerLimits({})).toMatchObject({
      defaultCpuMs: 50,
      maxCpuMs: 30_000,
      maxSubRequests: 50,
      maxTimeoutMs: 30_000,
      maxCodeBytes: 1024 * 1024,
      cpuEnforcement: "instrument",
    });
  });

  it("reads overrides from Worker vars, and refuses a malformed one by name instead of ignoring it", () => {
    const server = readServerLimits({ DWL_MAX_CPU_MS: "200", DWL_CPU_ENFORCEMENT: "platform" });
    expect(server).toMatchObject({ maxCpuMs: 200, maxLogLines: 1_000, cpuEnforcement: "platform" });
    expect(() =>
      readServerLimits({ DWL_MAX_CPU_MS: "200", DWL_MAX_LOG_LINES: "ten", DWL_CPU_ENFORCEMENT: "platform" }),
    ).toThrow('DWL_MAX_LOG_LINES="ten" is not a whole number ≥ 1 (default 1000)');
  });

  it("caps each requested limit at the maximum, keeping values at the boundary", () => {
    const server = readServerLimits({});
    expect(clampLimits({ cpuMs: 30_000, subRequests: 50, timeoutMs: 30_000 }, server)).toEqual({
      cpuMs: 30_000,
      subRequests: 50,
      timeoutMs: 30_000,
    });
    expect(clampLimits({ cpuMs: 30_001, subRequests: 51, timeoutMs: 30_001 }, server)).toEqual({
      cpuMs: 30_000,
      subRequests: 50,
      timeoutMs: 30_000,
    });
    expect(clampLimits(undefined, server)).toEqual({ cpuMs: 50, subRequests: 50, timeoutMs: 10_000 });
  });

  it("gives a run's clock budget twice its cpuMs, and never less than cpuMs plus a stall's 100 ms", () => {
    const server = readServerLimits({});
    expect([1, 10, 50, 100, 300, 4_000].map((cpuMs) => clockBudgetMs(cpuMs, server))).toEqual([
      101, 110, 150, 200, 600, 8_000,
    ]);
    const strict = readServerLimits({ DWL_CPU_CLOCK_PERCENT: "100", DWL_CPU_CLOCK_STALL_MS: "0" });
    expect(clockBudgetMs(50, strict)).toBe(50);
  });

  it("finds the largest cpuMs whose clock budget fits a span, by the same rule", () => {
    const server = readServerLimits({});
    for (const clockMs of [150, 199, 200, 2_400, 8_000]) {
      const cpuMs = maxCpuMsWithinClock(clockMs, server);
      expect(clockBudgetMs(cpuMs, server)).toBeLessThanOrEqual(clockMs);
      expect(clockBudgetMs(cpuMs + 1, server)).toBeGreaterThan(clockMs);
    }
    expect(maxCpuMsWithinClock(50, server)).toBe(1);
  });
});
