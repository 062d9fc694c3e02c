/**
 * @module invalid-messages
 * JSON-RPC's own errors, each naming the field and why, where the SDK answers with another code:
 * - a body that is JSON but not JSON-RPC (no `method`, `jsonrpc` not "2.0", an object as `id`,
 *   `params` that are not an object, an empty batch) is -32600 Invalid Request; the SDK says
 *   -32700 Parse error, which means the JSON itself did not parse, or accepts an empty batch;
 * - a request for a method MCP defines whose params do not fit it is -32602 Invalid params; the
 *   SDK parses params inside its handler, where a failed parse becomes -32603 Internal error
 *   carrying zod's raw issue dump. A client (or a model) told "internal" has no reason to fix
 *   its call.
 * Both use the SDK's own schemas, so what is valid stays what the SDK accepts.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ClientRequestSchema,
  ErrorCode,
  type JSONRPCMessage,
  JSONRPCErrorResponseSchema,
  JSONRPCNotificationSchema,
  JSONRPCRequestSchema,
  JSONRPCResultResponseSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { fieldName, issuesOf } from "../validate.ts";

export interface MessageIssue {
  path: (string | number)[];
  message: string;
}

/** `params.name`, `[1].id` (a batch's second message), `(message)` for the message itself. */
const named = (path: MessageIssue["path"]) => fieldName(path) || "(message)";

const described = (issues: MessageIssue[]) =>
  issues.map((issue) => `\`${named(issue.path)}\`: ${issue.message}`).join("; ");

type RequestSchema = (typeof ClientRequestSchema.options)[number];

/** Every client request MCP defines, by method: the schemas the SDK's handlers parse with. */
const REQUEST_SCHEMAS = new Map<string, RequestSchema>(
  ClientRequestSchema.options.map((schema) => [schema.shape.method.value, schema]),
);

/** The -32602 error for `message`, or undefined when it is not a request MCP defines or its params fit. */
export function invalidParams(message: JSONRPCMessage): { message: string; issues: MessageIssue[] } | undefined {
  if (!("method" in message) || !("id" in message)) return undefined;
  const parsed = REQUEST_SCHEMAS.get(message.method)?.safeParse(message);
  if (parsed === undefined || parsed.success) return undefined;
  const issues = issuesOf(parsed.error);
  return { message: `Invalid params for ${message.method}: ${described(issues)}`, issues };
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

/** What is wrong with one message of a body, by the SDK's schema for the kind it looks like. */
function messageIssues(message: unknown, prefix: (string | number)[]): MessageIssue[] {
  if (typeof message !== "object" || message === null || Array.isArray(message))
    return [{ path: prefix, message: "a JSON-RPC message must be an object" }];
  // Without a method, a `result` or an `error` makes it a response; anything else is taken for a
  // request (so a missing `method` is what its issues name).
  const response = !("method" in message) && ("result" in message || "error" in message);
  const schema = response
    ? "error" in message
      ? JSONRPCErrorResponseSchema
      : JSONRPCResultResponseSchema
    : "method" in message && !("id" in message)
      ? JSONRPCNotificationSchema
      : JSONRPCRequestSchema;
  const parsed = schema.safeParse(message);
  return parsed.success ? [] : issuesOf(parsed.error, prefix);
}

/**
 * The -32600 answer for a body that parsed as JSON but is not JSON-RPC, or undefined when it is.
 * A single message's own id is kept when it is a valid one; a batch's answer has a null id.
 */
export function invalidRequest(body: unknown): Response | undefined {
  const batch = Array.isArray(body);
  const issues = batch
    ? body.length === 0
      ? [{ path: [], message: "a batch must hold at least one message" }]
      : body.flatMap((message, index) => messageIssues(message, [index]))
    : messageIssues(body, []);
  if (issues.length === 0) return undefined;
  const ownId = !batch && typeof body === "object" && body !== null ? (body as { id?: unknown }).id : undefined;
  const id = typeof ownId === "string" || (typeof ownId === "number" && Number.isInteger(ownId)) ? ownId : null;
  const answer = {
    jsonrpc: "2.0",
    id,
    error: { code: ErrorCode.InvalidRequest, message: `Invalid Request: ${described(issues)}`, data: { issues } },
  };
  return new Response(JSON.stringify(answer), { status: 400, headers: { "content-type": "application/json" } });
}
