/**
 * A real MCP client (the official TypeScript SDK) against the loader under `wrangler dev`, over
 * HTTP: list the tools, count their descriptions with a real tokenizer, run search and execute,
 * and see execute refuse what POST /execute refuses, with the same error.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { RequestErrorBodySchema } from "@dwl/protocol";
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

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean; structuredContent?: unknown };
/** A Worker-module program that answers with the method, path and body of the request it is given. */
const FETCH_PROGRAM =
  "export default { async fetch(r) { return new Response(`${r.method} ${new URL(r.url).pathname} ${await r.text()}`) } }";
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

  it("tells a model not to rely on module state between runs, in execute's description and in search", async () => {
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === "execute")?.description).toContain(
      "Keep state in env.KV or env.FILES: module variables may persist between runs of the same program, or not",
    );
    const found = await client.callTool({ name: "search", arguments: { query: "keep state between runs" } });
    expect(textOf(found)).toContain("Module variables may outlive a run");
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

  it("hands `request` to a program's fetch handler", async () => {
    const result = await client.callTool({
      name: "execute",
      arguments: { code: FETCH_PROGRAM, request: { method: "POST", path: "/zzz", body: "hi" } },
    });
    expect((result as ToolResult).isError, textOf(result)).toBe(false);
    expect((result as ToolResult).structuredContent).toMatchObject({
      ok: true,
      result: { status: 200, body: "POST /zzz hi" },
    });
  });

  // Unknown fields, wrong types and bad values alike: the error POST /execute answers with, its
  // HTTP status beside it, never the SDK's own "Input validation error" nor a run that ignores a typo.
  it.each([
    ["an unknown field", { code: FETCH_PROGRAM, bogus: true }],
    ["a sandbox's `name`", { code: FETCH_PROGRAM, name: "not for /execute" }],
    ["an unknown field in limits", { code: FETCH_PROGRAM, limits: { timeout: 100 } }],
    ["an unknown field in storage", { code: FETCH_PROGRAM, storage: { ns: "x" } }],
    ["an unknown field in egress", { code: FETCH_PROGRAM, egress: { hosts: ["api.example.com"] } }],
    ["an unknown field in request", { code: FETCH_PROGRAM, request: { url: "/zzz" } }],
    ["cpuMs as a string", { code: FETCH_PROGRAM, limits: { cpuMs: "10" } }],
    ["code as a number", { code: 5 }],
    ["a namespace as a number", { code: FETCH_PROGRAM, storage: { namespace: 5 } }],
    ["a negative cpuMs", { code: FETCH_PROGRAM, limits: { cpuMs: -1 } }],
    ["a bad namespace", { code: FETCH_PROGRAM, storage: { namespace: "../other" } }],
  ])("refuses %s as POST /execute does", async (_, args) => {
    const res = await server.post("/execute", args);
    expect(res.status).toBe(400);
    const refused = RequestErrorBodySchema.parse(await res.json());
    expect(refused.error.type).toBe("invalid_request");
    expect(refused.error.issues?.length).toBeGreaterThan(0);

    const result = (await client.callTool({ name: "execute", arguments: args })) as ToolResult;
    expect(result.isError, textOf(result)).toBe(true);
    expect(result.structuredContent, textOf(result)).toEqual({ ...refused, status: 400 });
    expect(textOf(result)).toContain("request refused (invalid_request, HTTP 400)");
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

  it("opens no standalone stream: GET /mcp answers 405 with Allow: POST at once", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(`${server.base}/mcp`, {
        method,
        headers: { authorization: "Bearer dwl_local_dev", accept: "text/event-stream" },
        signal: AbortSignal.timeout(5_000),
      });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect(await res.json()).toMatchObject({ error: { type: "not_found" } });
    }
  });

  it("keeps answering executions while 30 sessions are connected (npm run dev)", async () => {
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
