/**
 * Code the runtime calls outside any run's async context ("orphan" code, issue 20): a
 * FinalizationRegistry cleanup, a WebSocket or WebSocketPair `message` listener. refuel()
 * (sandbox/harness/) used to hand such code a free batch of fuel, so it ran unmetered, and
 * locally a loop there held the whole runtime: every tenant waited. It is now charged to the run
 * that registered it (or the isolate's last run), so it stops at that run's budget.
 *
 * Each loop below is bounded (3e9 iterations, or 10 s of Date.now()) so that a regression shows
 * as a slow or `ok: true` answer instead of a runtime that never answers again.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk, warmIsolateFor, warmUp } from "../helpers.ts";

/** A comment that makes a program unique, so it gets its own (cold) isolate. */
const fresh = () => `\n// ${crypto.randomUUID()}`;
/** 3e9 metered iterations: 600x the fuel of cpuMs 50, ~10 s or more when unmetered. */
const LOOP = "let s = 0; for (let i = 0; i < 3e9; i++) s += i % 3; globalThis.sink = s;";
/** A loop on the clock alone: 10 s of wall time when unmetered. */
const CLOCK_LOOP = "const end = Date.now() + 10000; while (Date.now() < end) {}";
/** Far below what either loop holds the runtime for when it is not stopped, and far above a busy machine's stall. */
const PROMPT_MS = 5_000;

async function timed(body: Parameters<typeof execute>[0]) {
  const started = Date.now();
  const res = await execute(body);
  return { res, wallMs: Date.now() - started };
}

/** Another tenant's ordinary program is answered at once (no orphan loop holds the runtime). */
async function expectPromptService(): Promise<void> {
  const { res, wallMs } = await timed({ code: `export default (n) => n + 1;${fresh()}`, input: 41 });
  expect(expectOk(res).result).toBe(42);
  expect(wallMs).toBeLessThan(PROMPT_MS);
}

/** A listener that records it ran and whether its loop finished (it must not). */
const counted = (loop: string) => `state.received++; ${loop} state.finished++;`;
const listener = (loop: string) => `() => { ${counted(loop)} }`;

/** A run whose WebSocketPair delivers one message while it waits; `attach` installs the listener on `client`. */
const messagedDuringRun = (attach: string) => `const state = { received: 0, finished: 0 };
export default async () => {
  const [client, server] = Object.values(new WebSocketPair());
  server.accept(); client.accept();
  ${attach};
  server.send("go");
  await new Promise((r) => setTimeout(r, 50));
  return state;
};${fresh()}`;

describe("code the runtime calls outside the run's context", () => {
  beforeAll(warmUp);

  for (const [what, loop] of [
    ["a counting loop", LOOP],
    ["a Date.now() loop", CLOCK_LOOP],
  ] as const) {
    it(`stops ${what} in a WebSocketPair message listener during the run with cpu_limit`, async () => {
      const { res, wallMs } = await timed({
        code: messagedDuringRun(`client.addEventListener("message", ${listener(loop)})`),
        limits: { cpuMs: 50, timeoutMs: 10_000 },
      });
      expect(expectFailure(res).error.type).toBe("cpu_limit");
      expect(wallMs).toBeLessThan(PROMPT_MS);
      await expectPromptService();
    });

    it(`stops ${what} in a message listener that runs after the run returned`, async () => {
      const code = `const state = { received: 0, finished: 0 };
export default async (mode) => {
  if (mode === "probe") return state;
  const [client, server] = Object.values(new WebSocketPair());
  server.accept(); client.accept();
  client.addEventListener("message", ${listener(loop)});
  setTimeout(() => server.send("go"), 20);
  return "armed";
};${fresh()}`;
      await warmIsolateFor({ code, input: "probe" });
      expect(expectOk(await execute({ code, input: "arm", limits: { cpuMs: 50 } })).result).toBe("armed");
      await new Promise((r) => setTimeout(r, 100));
      await expectPromptService();
      // The message comes 20 ms after the run, later on a loaded machine: ask until it has.
      let probe = expectOk(await execute({ code, input: "probe", limits: { cpuMs: 50 } }));
      for (let attempt = 0; attempt < 50 && (probe.result as { received: number }).received === 0; attempt++) {
        await new Promise((r) => setTimeout(r, 100));
        probe = expectOk(await execute({ code, input: "probe", limits: { cpuMs: 50 } }));
      }
      expect(probe.timing.cached).toBe(true); // the same isolate
      expect(probe.result).toEqual({ received: 1, finished: 0 });
    });
  }

  // `onmessage` is set natively, past the harness's addEventListener wrapper: this listener has
  // no registering run, so refuel()'s own rule (the isolate's last run pays) is what stops it.
  it("stops a loop in an onmessage handler (no registering run known) with cpu_limit", async () => {
    const { res, wallMs } = await timed({
      code: messagedDuringRun(`client.onmessage = ${listener(LOOP)}`),
      limits: { cpuMs: 50, timeoutMs: 10_000 },
    });
    expect(expectFailure(res).error.type).toBe("cpu_limit");
    expect(wallMs).toBeLessThan(PROMPT_MS);
    await expectPromptService();
  });

  // V8 runs cleanup callbacks as a task of their own after a GC, with no run's context; there is
  // no way to force a GC, so the program allocates garbage until one has run.
  it("stops a loop in a FinalizationRegistry cleanup callback", async () => {
    const code = `const state = { received: 0, finished: 0 };
export default async (mode) => {
  if (mode === "arm") {
    const registry = new FinalizationRegistry(() => { if (state.received >= 3) return; ${counted(LOOP)} });
    for (let i = 0; i < 1000; i++) registry.register({ i }, i);
    globalThis.registry = registry;
    return "armed";
  }
  let junk = [];
  for (let round = 0; round < 20 && state.received === 0; round++) {
    for (let i = 0; i < 2e5; i++) junk.push({ i });
    junk = [];
    await new Promise((r) => setTimeout(r, 5));
  }
  return state;
};${fresh()}`;
    await warmIsolateFor({ code, input: "warm-up" });
    expect(expectOk(await execute({ code, input: "arm", limits: { cpuMs: 50 } })).result).toBe("armed");
    let state = { received: 0, finished: 0 };
    // A collection's cleanup task may come late on a loaded machine: churn until it has run.
    for (let attempt = 0; attempt < 15 && state.received === 0; attempt++) {
      const { res, wallMs } = await timed({ code, input: "churn", limits: { cpuMs: 2_000 } });
      expect(wallMs).toBeLessThan(PROMPT_MS);
      state = expectOk(res).result as typeof state;
    }
    expect(state.received).toBeGreaterThan(0);
    expect(state.finished).toBe(0);
    await expectPromptService();
  });
});
