/**
 * @module mcp/server
 * Code Mode over MCP: a stateless Streamable HTTP server with exactly two tools, `search` (the
 * declarations of everything a program can use) and `execute` (POST /execute's semantics). A
 * model writes one short program instead of calling tools one by one. Built on the official SDK;
 * a fresh server per request, since nothing is kept between requests.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { readRequestBody } from "@modelcontextprotocol/sdk/server/requestBody.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { ExecuteRequestSchema, PROGRAM_LANGUAGES, resultForModel, type ExecuteResponse } from "@dwl/protocol";
import { z } from "zod";
import { DwlHttpError } from "../errors.ts";
import { Slots } from "../slots.ts";
import { admitted } from "../fairness/admit.ts";
import type { ExecutionContext } from "../run/context.ts";
import { executeProgram } from "../run/pipeline.ts";
import { checkProgramRequest } from "../run/request-check.ts";
import { replyObject } from "../run/respond.ts";
import { fieldName, validate } from "../validate.ts";
import { searchCatalog } from "./catalog.ts";
import { answerInvalidParams, invalidRequest } from "./invalid-messages.ts";

export const SEARCH_DESCRIPTION =
  "Search the TypeScript API available to programs run by `execute`: env.KV, env.FILES, fetch/egress rules and credentials, operator tools, program shapes, limits. Returns matching declarations. Call it before writing code that uses storage, network or tools.";

export const EXECUTE_DESCRIPTION =
  'Run one JavaScript/TypeScript program in a sandbox and get its result, console logs and errors. Write the whole task as one program, e.g. `async (input, env) => { … return value }` or a module with `export default`. Python works too (`language: "python"`, or `.py` files). Keep state in env.KV or env.FILES: module variables may persist between runs of the same program, or not. On failure you get the error type, message and a stack with your own line numbers: fix the code and retry.';

/** Told to the client at initialisation: how the two tools are meant to be used together. */
export const SERVER_INSTRUCTIONS =
  "Code Mode: instead of many tool calls, write one short TypeScript program. Call `search` to find the API a program can use (env.KV, env.FILES, fetch and egress rules, operator tools), then run the program with `execute`. Each run starts from a clean sandbox; storage persists between runs.";

/**
 * What a model is shown of `execute`'s arguments: every field of POST /execute, with its type and
 * what it is for (test/e2e/mcp.test.ts checks it lists exactly ExecuteRequestSchema's fields).
 * Shown only, never checked against: see {@link executeInput}.
 */
const executeArguments = z.strictObject({
  code: z.string().optional().describe("the program (or `files`)"),
  language: z
    .enum(PROGRAM_LANGUAGES)
    .optional()
    .describe("python runs on Pyodide (`main(input, env)` or last expression)"),
  files: z.record(z.string(), z.string()).optional().describe("path → source, for several modules"),
  entry: z.string().optional().describe("entry file of `files`"),
  input: z.unknown().optional().describe("JSON passed as the first argument"),
  request: z
    .strictObject({
      method: z.string().optional(),
      path: z.string().optional(),
      headers: z.record(z.string(), z.string()).optional(),
      body: z.string().optional(),
      bodyEncoding: z.enum(["text", "base64"]).optional(),
    })
    .optional()
    .describe("for a `fetch` handler"),
  dependencies: z.record(z.string(), z.string()).optional().describe('npm packages, e.g. {"zod":"^4"}'),
  egress: z
    .strictObject({ allow: z.array(z.string()).optional(), credentials: z.array(z.string()).optional() })
    .optional()
    .describe("hosts to allow; credentials to inject"),
  storage: z.strictObject({ namespace: z.string().optional() }).optional(),
  tools: z.array(z.string()).optional().describe("operator tools to enable"),
  limits: z
    .strictObject({
      cpuMs: z.number().optional(),
      timeoutMs: z.number().optional(),
      subRequests: z.number().optional(),
    })
    .optional(),
});

/**
 * `execute`'s declared input schema. The SDK parses a tool's arguments with it before the handler
 * runs: a wrong type would be refused in the SDK's own words (JSON-RPC -32602, no
 * `structuredContent`) and a key it does not declare silently dropped. So it takes any object as
 * sent, and the handler checks it as POST /execute does (ExecuteRequestSchema, then the request
 * check), the one home of that rule. `.meta()` is merged into the JSON Schema the SDK lists
 * (zod.dev/json-schema, "Metadata"), so `tools/list` still shows {@link executeArguments}.
 */
const { $schema: _, ...listedArguments } = z.toJSONSchema(executeArguments, { io: "input" });
const executeInput = z.looseObject({}).meta(listedArguments);

/** A readable account of a run for a model: result or error first, then logs and timing. */
export function describeRun(res: ExecuteResponse): string {
  const lines: string[] = [];
  if (res.ok) {
    lines.push(resultForModel(res.result));
  } else {
    lines.push(`error (${res.error.type}): ${res.error.name}: ${res.error.message}`);
    if ("location" in res.error && res.error.location) {
      const { file, line, column, lineText } = res.error.location;
      lines.push(`at ${file}:${line}:${column}${lineText ? `\n  ${lineText}` : ""}`);
    }
    if (res.error.stack) lines.push(`stack:\n${res.error.stack}`);
  }
  if (res.logs.length > 0) lines.push(`logs:\n${res.logs.map((l) => `[${l.level}] ${l.message}`).join("\n")}`);
  if (res.egress.length > 0)
    lines.push(
      `egress:\n${res.egress.map((e) => `${e.method} ${e.url} → ${e.denied ? `denied: ${e.denied}` : e.error ? `failed: ${e.error}` : e.status}`).join("\n")}`,
    );
  lines.push(`timing: ${res.timing.totalMs} ms total (${res.timing.runMs} ms running)`);
  return lines.join("\n\n");
}

/**
 * A request the loader refuses, as an error result: the same `{ error: { type, message, issues } }`
 * POST /execute answers with (and its HTTP status), the type also in the text a model reads.
 */
function refusal(err: DwlHttpError) {
  const issues = (err.issues ?? []).map((i) => `\n- ${fieldName(i.path) || "(arguments)"}: ${i.message}`).join("");
  return {
    isError: true,
    content: [
      { type: "text" as const, text: `request refused (${err.type}, HTTP ${err.status}): ${err.message}${issues}` },
    ],
    structuredContent: { ...err.toBody(), status: err.status } as Record<string, unknown>,
  };
}

function buildServer(context: ExecutionContext): McpServer {
  const server = new McpServer(
    { name: "dwl", version: "1.0.0" },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator(), instructions: SERVER_INSTRUCTIONS },
  );
  const searchAnnotations = {
    title: "Search the program API",
    readOnlyHint: true,
    idempotentHint: true,
    openWorldHint: false,
  };
  server.registerTool(
    "search",
    {
      description: SEARCH_DESCRIPTION,
      annotations: searchAnnotations,
      inputSchema: { query: z.string().describe("what you need, e.g. 'save a file'") },
    },
    async ({ query }) => {
      const { sections, matched } = searchCatalog(query);
      const head = matched ? `Matches for "${query}":` : `Nothing matched "${query}"; everything available:`;
      return {
        content: [
          { type: "text" as const, text: [head, ...sections.map((s) => `## ${s.title}\n${s.text}`)].join("\n\n") },
        ],
      };
    },
  );
  // A program may write storage and reach allowed hosts: not read-only, not idempotent.
  const executeAnnotations = {
    title: "Run a program",
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: true,
  };
  // The calls of one JSON-RPC batch run one after another: each holds the runtime's thread as a
  // request of its own would, and the supervisor admits a batch as one run (the largest budget).
  const oneCallAtATime = new Slots(1);
  server.registerTool(
    "execute",
    { description: EXECUTE_DESCRIPTION, annotations: executeAnnotations, inputSchema: executeInput },
    (args) =>
      oneCallAtATime.run(async () => {
        try {
          const body = validate(ExecuteRequestSchema, args);
          const checked = await checkProgramRequest(body, context);
          const response = replyObject(
            await admitted(context.env, context.tenant, context.server, () => executeProgram(body, context, checked), {
              timeoutMs: checked.limits.timeoutMs,
            }),
          );
          return {
            isError: !response.ok,
            content: [{ type: "text" as const, text: describeRun(response) }],
            structuredContent: response,
          };
        } catch (err) {
          if (err instanceof DwlHttpError) return refusal(err);
          throw err;
        }
      }),
  );
  // The tool list is fixed: there is never a change to announce.
  server.server.registerCapabilities({ tools: { listChanged: false } });
  return server;
}

/** Handles one MCP request (JSON response, or SSE when the client lists text/event-stream first). */
export async function handleMcp(request: Request, context: ExecutionContext): Promise<Response> {
  const accept = request.headers.get("accept") ?? "";
  const sse =
    accept.indexOf("text/event-stream") !== -1 &&
    (accept.indexOf("application/json") === -1 ||
      accept.indexOf("text/event-stream") < accept.indexOf("application/json"));
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: !sse,
  });
  const server = buildServer(context);
  await server.connect(transport);
  answerInvalidParams(transport);
  // A copy of the body, read again only when the SDK refused it (400) or found no request in it
  // (202): to tell JSON that is not JSON-RPC (-32600) from JSON that did not parse (-32700).
  const copy = request.clone();
  const answer = await transport.handleRequest(request);
  if (answer.status !== 400 && answer.status !== 202) return answer;
  return (await notJsonRpc(copy)) ?? answer;
}

/** The -32600 answer for a body that is JSON but not JSON-RPC; undefined for anything else. */
async function notJsonRpc(copy: Request): Promise<Response | undefined> {
  const body = await readRequestBody(copy);
  if (body.tooLarge) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
  } catch {
    return undefined;
  }
  return invalidRequest(parsed);
}
