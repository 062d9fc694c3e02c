/**
 * Code Mode in agent frameworks, against the real loader (`npm run dev`, dev-server.ts) and no
 * network: the Vercel AI SDK's own `generateText` with its mock language model scripted to write a
 * failing program, read the error, fix it and answer; and the plain JSON-schema function tool as
 * OpenAI's and Anthropic's SDKs take it.
 */
import { generateText, stepCountIs } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../../../test-support/dev-server.ts";
import { codeModeTool } from "./ai.ts";
import { DwlClient } from "./client.ts";
import {
  CODE_MODE_TOOL_NAME,
  codeModeFunction,
  runCodeModeCall,
  toAnthropicTool,
  toOpenAITool,
  type CodeModeResult,
} from "./code-mode.ts";

let server: DevServerClient;
let dwl: DwlClient;
beforeAll(async () => {
  server = await sharedDevServer();
  dwl = new DwlClient({ url: server.base, key: "dwl_local_dev" });
});

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 20, text: 20, reasoning: undefined },
};

/** One scripted model turn that calls the Code Mode tool with `code`. */
const callTool = (id: string, code: string) => ({
  content: [
    {
      type: "tool-call" as const,
      toolCallId: id,
      toolName: CODE_MODE_TOOL_NAME,
      input: JSON.stringify({ code, input: { n: 21 } }),
    },
  ],
  finishReason: { unified: "tool-calls" as const, raw: undefined },
  usage,
  warnings: [],
});

describe("codeModeTool with the Vercel AI SDK", () => {
  it("lets a model see its program's error, fix the code and answer with the result", async () => {
    const model = new MockLanguageModelV4({
      doGenerate: [
        callTool(
          "call-1",
          "export default (input: { n: number }) => {\n  const xs: number[] = [];\n  return xs[0].toFixed(input.n);\n};",
        ),
        callTool(
          "call-2",
          'export default async (input: { n: number }, env) => {\n  await env.KV.put("answer", String(input.n * 2));\n  console.log("stored");\n  return Number(await env.KV.get("answer"));\n};',
        ),
        {
          content: [{ type: "text", text: "The answer is 42." }],
          finishReason: { unified: "stop", raw: undefined },
          usage,
          warnings: [],
        },
      ],
    });
    const result = await generateText({
      model,
      tools: { [CODE_MODE_TOOL_NAME]: await codeModeTool(dwl, { storage: { namespace: "ai-sdk-test" } }) },
      stopWhen: stepCountIs(5),
      prompt: "Double 21 and keep it in KV.",
    });

    // The model was told the typed API and the input schema.
    const [offered] = model.doGenerateCalls[0]?.tools ?? [];
    expect(offered).toMatchObject({ type: "function", name: CODE_MODE_TOOL_NAME, inputSchema: { required: ["code"] } });
    const description = (offered as { description: string }).description;
    expect(description).toContain("interface KV");
    expect(description).toContain("interface Files");
    expect(description).toContain("fetch() is denied");
    expect(description).not.toContain("Operator tool");
    expect(description).not.toMatch(/^## Python/m);

    const outputs = result.steps.flatMap((step) => step.toolResults.map((r) => r.output as CodeModeResult));
    expect(outputs).toHaveLength(2);
    expect(outputs[0]).toMatchObject({ ok: false, error: { type: "runtime", name: "TypeError" } });
    expect(outputs[0]?.error?.stack).toMatch(/index\.ts:3:\d+/);
    expect(outputs[1]).toEqual({ ok: true, result: 42, logs: ["[log] stored"] });
    // The failure went back to the model in the next turn's prompt.
    expect(JSON.stringify(model.doGenerateCalls[1]?.prompt)).toContain("Cannot read properties of undefined");
    expect(result.text).toBe("The answer is 42.");
  });
});

describe("the JSON-schema function tool (OpenAI, Anthropic)", () => {
  it("describes the API in the shapes both SDKs take, with an operator tool's declarations only when enabled", async () => {
    const fn = await codeModeFunction(dwl, { tools: ["notes"], egress: { allow: ["api.example.com"] } });
    expect(fn.parameters).toMatchObject({
      type: "object",
      required: ["code"],
      properties: { code: { type: "string" } },
    });
    expect(fn.description).toContain('Operator tool "notes"');
    expect(fn.description).toContain("fetch() may reach: api.example.com.");
    expect(toOpenAITool(fn)).toEqual({
      type: "function",
      function: { name: CODE_MODE_TOOL_NAME, description: fn.description, parameters: fn.parameters },
    });
    expect(toAnthropicTool(fn)).toEqual({
      name: CODE_MODE_TOOL_NAME,
      description: fn.description,
      input_schema: fn.parameters,
    });
    expect((await codeModeFunction(dwl)).description).not.toContain('Operator tool "notes"');
  });

  it("answers a call given as OpenAI's JSON string or Anthropic's object, errors included", async () => {
    const ok = await runCodeModeCall(dwl, JSON.stringify({ code: "async (input) => input.n * 2", input: { n: 21 } }));
    expect(ok).toMatchObject({ isError: false, content: "result:\n42" });

    const compile = await runCodeModeCall(dwl, { code: "export default (" });
    expect(compile.isError).toBe(true);
    expect(compile.content).toMatch(/^error \(compile\): /);
    expect(compile.content).toContain("at index.ts:1:");

    // A field the schema does not have is refused, not dropped: the run would not be the one asked.
    const extra = await runCodeModeCall(dwl, { code: "print('hi')", language: "python", egress: { allow: ["*"] } });
    expect(extra).toMatchObject({ isError: true, result: { ok: false, error: { type: "invalid_request" } } });
    expect(extra.content).toContain("unknown arguments `language`, `egress`");

    const notJson = await runCodeModeCall(dwl, "{code:");
    expect(notJson).toMatchObject({ isError: true, result: { ok: false, error: { type: "invalid_request" } } });

    // A denied fetch: the model is told it cannot widen egress, not to edit a field it has not got.
    const denied = await runCodeModeCall(dwl, { code: "async () => (await fetch('https://api.example.com/')).status" });
    expect(denied.isError).toBe(true);
    expect(denied.content).toContain("(this tool cannot change what it may reach: it has no network access)");
  });

  it("DwlClient.mcp answers JSON-RPC results, and rejects a JSON-RPC error as invalid_request", async () => {
    const { tools } = (await dwl.mcp("tools/list")) as { tools: { name: string }[] };
    expect(tools.map((t) => t.name).sort()).toEqual(["execute", "search"]);
    await expect(dwl.mcp("no/such/method")).rejects.toMatchObject({
      name: "DwlRequestError",
      type: "invalid_request",
      status: 200,
    });
  });
});
