import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readServerLimits } from "../../src/limits.ts";
import { executeProgram } from "../../src/run/pipeline.ts";
import { replyObject } from "../../src/run/respond.ts";
import { FirstRuns, warmIsolateCount } from "../../src/sandbox/load.ts";
import { executeSandbox } from "../../src/sandboxes/service.ts";
import { call, execute, expectOk, OTHER_TENANT_KEY, warmIsolateFor } from "../helpers.ts";

describe("warm reuse", () => {
  it("runs a program's first run in a one-off isolate, then reuses one warm isolate (module state persists)", async () => {
    const code = `let runs = 0;\nexport default () => ++runs; // ${crypto.randomUUID()}`;
    const before = warmIsolateCount();
    const first = expectOk(await execute({ code }));
    expect(warmIsolateCount()).toBe(before); // nothing kept of the first run's isolate
    const later = [expectOk(await execute({ code })), expectOk(await execute({ code }))];
    expect(warmIsolateCount()).toBe(before + 1);
    expect(first.timing.cached).toBe(false);
    expect(later.map((res) => res.timing.cached)).toEqual([true, true]);
    expect([first.result, ...later.map((res) => res.result)]).toEqual([1, 1, 2]);
  });

  it("runs a program seen once long ago in a one-off isolate again", () => {
    // Remembering every program that ever ran once would grow without bound.
    const firstRuns = new FirstRuns(2);
    expect(["a", "b", "a"].map((id) => firstRuns.isFirst(id))).toEqual([true, true, false]);
    expect(["c", "d", "b"].map((id) => firstRuns.isFirst(id))).toEqual([true, true, true]);
    expect(firstRuns.isFirst("d")).toBe(false);
  });

  it("never lets another tenant's run land in a warm isolate", async () => {
    const code = `let runs = 0;\nexport default () => ++runs; // ${crypto.randomUUID()}`;
    await warmIsolateFor({ code });
    expect(expectOk(await execute({ code })).result).toBe(1);
    expect(expectOk(await execute({ code })).result).toBe(2);
    await warmIsolateFor({ code }, OTHER_TENANT_KEY);
    const other = expectOk(await execute({ code }, OTHER_TENANT_KEY));
    expect(other.result).toBe(1);
    expect(other.timing.cached).toBe(true); // same bundle, different isolate
  });

  it("runs a script's statements again on every execution", async () => {
    const code = `console.log("ran"); // ${crypto.randomUUID()}`;
    expect(expectOk(await execute({ code })).logs).toHaveLength(1);
    expect(expectOk(await execute({ code })).logs).toHaveLength(1);
  });

  it("keeps the logs of concurrent runs in one isolate apart", async () => {
    const code = `export default async (i) => { for (let n = 0; n < 5; n++) { console.log(i); await new Promise((r) => setTimeout(r, 1)); } return i; } // ${crypto.randomUUID()}`;
    const results = await Promise.all([1, 2, 3].map((input) => execute({ code, input })));
    for (const [index, res] of results.entries()) {
      const ok = expectOk(res);
      expect(ok.logs.map((l) => l.message)).toEqual(Array(5).fill(String(index + 1)));
    }
  });
});

describe("warm isolate bound (DWL_MAX_WARM_ISOLATES)", () => {
  const runOnce = async (code: string, maxWarmIsolates: number) => {
    const server = { ...readServerLimits(env), maxWarmIsolates };
    return replyObject(await executeProgram({ code }, { env, tenant: "bound-test", server }));
  };

  it("keeps programs warm up to the bound, then runs new ones in throw-away isolates", async () => {
    const bound = warmIsolateCount() + 1;
    const warm = `let runs = 0;\nexport default () => ++runs; // ${crypto.randomUUID()}`;
    const overflow = `let runs = 0;\nexport default () => ++runs; // ${crypto.randomUUID()}`;
    expect(expectOk(await runOnce(warm, bound)).result).toBe(1); // a first run: one-off
    expect(expectOk(await runOnce(warm, bound)).result).toBe(1);
    expect(expectOk(await runOnce(warm, bound)).result).toBe(2);
    expect(warmIsolateCount()).toBe(bound);
    // Past the bound: a fresh isolate each run, so module state starts over; the bundle is still cached.
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(expectOk(await runOnce(overflow, bound)));
    expect(runs.map((res) => res.result)).toEqual([1, 1, 1]);
    expect(runs.map((res) => res.timing.cached)).toEqual([false, true, true]);
    expect(warmIsolateCount()).toBe(bound);
    // A program that was warm before the bound was reached stays warm.
    expect(expectOk(await runOnce(warm, bound)).result).toBe(3);
  });

  it("has no bound at 0 (deployed default: the platform evicts)", async () => {
    const code = `let runs = 0;\nexport default () => ++runs; // ${crypto.randomUUID()}`;
    const before = warmIsolateCount();
    expect(expectOk(await runOnce(code, 0)).result).toBe(1);
    expect(expectOk(await runOnce(code, 0)).result).toBe(2);
    expect(warmIsolateCount()).toBe(before);
  });
});

describe("warm isolate bound and sandboxes", () => {
  it("keeps a stored sandbox warm even when the bound is reached", async () => {
    const created = await call("/sandboxes", {
      method: "POST",
      body: JSON.stringify({ code: `let runs = 0;\nexport default () => ++runs; // ${crypto.randomUUID()}` }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // Fill the bound: one more warm program, then no room for another.
    const fill = { ...readServerLimits(env), maxWarmIsolates: warmIsolateCount() + 1 };
    await executeProgram(
      { code: `export default () => 1; // ${crypto.randomUUID()}` },
      { env, tenant: "local", server: fill },
    );
    const server = { ...readServerLimits(env), maxWarmIsolates: warmIsolateCount() };
    const context = { env, tenant: "local", server };
    const runs: unknown[] = [];
    for (let i = 0; i < 2; i++)
      runs.push(expectOk(replyObject(await executeSandbox(id, null, context, () => {}))).result);
    expect(runs).toEqual([1, 2]);
  });
});
