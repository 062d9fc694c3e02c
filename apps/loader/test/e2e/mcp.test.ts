import { EgressSchema, ExecuteRequestSchema, LimitsSchema, ProgramRequestSchema, StorageSchema } from "@dwl/protocol";
import { describe, expect, it } from "vitest";
import { call } from "../helpers.ts";

interface RpcResponse {
  result?: {
    tools?: { name: string; description: string; inputSchema: unknown; annotations?: Record<string, unknown> }[];
    capabilities?: { tools?: { listChanged?: boolean } };
    instructions?: string;
    content?: { type: string; text: string }[];
    isError?: boolean;
    structuredContent?: Record<string, unknown>;
    serverInfo?: unknown;
  };
  error?: { code: number; message: string };
}

async function rpc(
  method: string,
  params: unknown,
  accept = "application/json, text/event-stream",
): Promise<RpcResponse> {
  const res = await call("/mcp", {
    method: "POST",
    headers: { accept, "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  if (res.headers.get("content-type")?.includes("text/event-stream")) {
    const data = text.split("\n").find((line) => line.startsWith("data: "));
    return JSON.parse(data?.slice(6) ?? "{}") as RpcResponse;
  }
  return JSON.parse(text) as RpcResponse;
}

const callTool = (name: string, args: unknown) => rpc("tools/call", { name, arguments: args });
const text = (res: RpcResponse) => res.result?.content?.map((c) => c.text).join("\n") ?? "";

describe("MCP server", () => {
  it("initialises and lists exactly two tools", async () => {
    const init = await rpc("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "test", version: "1" },
    });
    expect(init.result?.serverInfo).toMatchObject({ name: "dwl" });
    const tools = (await rpc("tools/list", {})).result?.tools ?? [];
    expect(tools.map((t) => t.name).sort()).toEqual(["execute", "search"]);
  });

  it("says how to use its tools, marks search read-only and execute open-world, and never announces list changes", async () => {
    const init = await rpc("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "test", version: "1" },
    });
    expect(init.result?.instructions).toContain("`search`");
    expect(init.result?.capabilities?.tools?.listChanged).toBe(false);
    const tools = (await rpc("tools/list", {})).result?.tools ?? [];
    const byName = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
    expect(byName.search).toMatchObject({ readOnlyHint: true, idempotentHint: true, openWorldHint: false });
    expect(byName.execute).toMatchObject({ readOnlyHint: false, idempotentHint: false, openWorldHint: true });
  });

  it("lists every /execute field as execute's arguments, and no other", async () => {
    const tools = (await rpc("tools/list", {})).result?.tools ?? [];
    const schema = tools.find((t) => t.name === "execute")?.inputSchema as {
      type?: string;
      properties?: Record<string, { type?: string; additionalProperties?: unknown; properties?: object }>;
      additionalProperties?: unknown;
    };
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(Object.keys(ExecuteRequestSchema.shape).sort());
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties?.code?.type).toBe("string");
    expect(schema.properties?.limits?.additionalProperties).toBe(false);
    // The objects' fields too: a field missing there is one a schema-checking client refuses.
    for (const [field, object] of Object.entries({
      request: ProgramRequestSchema,
      limits: LimitsSchema,
      egress: EgressSchema,
      storage: StorageSchema,
    })) {
      expect(Object.keys(schema.properties?.[field]?.properties ?? {}).sort(), field).toEqual(
        Object.keys(object.shape).sort(),
      );
    }
  });

  it("answers over text/event-stream when the client prefers it", async () => {
    const res = await call("/mcp", {
      method: "POST",
      headers: { accept: "text/event-stream, application/json", "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list", params: {} }),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(await res.text()).toContain('"name":"execute"');
  });

  it("search returns the matching declarations", async () => {
    const res = await callTool("search", { query: "save a file with a content type" });
    expect(res.result?.isError).toBeFalsy();
    expect(text(res)).toContain("interface Files");
    expect(text(res)).toContain("put(key: string");
    const notes = await callTool("search", { query: "notebook notes tool" });
    expect(text(notes)).toContain("env.NOTES");
  });

  it("execute runs a program and reports result and logs", async () => {
    const res = await callTool("execute", {
      code: "async (input) => { console.log('summing'); return input.reduce((a, b) => a + b, 0) }",
      input: [1, 2, 3],
    });
    expect(res.result?.isError).toBe(false);
    expect(text(res)).toContain("result:\n6");
    expect(text(res)).toContain("[log] summing");
    expect(res.result?.structuredContent).toMatchObject({ ok: true, result: 6 });
  });

  it("execute says why an outbound request got no answer, in the text a model reads", async () => {
    const closed = "127.0.0.1:9";
    const res = await callTool("execute", {
      code: `async () => { try { await fetch("http://${closed}/x"); } catch { return "no answer"; } }`,
      egress: { allow: [closed] },
    });
    expect(text(res)).toMatch(/egress:\nGET http:\/\/127\.0\.0\.1:9\/x → failed: .*got no answer/);
  });

  it("execute reports a runtime error with the user's line, as an error result", async () => {
    const res = await callTool("execute", {
      code: "export default () => {\n  const user = undefined;\n  return user.name;\n}",
    });
    expect(res.result?.isError).toBe(true);
    expect(text(res)).toContain("error (runtime): TypeError");
    expect(text(res)).toMatch(/index\.ts:3:\d+/);
  });

  it("execute reports a compile error with file, line and the offending code", async () => {
    const res = await callTool("execute", { code: "export default () => {\n  return 1 +;\n}" });
    expect(res.result?.isError).toBe(true);
    expect(text(res)).toContain("error (compile)");
    expect(text(res)).toContain("at index.ts:2:");
  });

  it("runs the execute calls of one batch one after another, as separate requests would hold the runtime", async () => {
    const program =
      "export default async () => { const start = Date.now(); await new Promise((r) => setTimeout(r, 200)); return [start, Date.now()]; }";
    const batch = [1, 2].map((id) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "execute", arguments: { code: program } },
    }));
    const res = await call("/mcp", {
      method: "POST",
      headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
      body: JSON.stringify(batch),
    });
    const answers = (await res.json()) as { id: number; result: { structuredContent: { result: [number, number] } } }[];
    const spans = answers.sort((a, b) => a.id - b.id).map((a) => a.result.structuredContent.result);
    const [[, firstEnd], [secondStart]] = spans as [[number, number], [number, number]];
    expect(secondStart).toBeGreaterThanOrEqual(firstEnd);
  });

  it("execute calls an operator tool", async () => {
    const res = await callTool("execute", {
      code: "export default async (_, env) => { await env.NOTES.add('mcp', 'written by a model'); return (await env.NOTES.search('model')).map((n) => n.title); }",
      tools: ["notes"],
      storage: { namespace: `mcp-${crypto.randomUUID().slice(0, 8)}` },
    });
    expect(res.result?.isError).toBe(false);
    expect(res.result?.structuredContent).toMatchObject({ ok: true, result: ["mcp"] });
  });

  describe("a request whose params do not fit its method", () => {
    async function post(body: unknown, accept = "application/json, text/event-stream"): Promise<unknown> {
      const res = await call("/mcp", {
        method: "POST",
        headers: { accept, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      const answer = await res.text();
      if (!res.headers.get("content-type")?.includes("text/event-stream")) return JSON.parse(answer);
      return answer
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => JSON.parse(line.slice(6)));
    }
    const request = (id: number, method: string, params?: unknown) => ({ jsonrpc: "2.0", id, method, params });

    it.each([
      ["arguments that are not an object", { name: "execute", arguments: "x" }, "params.arguments"],
      ["no tool name", { arguments: {} }, "params.name"],
      ["a tool name that is not a string", { name: 5, arguments: {} }, "params.name"],
      ["no params at all", undefined, "params"],
    ])("answers tools/call with %s as -32602, naming the field", async (_, params, field) => {
      const answer = await post(request(7, "tools/call", params));
      expect(answer).toMatchObject({ jsonrpc: "2.0", id: 7, error: { code: -32602 } });
      const { error } = answer as { error: { message: string; data: { issues: { path: string[] }[] } } };
      expect(error.message).toContain(`\`${field}\``);
      expect(error.data.issues.map((issue) => issue.path.join("."))).toEqual([field]);
    });

    it("answers other methods MCP defines the same way (initialize without its params)", async () => {
      const answer = await post(request(3, "initialize", { capabilities: {} }));
      expect(answer).toMatchObject({ id: 3, error: { code: -32602 } });
      expect((answer as { error: { message: string } }).error.message).toContain("`params.protocolVersion`");
    });

    it.each([
      ["no method", { jsonrpc: "2.0", id: 1 }, 1, "method"],
      ['a jsonrpc other than "2.0"', { jsonrpc: "1.0", id: 2, method: "ping" }, 2, "jsonrpc"],
      ["params that are not an object", { jsonrpc: "2.0", id: 3, method: "tools/call", params: "x" }, 3, "params"],
      ["an object as id", { jsonrpc: "2.0", id: { a: 1 }, method: "ping" }, null, "id"],
      ["a number", 5, null, "(message)"],
      ["an empty batch", [], null, "(message)"],
      ["a batch with a number in it", [{ jsonrpc: "2.0", id: 4, method: "ping" }, 5], null, "[1]"],
    ])(
      "answers JSON that is not JSON-RPC (%s) with -32600 naming the field, not -32700",
      async (_, body, id, field) => {
        const res = await call("/mcp", {
          method: "POST",
          headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        expect(res.status).toBe(400);
        const answer = (await res.json()) as { id: unknown; error: { code: number; message: string } };
        expect(answer).toMatchObject({ jsonrpc: "2.0", id, error: { code: -32600 } });
        expect(answer.error.message).toContain(`\`${field}\``);
      },
    );

    it("still answers a body that is not JSON with -32700", async () => {
      const res = await call("/mcp", {
        method: "POST",
        headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
        body: "{not json",
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ id: null, error: { code: -32700 } });
    });

    it("answers the invalid request of a batch under its id, and runs the others, over SSE too", async () => {
      const batch = [
        request(1, "tools/call", { name: "execute", arguments: { code: "export default () => 41 + 1" } }),
        request(2, "tools/call", { name: "execute", arguments: [] }),
      ];
      for (const accept of ["application/json, text/event-stream", "text/event-stream, application/json"]) {
        const answers = (await post(batch, accept)) as {
          id: number;
          result?: RpcResponse["result"];
          error?: unknown;
        }[];
        const byId = new Map(answers.map((answer) => [answer.id, answer]));
        expect(byId.get(1)?.result?.structuredContent).toMatchObject({ ok: true, result: 42 });
        expect(byId.get(2)?.error).toMatchObject({ code: -32602 });
      }
    });
  });

  it("refuses unauthenticated requests", async () => {
    const res = await call("/mcp", { method: "POST", key: null, body: "{}" });
    expect(res.status).toBe(401);
  });
});
