import { describe, expect, it } from "vitest";
import { clampLimits, readServerLimits } from "./limits.ts";

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
});
