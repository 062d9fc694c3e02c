import { afterEach, describe, expect, it, vi } from "vitest";
import { execute, expectOk } from "../helpers.ts";

afterEach(() => vi.restoreAllMocks());

describe("execution log line", () => {
  it("logs one structured line per execution, without user data", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const res = expectOk(await execute({ code: "export default (input) => { console.log('user log line'); return input.secret + '-result'; }", input: { secret: "hunter2" } }));
    const events = lines.filter((l) => l.includes('"event":"dwl.execution"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ executionId: res.executionId, tenant: "local", kind: "execute", shape: "module", outcome: "ok", logLines: 1 });
    expect(JSON.stringify(events[0])).not.toMatch(/hunter2|user log line/);
  });
});
