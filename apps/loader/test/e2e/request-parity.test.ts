/**
 * Every way into a program refuses the same request the same way (run/request-check.ts): the
 * same HTTP status, error type and field, whether it arrives at POST /execute, POST /sandboxes,
 * PUT /sandboxes/:id, POST /sandboxes/:id/execute, ANY /sandboxes/:id/http/* or the MCP
 * `execute` tool (which reports the type and status in its error result).
 */
import { RequestErrorBodySchema, SandboxInfoSchema } from "@dwl/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { call } from "../helpers.ts";

const MiB = 1024 * 1024;
const PROGRAM = "export default { fetch: () => new Response('ok') }";
/** `input` nested 10,000 levels deep, as JSON text (too deep for a recursive encoder). */
const DEEP_INPUT = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;

interface Refusal {
  status: number;
  type: string;
  path: (string | number)[] | undefined;
}

/** A request body: `fields` as JSON, plus `input` spliced in as raw JSON text when given. */
function body(fields: Record<string, unknown>, rawInput?: string): string {
  const json = JSON.stringify(fields);
  return rawInput === undefined ? json : `${json.slice(0, -1)}${json === "{}" ? "" : ","}"input":${rawInput}}`;
}

async function refusalOf(res: Response): Promise<Refusal> {
  const { error } = RequestErrorBodySchema.parse(await res.json());
  return { status: res.status, type: error.type, path: error.issues?.[0]?.path };
}

/** The MCP `execute` tool's refusal, read from its error result. */
async function mcpRefusal(args: string): Promise<Refusal> {
  const rpc = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":${args}}}`;
  const res = await call("/mcp", {
    method: "POST",
    headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
    body: rpc,
  });
  expect(res.status).toBe(200);
  const reply = (await res.json()) as {
    result?: {
      isError?: boolean;
      content?: { text: string }[];
      structuredContent?: { status?: number; error?: { type: string; issues?: { path: (string | number)[] }[] } };
    };
  };
  expect(reply.result?.isError, JSON.stringify(reply)).toBe(true);
  const structured = reply.result?.structuredContent;
  expect(reply.result?.content?.[0]?.text).toContain(`request refused (${structured?.error?.type}`);
  return {
    status: structured?.status ?? 0,
    type: structured?.error?.type ?? "",
    path: structured?.error?.issues?.[0]?.path,
  };
}

let sandboxId = "";
let credentialSandboxId = "";
const credential = `gone-${crypto.randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  const created = await call("/sandboxes", { method: "POST", body: JSON.stringify({ code: PROGRAM }) });
  expect(created.status, await created.clone().text()).toBe(201);
  sandboxId = SandboxInfoSchema.parse(await created.json()).id;
  // A sandbox whose credential is deleted after it was stored: its runs are refused from then on.
  expect(
    (
      await call(`/credentials/${credential}`, {
        method: "PUT",
        body: JSON.stringify({ value: "v", hosts: ["api.example.com"] }),
      })
    ).ok,
  ).toBe(true);
  const withCredential = await call("/sandboxes", {
    method: "POST",
    body: JSON.stringify({ code: PROGRAM, egress: { credentials: [credential] } }),
  });
  expect(withCredential.status, await withCredential.clone().text()).toBe(201);
  credentialSandboxId = SandboxInfoSchema.parse(await withCredential.json()).id;
  expect((await call(`/credentials/${credential}`, { method: "DELETE" })).status).toBe(204);
});

/** Program definitions every definition-taking entry point refuses. */
const definitions: { name: string; fields: Record<string, unknown>; expected: Refusal }[] = [
  {
    name: "oversized code",
    fields: { code: `${PROGRAM}//${"x".repeat(MiB)}` },
    expected: { status: 413, type: "payload_too_large", path: ["code"] },
  },
  {
    name: "oversized files total",
    fields: { files: { "index.ts": PROGRAM, "a.ts": "x".repeat(MiB / 2), "b.ts": "x".repeat(MiB / 2) } },
    expected: { status: 413, type: "payload_too_large", path: ["files"] },
  },
  {
    name: "entry naming no file",
    fields: { files: { "index.ts": PROGRAM }, entry: "main.ts" },
    expected: { status: 400, type: "invalid_request", path: ["entry"] },
  },
  {
    name: "entry without files",
    fields: { code: PROGRAM, entry: "index.ts" },
    expected: { status: 400, type: "invalid_request", path: ["entry"] },
  },
  {
    name: "files with no entry to pick",
    fields: { files: { "a.ts": PROGRAM, "b.ts": PROGRAM } },
    expected: { status: 400, type: "invalid_request", path: ["entry"] },
  },
  // A .py file makes it a Python program, where the .ts file has no place.
  {
    name: "two languages in one program",
    fields: { files: { "index.ts": PROGRAM, "util.py": "x = 1" } },
    expected: { status: 400, type: "invalid_request", path: ["files", "index.ts"] },
  },
  // Checked by the schema, before any other check: the same issues at every entry point.
  {
    name: "unknown field",
    fields: { code: PROGRAM, bogus: true },
    expected: { status: 400, type: "invalid_request", path: [] },
  },
  {
    name: "unknown field in limits",
    fields: { code: PROGRAM, limits: { timeout: 100 } },
    expected: { status: 400, type: "invalid_request", path: ["limits"] },
  },
  {
    name: "cpuMs as a string",
    fields: { code: PROGRAM, limits: { cpuMs: "10" } },
    expected: { status: 400, type: "invalid_request", path: ["limits", "cpuMs"] },
  },
  {
    name: "bad egress rule",
    fields: { code: PROGRAM, egress: { allow: ["https://x.com"] } },
    expected: { status: 400, type: "invalid_request", path: ["egress", "allow", 0] },
  },
  {
    name: "unknown credential",
    fields: { code: PROGRAM, egress: { credentials: ["no-such-credential"] } },
    expected: { status: 400, type: "invalid_request", path: ["egress", "credentials", 0] },
  },
  {
    name: "unknown tool",
    fields: { code: PROGRAM, tools: ["no-such-tool"] },
    expected: { status: 400, type: "invalid_request", path: ["tools", 0] },
  },
];

/** Inputs every input-taking entry point refuses. */
const inputs: { name: string; raw: string; expected: Refusal }[] = [
  {
    name: "oversized input",
    raw: JSON.stringify("x".repeat(MiB)),
    expected: { status: 413, type: "payload_too_large", path: ["input"] },
  },
  {
    name: "input nested 10,000 levels deep",
    raw: DEEP_INPUT,
    expected: { status: 400, type: "invalid_request", path: ["input"] },
  },
];

describe("one request check for every program entry point", () => {
  describe.each(definitions)("$name", ({ fields, expected }) => {
    it("POST /execute", async () => {
      expect(await refusalOf(await call("/execute", { method: "POST", body: body(fields) }))).toEqual(expected);
    });
    it("POST /sandboxes", async () => {
      expect(await refusalOf(await call("/sandboxes", { method: "POST", body: body(fields) }))).toEqual(expected);
    });
    it("PUT /sandboxes/:id", async () => {
      expect(await refusalOf(await call(`/sandboxes/${sandboxId}`, { method: "PUT", body: body(fields) }))).toEqual(
        expected,
      );
    });
    it("MCP execute", async () => {
      expect(await mcpRefusal(body(fields))).toEqual(expected);
    });
  });

  describe.each(inputs)("$name", ({ raw, expected }) => {
    it("POST /execute", async () => {
      expect(await refusalOf(await call("/execute", { method: "POST", body: body({ code: PROGRAM }, raw) }))).toEqual(
        expected,
      );
    });
    it("POST /sandboxes/:id/execute", async () => {
      expect(
        await refusalOf(await call(`/sandboxes/${sandboxId}/execute`, { method: "POST", body: body({}, raw) })),
      ).toEqual(expected);
    });
    it("MCP execute", async () => {
      expect(await mcpRefusal(body({ code: PROGRAM }, raw))).toEqual(expected);
    });
  });

  describe("a stored sandbox whose credential was deleted", () => {
    const expected: Refusal = { status: 400, type: "invalid_request", path: ["egress", "credentials", 0] };
    // The same check and the same issue; the sandbox's stored state, not the caller's request, is at fault.
    const stored: Refusal = { status: 409, type: "not_configured", path: ["egress", "credentials", 0] };
    it("POST /sandboxes/:id/execute", async () => {
      expect(
        await refusalOf(await call(`/sandboxes/${credentialSandboxId}/execute`, { method: "POST", body: "{}" })),
      ).toEqual(stored);
    });
    it("ANY /sandboxes/:id/http/*", async () => {
      expect(
        await refusalOf(await call(`/sandboxes/${credentialSandboxId}/http/`, { method: "POST", body: "ping" })),
      ).toEqual(stored);
    });
    it("POST /execute and MCP execute, with the same settings", async () => {
      const fields = { code: PROGRAM, egress: { credentials: [credential] } };
      expect(await refusalOf(await call("/execute", { method: "POST", body: body(fields) }))).toEqual(expected);
      expect(await mcpRefusal(body(fields))).toEqual(expected);
    });
  });
});
