/**
 * The RPC run and the sandbox HTTP request wait for a child that never answers exactly as long
 * as each other: until the one parent-side deadline (run/deadline.ts), then a `timeout`.
 */
import { describe, expect, it } from "vitest";
import type { ChildCall } from "../sandbox/child-protocol.ts";
import { parentDeadlineMs } from "./deadline.ts";
import { invokeChild } from "./invoke.ts";
import { serveChild } from "./serve.ts";

const TIMEOUT_MS = 20;

/** A child whose `run` and `fetch` never answer. */
const silentChild = {
  getEntrypoint: () => ({ run: () => new Promise(() => {}), fetch: () => new Promise(() => {}) }),
} as unknown as WorkerStub;

const call = {
  callerKey: "k",
  runId: "run-1",
  shape: "module",
  input: null,
  limits: { cpuMs: 50, subRequests: 5, timeoutMs: TIMEOUT_MS },
  secrets: {},
  runToken: null,
  fuel: null,
  clockBudgetMs: 100,
  maxResultBytes: 1024,
  maxLogLines: 10,
  maxLogBytes: 1024,
} satisfies ChildCall;

describe("the parent-side deadline", () => {
  it("ends an RPC run and a sandbox HTTP request of a silent child at the same deadline, as a timeout", async () => {
    const started = Date.now();
    const [rpc, http] = await Promise.all([
      invokeChild({ stub: silentChild, call }).then((outcome) => ({ outcome, ms: Date.now() - started })),
      serveChild({ stub: silentChild, call }, new Request("http://sandbox.test/")).then((served) => ({
        served,
        ms: Date.now() - started,
      })),
    ]);
    expect(rpc.outcome.ok ? undefined : rpc.outcome.error.type).toBe("timeout");
    expect(http.served.report.error?.type).toBe("timeout");
    expect(http.served.response).toBeNull();
    const deadline = parentDeadlineMs(TIMEOUT_MS);
    for (const ms of [rpc.ms, http.ms]) {
      expect(ms).toBeGreaterThanOrEqual(deadline - 5);
      expect(ms).toBeLessThan(2 * deadline);
    }
  });
});
