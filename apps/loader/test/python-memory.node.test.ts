/**
 * What Python children cost the local runtime's resident memory, read as the supervisor's cap
 * reads it (docs/python.md, Speed and isolation). A server of its own: a runtime that ran other
 * children holds their freed memory and would hide what these runs add.
 */
import { ExecuteResponseSchema } from "@dwl/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../../test-support/dev-server.ts";

/** Runs of one tenant at once, each past the kept child, so each in a one-off child. */
const QUEUED_RUNS = 10;
/**
 * What they may add to the runtime's resident memory, MB. One child alive at a time (the
 * tenant's one place) grew it ~270 MB; each run's child created before its turn, ~860 MB.
 */
const QUEUED_GROWTH_MB = 450;
let server: DevServer;

beforeAll(async () => {
  // The runs must reach the loader together, which the supervisor would not let a key whose
  // Python runs took the thread long do (DWL_KEY_THREAD_MS).
  server = await startDevServer({ DWL_KEY_THREAD_MS: "1000000" }, [
    "--var",
    "DWL_PYTHON_MAX_CHILDREN:1",
    "--var",
    "DWL_PYTHON_MAX_ONE_OFF:1",
  ]);
  // The tenant's kept child (the first run's scope): every other scope's run is one-off.
  await server.post("/execute", { language: "python", code: "None" });
}, 120_000);

afterAll(() => server?.stop());

describe("Python children's memory", { timeout: 60_000 }, () => {
  it("creates a one-off child only once its run holds a place: runs waiting for one hold no memory", async () => {
    const before = server.runtimeResidentMb();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.runtimeResidentMb());
    }, 100);
    try {
      const replies = await Promise.all(
        Array.from({ length: QUEUED_RUNS }, async (_, i) => {
          const res = await server.post("/execute", {
            language: "python",
            code: "import asyncio\nawait asyncio.sleep(0.3)\n'done'",
            storage: { namespace: `queued-${i}` },
            limits: { timeoutMs: 30_000 },
          });
          return ExecuteResponseSchema.parse(await res.json());
        }),
      );
      expect(replies.map((r) => (r.ok ? r.result : r.error))).toEqual(Array(QUEUED_RUNS).fill("done"));
    } finally {
      clearInterval(sampler);
    }
    expect(before).toBeGreaterThan(0);
    expect(peak - before).toBeLessThan(QUEUED_GROWTH_MB);
  });
});
