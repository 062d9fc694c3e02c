/**
 * @module probe-call
 * The settings of one unmetered run with default limits, for what calls the harness without the
 * loader around it: the child-start probe (child-start.test.ts) and the raw baseline's harness
 * children (bench/raw-worker, bench/cold-cost.mjs). The loader itself builds its calls in
 * run/spawn.ts.
 */
import type { ChildCall } from "./child-protocol.ts";

export const probeCall = (callerKey: string): ChildCall => ({
  callerKey,
  runId: "probe-run",
  shape: "module",
  input: null,
  limits: { cpuMs: 50, subRequests: 50, timeoutMs: 10_000 },
  secrets: {},
  runToken: null,
  fuel: null,
  clockBudgetMs: 100,
  maxResultBytes: 1024 * 1024,
  maxLogLines: 1_000,
  maxLogBytes: 64 * 1024,
});
