import { ExecuteResponseSchema } from "@dwl/protocol";
import { describe, expect, it } from "vitest";
import type { Bundle } from "../bundle/bundle.ts";
import { CompileError } from "../compile-error.ts";
import type { ServerLimits } from "../limits.ts";
import type { ExecutionContext, RunClock } from "./context.ts";
import { compileFailureReply, httpReply, type RunReply, replyJson, replyObject } from "./respond.ts";
import type { ProgramRun } from "./spawn.ts";

const limits = { cpuMs: 50, subRequests: 50, timeoutMs: 10_000 };
const timing = { totalMs: 3, bundleMs: 1, startMs: 1, runMs: 1, cached: true };
const common = (executionId: string) => ({
  logs: [{ level: "log" as const, message: "hi", time: 0.1 }],
  egress: [],
  timing,
  executionId,
  limits,
});
const context = { env: {} as Env, tenant: "t", server: { logFlushMs: 0 } as ServerLimits } satisfies ExecutionContext;
const clock: RunClock = { executionId: "run-1", kind: "sandbox-http", started: 0 };
const run: ProgramRun = {
  compiled: { bundle: { code: "", map: "", shape: "module" } satisfies Bundle, key: "k", cached: true },
  settings: {},
  context,
  checked: { limits, egress: { allow: [], credentials: [] }, tools: [] },
  clock,
};

describe("execute replies", () => {
  it("splices the result into the JSON text as the child encoded it", () => {
    const reply: RunReply = { ok: true, resultJson: '{"b": 1,"a":[1]}', ...common("run-1") };
    const json = replyJson(reply);
    expect(json).toContain('"result":{"b": 1,"a":[1]}');
    expect(Object.keys(JSON.parse(json))).toEqual([
      "ok",
      "result",
      "logs",
      "egress",
      "timing",
      "executionId",
      "limits",
    ]);
  });

  it("gives MCP the same object HTTP sends as text, success or failure", () => {
    const replies: RunReply[] = [
      { ok: true, resultJson: '{"n":[1,2]}', ...common("run-1"), logsTruncated: true },
      { ok: false, error: { type: "runtime", name: "TypeError", message: "x" }, ...common("run-2") },
    ];
    for (const reply of replies) {
      expect(replyObject(reply)).toEqual(JSON.parse(replyJson(reply)));
      expect(ExecuteResponseSchema.safeParse(replyObject(reply)).success).toBe(true);
    }
  });

  it("answers a compile failure with empty logs, no run time and the run's limits", () => {
    const err = new CompileError("index.ts:1:5: Expected ';'", {
      file: "index.ts",
      line: 1,
      column: 5,
      lineText: "x y",
    });
    const reply = replyObject(
      compileFailureReply(err, { ...clock, kind: "execute", started: performance.now() }, limits),
    );
    expect(reply).toMatchObject({
      ok: false,
      error: { type: "compile", name: "CompileError", location: { file: "index.ts", line: 1, column: 5 } },
      logs: [],
      egress: [],
      timing: { startMs: 0, runMs: 0, cached: false },
      executionId: "run-1",
      limits,
    });
  });
});

describe("sandbox HTTP replies", () => {
  it("answers a timeout with 504 and any other error with 500, naming the execution", async () => {
    for (const [type, status] of [
      ["timeout", 504],
      ["cpu_limit", 500],
    ] as const) {
      const error = { type, name: "Error", message: "m" };
      const res = httpReply({ report: { logs: [], runMs: 1, error }, response: null }, run);
      expect(res.status).toBe(status);
      expect(res.headers.get("x-dwl-execution-id")).toBe("run-1");
      expect(await res.json()).toEqual({ error, executionId: "run-1" });
    }
  });

  it("passes the program's response through with the execution id", async () => {
    const response = new Response("hello", { status: 201, headers: { "x-app": "1" } });
    const res = httpReply({ report: { logs: [], runMs: 1 }, response }, run);
    expect(res.status).toBe(201);
    expect(res.headers.get("x-app")).toBe("1");
    expect(res.headers.get("x-dwl-execution-id")).toBe("run-1");
    expect(await res.text()).toBe("hello");
  });
});
