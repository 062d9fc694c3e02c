/**
 * @module mcp/params
 * A request for a method MCP defines, whose params do not match that method's schema, is answered
 * with JSON-RPC's own error for it, -32602 "Invalid params", naming each field and why. The SDK
 * parses params inside its request handler, where a failed parse becomes -32603 "Internal error"
 * carrying zod's raw issue dump: a client (or a model) told "internal" has no reason to fix its
 * call. Checked where the transport hands messages to the server, so a batch's other messages,
 * and answers over SSE, go on as before.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ClientRequestSchema, ErrorCode, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

type RequestSchema = (typeof ClientRequestSchema.options)[number];

/** Every client request MCP defines, by method: the schemas the SDK's handlers parse with. */
const REQUEST_SCHEMAS = new Map<string, RequestSchema>(
  ClientRequestSchema.options.map((schema) => [schema.shape.method.value, schema]),
);

export interface ParamsIssue {
  path: (string | number)[];
  message: string;
}

/** The -32602 error for `message`, or undefined when it is not a request MCP defines or its params fit. */
export function invalidParams(message: JSONRPCMessage): { message: string; issues: ParamsIssue[] } | undefined {
  if (!("method" in message) || !("id" in message)) return undefined;
  const schema = REQUEST_SCHEMAS.get(message.method);
  const parsed = schema?.safeParse(message);
  if (parsed === undefined || parsed.success) return undefined;
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.filter((key): key is string | number => typeof key !== "symbol"),
    message: issue.message,
  }));
  const named = issues.map((issue) => `\`${issue.path.join(".") || "(request)"}\`: ${issue.message}`).join("; ");
  return { message: `Invalid params for ${message.method}: ${named}`, issues };
}

/**
 * Wraps the transport's delivery to the server (set by `server.connect`): a request with invalid
 * params is answered on the transport, under its own id, and never reaches the handler.
 */
export function answerInvalidParams(transport: Transport): void {
  const deliver = transport.onmessage;
  if (!deliver) throw new Error("connect the server to the transport first");
  transport.onmessage = (message, extra) => {
    const invalid = invalidParams(message);
    if (invalid === undefined || !("id" in message)) return deliver(message, extra);
    void transport.send({
      jsonrpc: "2.0",
      id: message.id,
      error: { code: ErrorCode.InvalidParams, message: invalid.message, data: { issues: invalid.issues } },
    });
  };
}
