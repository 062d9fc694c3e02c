/**
 * A real MCP client (the official TypeScript SDK) against the loader under `wrangler dev`, over
 * HTTP: list the tools, count their descriptions with a real tokenizer, run search and execute.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { encode } from "gpt-tokenizer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../../../test-support/dev-server.ts";

let server: DevServerClient;
let client: Client;

beforeAll(async () => {
  server = await sharedDevServer();
  client = new Client({ name: "dwl-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`), {
      requestInit: { headers: { authorization: "Bearer dwl_local_dev" } },
    }),
  );
});
afterAll(async () => {
  await client?.close();
});

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };
const textOf = (result: unknown) => (result as ToolResult).content.map((c) => c.text).join("\n");

describe("MCP over wrangler dev with the official SDK client", () => {
  it("lists search and execute, whose descriptions and input schemas total under 1,000 tokens", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["execute", "search"]);
    const tokens = tools.reduce(
      (sum, t) => sum + encode(t.description ?? "").length + encode(JSON.stringify(t.inputSchema)).length,
      0,
    );
    expect(tokens).toBeGreaterThan(100); // the count is real, not an empty string
    expect(tokens).toBeLessThan(1_000);
  });

  it("searches the API declarations", async () => {
    const result = await client.callTool({ name: "search", arguments: { query: "kv list keys with a prefix" } });
    expect(textOf(result)).toContain("interface KV");
  });

  it("executes a program, and reports runtime and compile errors as error results", async () => {
    const ok = await client.callTool({ name: "execute", arguments: { code: "async () => 6 * 7" } });
    expect((ok as ToolResult).isError).toBe(false);
    expect(textOf(ok)).toContain("result:\n42");

    const runtime = await client.callTool({
      name: "execute",
      arguments: { code: "export default () => {\n  throw new RangeError('out of range');\n}" },
    });
    expect((runtime as ToolResult).isError).toBe(true);
    expect(textOf(runtime)).toContain("error (runtime): RangeError: out of range");
    expect(textOf(runtime)).toMatch(/index\.ts:2:\d+/);

    const compile = await client.callTool({ name: "execute", arguments: { code: "export default (" } });
    expect((compile as ToolResult).isError).toBe(true);
    expect(textOf(compile)).toContain("error (compile)");
  });

  it("calls an operator tool from a program", async () => {
    const result = await client.callTool({
      name: "execute",
      arguments: {
        code: "async (_, env) => (await env.NOTES.add('from mcp', 'hello')).title",
        tools: ["notes"],
        storage: { namespace: "mcp-node-test" },
      },
    });
    expect(textOf(result)).toContain('"from mcp"');
  });

  it("keeps answering executions while 30 sessions hold their GET streams open (npm run dev)", async () => {
    const clients: Client[] = [];
    try {
      for (let i = 0; i < 30; i++) {
        const session = new Client({ name: `dwl-test-${i}`, version: "1.0.0" });
        await session.connect(
          new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`), {
            requestInit: { headers: { authorization: "Bearer dwl_local_dev" } },
          }),
        );
        clients.push(session);
      }
      const started = Date.now();
      const res = await server.post("/execute", { code: "export default () => 'still serving'" });
      expect(await res.json()).toMatchObject({ ok: true, result: "still serving" });
      expect(Date.now() - started).toBeLessThan(10_000);
      const last = await clients[29]?.callTool({ name: "execute", arguments: { code: "async () => 6 * 7" } });
      expect(textOf(last)).toContain("result:\n42");
    } finally {
      await Promise.all(clients.map((session) => session.close().catch(() => {})));
    }
  });
});
