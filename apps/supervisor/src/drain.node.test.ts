/**
 * The supervisor restarts a runtime past DWL_DRAIN_RSS_MB once the requests in it have ended,
 * holding new ones meanwhile, so that memory a busy runtime accumulates never meets the cap
 * (DWL_MAX_RSS_MB) under runs in flight, which would cut them all short. Here each run holds
 * 64 MB for a while: a second batch sent while the first holds its memory would take the runtime
 * past a 560 MB cap, and waits for a fresh runtime instead (past the 300 MB drain threshold).
 */
import { ExecuteResponseSchema } from "@dwl/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../../../test-support/dev-server.ts";
import { openEchoWebSocket } from "../../../test-support/echo-websocket.ts";

/** Runs per batch: one batch's memory stays under the cap, two batches' pass it. */
const BATCH = 5;
const HOLD_MS = 3_000;
let server: DevServer;

beforeAll(async () => {
  // DWL_KEY_THREAD_MS: the runs must reach the runtime together, not one after another.
  server = await startDevServer({
    DWL_MAX_RSS_MB: "560",
    DWL_DRAIN_RSS_MB: "300",
    DWL_KEY_THREAD_MS: "1000000",
    DWL_RECYCLE_IDLE_MS: "0",
    // Longer than the tests' timeout: a drain that waited its whole wait would fail them.
    DWL_DRAIN_WAIT_MS: "120000",
  });
}, 120_000);

afterAll(() => server?.stop());

/** A run with an effect (never sent again after a crash) that holds 64 MB for HOLD_MS. */
function holder(i: number) {
  return {
    code: `export default async (_, env) => {
      await env.KV.put("k${i}", "v");
      const held = new Uint8Array(64 * 1024 * 1024).fill(${i});
      await new Promise((r) => setTimeout(r, ${HOLD_MS}));
      return held[0];
    };`,
    limits: { cpuMs: 500, timeoutMs: 20_000 },
  };
}

describe("draining", { timeout: 60_000 }, () => {
  it("restarts a runtime past DWL_DRAIN_RSS_MB once its runs end, and cuts none short", async () => {
    const batch = (from: number) =>
      Array.from({ length: BATCH }, async (_, i) => {
        const res = await server.post("/execute", holder(from + i));
        return { status: res.status, body: ExecuteResponseSchema.parse(await res.json()) };
      });
    const first = batch(0);
    // The first batch holds its memory by now: the runtime is past the drain threshold.
    await new Promise((r) => setTimeout(r, HOLD_MS / 3));
    const replies = await Promise.all([...first, ...batch(BATCH)]);
    expect(replies.map(({ status, body }) => [status, body.ok ? body.result : body.error.type])).toEqual(
      Array.from({ length: 2 * BATCH }, (_, i) => [200, i]),
    );
    expect(server.output()).toContain("(DWL_DRAIN_RSS_MB): holding new requests");
    expect(server.output()).not.toContain("> 560 MB: restarting it");
  });

  it("does not wait for an open WebSocket, which it closes with 1012", async () => {
    const ws = await openEchoWebSocket(server);
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", ({ code }) => resolve(code)));
    const drainsBefore = server.output().split("runtime drained in").length;
    const runs = Array.from({ length: BATCH }, (_, i) => server.post("/execute", holder(100 + i)));
    expect((await Promise.all(runs)).map((res) => res.status)).toEqual(Array(BATCH).fill(200));
    expect(await closed).toBe(1012);
    expect(server.output().split("runtime drained in").length).toBe(drainsBefore + 1);
  });
});
