/**
 * The supervisor restarts an idle runtime whose memory stayed high (DWL_RECYCLE_*), and only an
 * idle one: a run in progress is never cut short, a request arriving during the restart waits
 * for the new runtime, and stored data stays. With a 1 MB threshold it recycles after every
 * idle period, so each test can wait for one.
 */
import { ExecuteResponseSchema, type ExecuteResponse } from "@dwl/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../../test-support/dev-server.ts";

const IDLE_MS = 1_500;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ DWL_RECYCLE_IDLE_MS: String(IDLE_MS), DWL_RECYCLE_RSS_MB: "1" });
});
afterAll(() => server?.stop());

async function execute(body: unknown): Promise<ExecuteResponse> {
  const res = await server.post("/execute", body);
  expect(res.status).toBe(200);
  return ExecuteResponseSchema.parse(await res.json());
}

const recycles = () => server.output().match(/restarting it to give that memory back/g)?.length ?? 0;

/** Resolves as soon as the supervisor has announced one more recycle than `seen` (it kills next). */
async function nextRecycle(seen = recycles()): Promise<number> {
  const until = Date.now() + 30_000;
  while (recycles() <= seen) {
    if (Date.now() > until) throw new Error(`no recycle within 30 s:\n${server.output().slice(-2_000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return recycles();
}

// Module state lives as long as the program's isolate: a fresh isolate counts from 1 again.
const counter = { code: "let runs = 0; export default () => ++runs;" };

describe("idle recycling", () => {
  it("drops warm isolates once idle, and a request sent during the restart waits for the new runtime", async () => {
    // A program's first run is one-off (apps/loader/src/sandbox/load.ts); its next ones share an isolate.
    expect(await execute(counter)).toMatchObject({ ok: true, result: 1 });
    expect(await execute(counter)).toMatchObject({ ok: true, result: 1 });
    expect(await execute(counter)).toMatchObject({ ok: true, result: 2 });
    await nextRecycle();
    // Sent right after the announcement, while the old runtime is being killed.
    expect(await execute(counter)).toMatchObject({ ok: true, result: 1 });
  });

  it("never recycles while a run is in progress", async () => {
    const seen = await nextRecycle();
    const slow = {
      code: `export default async () => { await new Promise((r) => setTimeout(r, ${IDLE_MS * 3})); return "done"; }`,
      limits: { timeoutMs: 20_000 },
    };
    expect(await execute(slow)).toMatchObject({ ok: true, result: "done" });
    expect(recycles()).toBe(seen);
  });

  it("recycles while a monitor polls /healthz (a probe is not work)", async () => {
    const seen = recycles();
    let polling = true;
    const monitor = (async () => {
      while (polling) {
        expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await nextRecycle(seen);
    } finally {
      polling = false;
      await monitor;
    }
  });

  it("keeps stored data across a recycle", async () => {
    const put = await execute({
      code: "export default async (_, env) => { await env.KV.put('kept', 'across restarts'); return 'stored'; }",
    });
    expect(put).toMatchObject({ ok: true, result: "stored" });
    await nextRecycle();
    expect(await execute({ code: "export default (_, env) => env.KV.get('kept')" })).toMatchObject({
      ok: true,
      result: "across restarts",
    });
  });
});
