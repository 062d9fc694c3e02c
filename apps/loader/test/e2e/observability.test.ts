import { afterEach, describe, expect, it, vi } from "vitest";
import { execute, expectOk } from "../helpers.ts";
import { logExecution } from "../../src/observability.ts";

afterEach(() => vi.restoreAllMocks());

function captureConsole(): string[] {
  const calls: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void calls.push(args.map(String).join(" ")));
  return calls;
}

const executionEvents = (calls: string[]) =>
  calls
    .flatMap((call) => call.split("\n"))
    .filter((l) => l.includes('"event":"dwl.execution"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("execution log line", () => {
  it("logs one structured line per execution, without user data", async () => {
    const calls = captureConsole();
    const res = expectOk(
      await execute({
        code: "export default (input) => { console.log('user log line'); return input.secret + '-result'; }",
        input: { secret: "hunter2" },
      }),
    );
    // Local mode writes lines in batches (DWL_LOG_FLUSH_MS, 100 ms by default).
    await vi.waitFor(() => expect(executionEvents(calls)).toHaveLength(1), { timeout: 2_000 });
    const events = executionEvents(calls);
    expect(events[0]).toMatchObject({
      executionId: res.executionId,
      tenant: "local",
      kind: "execute",
      shape: "module",
      outcome: "ok",
      logLines: 1,
    });
    expect(JSON.stringify(events[0])).not.toMatch(/hunter2|user log line/);
  });

  it("writes each line at once without a flush interval", () => {
    const calls = captureConsole();
    logExecution({ executionId: "a", tenant: "t", kind: "execute", outcome: "ok" });
    logExecution({ executionId: "b", tenant: "t", kind: "execute", outcome: "ok" });
    expect(calls).toHaveLength(2);
    expect(executionEvents(calls).map((e) => e.executionId)).toEqual(["a", "b"]);
  });

  it("batches lines into one console call per interval, one JSON line per execution", async () => {
    const calls = captureConsole();
    for (const id of ["a", "b", "c"])
      logExecution({ executionId: id, tenant: "t", kind: "execute", outcome: "ok" }, 50);
    expect(calls).toHaveLength(0);
    await vi.waitFor(() => expect(calls).toHaveLength(1), { timeout: 2_000 });
    expect(executionEvents(calls).map((e) => e.executionId)).toEqual(["a", "b", "c"]);
  });
});
