/**
 * @module code-mode
 * Code Mode as one function tool for any agent framework: the model writes a whole program instead
 * of calling tools one by one. `codeModeFunction` builds a JSON-schema function definition whose
 * description carries the TypeScript API a program can use (the declarations the loader serves
 * through MCP `search`); `runCodeModeCall` runs one call of it and answers what the model needs to
 * fix its own code. Framework-neutral: `@dwl/client/ai` wraps the same pieces for the Vercel AI SDK.
 */
import { type ExecuteRequest, type ExecuteResponse, resultForModel } from "@dwl/protocol";
import type { DwlClient, RequestOptions } from "./client.ts";
import { DwlRequestError } from "./errors.ts";

/** The function name the definitions use unless `CodeModeOptions.name` says otherwise. */
export const CODE_MODE_TOOL_NAME = "execute_program";

/**
 * What the developer decides for every program the model writes; the model itself only writes
 * `code` and `input`, so it cannot widen egress, storage or limits.
 */
export interface CodeModeOptions {
  /** Function name (`CODE_MODE_TOOL_NAME`). */
  name?: string;
  /** Hosts the programs may reach and credentials injected for them (default: no network). */
  egress?: ExecuteRequest["egress"];
  /** The tenant storage namespace `env.KV` / `env.FILES` use (the loader's default: "default"). */
  storage?: ExecuteRequest["storage"];
  /** Operator tools to enable (`env.NOTES`, …); only their declarations go into the description. */
  tools?: string[];
  /** Per-run limits (`cpuMs`, `timeoutMs`, `subRequests`), clamped by the loader. */
  limits?: ExecuteRequest["limits"];
  /** npm packages every program may import, e.g. `{ "zod": "^4" }`. */
  dependencies?: Record<string, string>;
  /** Replaces the first paragraph of the description (what the tool is and how to use it). */
  instructions?: string;
}

/** What the model sends. */
export interface CodeModeInput {
  /** A whole TypeScript/JavaScript program, e.g. `async (input, env) => { … return value }`. */
  code: string;
  /** Any JSON value, passed as the program's first argument. */
  input?: unknown;
}

/** What the model gets back: enough to use the result, or to fix the program and try again. */
export interface CodeModeResult {
  ok: boolean;
  /** The program's return value (when `ok`). */
  result?: unknown;
  /**
   * Why it failed: an execution error (`compile`, `runtime`, `timeout`, `cpu_limit`, …, with a stack
   * in the model's own line numbers) or a refused request (`invalid_request`, `payload_too_large`).
   */
  error?: { type: string; name?: string; message: string; at?: string; stack?: string };
  /** Console output, one `[level] message` per line. */
  logs: string[];
}

/** One section of the API a program can use: a title and TypeScript declarations. */
export interface ApiSection {
  title: string;
  text: string;
}

/**
 * The arguments' JSON Schema. A type alias with mutable arrays, so that it is assignable where the
 * OpenAI and Anthropic SDKs declare `{ [key: string]: unknown }` and `required?: string[]`.
 */
export type CodeModeParameters = {
  type: "object";
  properties: { code: { type: "string"; description: string }; input: { description: string } };
  required: string[];
  additionalProperties: false;
};

/** A function tool as JSON Schema: `{ name, description, parameters }` (OpenAI's and most frameworks' shape). */
export type FunctionToolDefinition = {
  name: string;
  description: string;
  parameters: CodeModeParameters;
};

/** A fresh copy of the arguments' JSON Schema: `code` (required) and `input`. */
export function codeModeParameters(): CodeModeParameters {
  return {
    type: "object",
    properties: {
      code: {
        type: "string",
        description:
          "A whole TypeScript program: `async (input, env) => { … return result }` or a module with `export default`.",
      },
      input: { description: "Optional JSON value passed to the program as its first argument." },
    },
    required: ["code"],
    additionalProperties: false,
  };
}

const DEFAULT_INSTRUCTIONS =
  "Run one TypeScript program in a fresh, isolated sandbox and get back its result, console logs and errors. Do the whole task in one program (loops, branches, several API calls) instead of many tool calls. On failure you get the error type, message and a stack with your own line numbers: fix the code and call again.";

/**
 * The declarations of everything a program can use, as the loader's MCP `search` answers them
 * (`query` narrows them; empty gives all). Operator-tool sections are kept only for `tools`, and
 * the Python section is left out (Code Mode programs are TypeScript).
 */
export async function apiDeclarations(
  dwl: DwlClient,
  options: { query?: string; tools?: string[] } & RequestOptions = {},
): Promise<ApiSection[]> {
  const { query = "", tools = [], ...request } = options;
  const answer = await dwl.mcp("tools/call", { name: "search", arguments: { query } }, request);
  const content = Array.isArray(answer.content) ? (answer.content as { type?: unknown; text?: unknown }[]) : [];
  const text = content
    .map((part) => (part.type === "text" && typeof part.text === "string" ? part.text : ""))
    .join("\n");
  // The answer is a heading line, then one "## <title>\n<declarations>" block per section.
  const sections = text
    .split(/^## /m)
    .slice(1)
    .map((block) => {
      const newline = block.indexOf("\n");
      return { title: block.slice(0, newline).trim(), text: block.slice(newline + 1).trim() };
    });
  return sections.filter((s) => {
    // The tool runs TypeScript/JavaScript: the loader's Python section would only mislead a model.
    if (/^Python\b/.test(s.title)) return false;
    const tool = /^Operator tool "([^"]+)"/.exec(s.title)?.[1];
    return tool === undefined || tools.includes(tool);
  });
}

/** The tool description: instructions, what the developer allowed, then the API declarations. */
export function describeCodeMode(sections: ApiSection[], options: CodeModeOptions = {}): string {
  const allowed = options.egress?.allow ?? [];
  const context = [
    allowed.length > 0
      ? `fetch() may reach: ${allowed.join(", ")}.`
      : "fetch() is denied: programs have no network access.",
    options.egress?.credentials?.length
      ? `Credentials injected on requests to their hosts: ${options.egress.credentials.join(", ")} (env.SECRETS holds placeholders).`
      : "",
    options.dependencies && Object.keys(options.dependencies).length > 0
      ? `npm packages you may import: ${Object.keys(options.dependencies).join(", ")}.`
      : "",
  ].filter(Boolean);
  const api = sections.map((s) => `## ${s.title}\n${s.text}`).join("\n\n");
  return [
    options.instructions ?? DEFAULT_INSTRUCTIONS,
    context.join(" "),
    "The API a program can use (TypeScript declarations):",
    api,
  ]
    .filter(Boolean)
    .join("\n\n");
}

/**
 * The Code Mode function tool as JSON Schema, with the loader's declarations in its description.
 * Give it to any function-calling API (`toOpenAITool`, `toAnthropicTool`), and answer each call of
 * it with `runCodeModeCall`.
 *
 * @example
 * const fn = await codeModeFunction(dwl);
 * const completion = await openai.chat.completions.create({ model, messages, tools: [toOpenAITool(fn)] });
 */
export async function codeModeFunction(
  dwl: DwlClient,
  options: CodeModeOptions = {},
  request: RequestOptions = {},
): Promise<FunctionToolDefinition> {
  const sections = await apiDeclarations(dwl, { tools: options.tools ?? [], ...request });
  return {
    name: options.name ?? CODE_MODE_TOOL_NAME,
    description: describeCodeMode(sections, options),
    parameters: codeModeParameters(),
  };
}

/** OpenAI Chat Completions' shape (`tools: [{ type: "function", function }]`). */
export function toOpenAITool(fn: FunctionToolDefinition): { type: "function"; function: FunctionToolDefinition } {
  return { type: "function", function: fn };
}

/** OpenAI Responses API's shape (`tools: [{ type: "function", name, description, parameters }]`). */
export function toOpenAIResponsesTool(
  fn: FunctionToolDefinition,
): { type: "function"; strict: false } & FunctionToolDefinition {
  return { type: "function", strict: false, ...fn };
}

/** Anthropic Messages' shape (`tools: [{ name, description, input_schema }]`). */
export function toAnthropicTool(fn: FunctionToolDefinition): {
  name: string;
  description: string;
  input_schema: FunctionToolDefinition["parameters"];
} {
  return { name: fn.name, description: fn.description, input_schema: fn.parameters };
}

/** Request-level refusals the model can fix by changing its program (size, shape). */
const FIXABLE_REQUEST_ERRORS = new Set(["invalid_request", "payload_too_large"]);

/**
 * Runs the model's program with the developer's settings. Program failures, and refusals the
 * model can fix (an invalid or too large program), come back as `ok: false`; anything else (bad
 * key, loader unreachable, rate limited past the retries) rejects with `DwlRequestError`.
 */
export async function runCodeMode(
  dwl: DwlClient,
  input: CodeModeInput,
  options: CodeModeOptions = {},
  request: RequestOptions = {},
): Promise<CodeModeResult> {
  if (typeof input?.code !== "string" || input.code.trim() === "") {
    return {
      ok: false,
      error: { type: "invalid_request", message: "`code` must be a non-empty string holding the whole program" },
      logs: [],
    };
  }
  // The schema allows no other field; one run without it would do something else than asked
  // (`language: "python"` ran as JavaScript) and leave the model believing it had.
  const unknown = Object.keys(input).filter((key) => key !== "code" && key !== "input");
  if (unknown.length > 0) {
    return {
      ok: false,
      error: {
        type: "invalid_request",
        message: `unknown argument${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `\`${k}\``).join(", ")}: this tool takes \`code\` (one JavaScript/TypeScript program) and \`input\` only; what the program may reach is set for it, not by the call`,
      },
      logs: [],
    };
  }
  const body: ExecuteRequest = {
    code: input.code,
    ...(input.input !== undefined ? { input: input.input } : {}),
    ...(options.egress ? { egress: options.egress } : {}),
    ...(options.storage ? { storage: options.storage } : {}),
    ...(options.tools?.length ? { tools: options.tools } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.dependencies ? { dependencies: options.dependencies } : {}),
  };
  let response: ExecuteResponse;
  try {
    response = await dwl.execute(body, request);
  } catch (err) {
    if (err instanceof DwlRequestError && FIXABLE_REQUEST_ERRORS.has(err.type)) {
      const issues = err.issues?.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; ");
      return {
        ok: false,
        error: { type: err.type, message: issues ? `${err.message} (${issues})` : err.message },
        logs: [],
      };
    }
    throw err;
  }
  const logs = response.logs.map((l) => `[${l.level}] ${l.message}`);
  if (response.ok) return { ok: true, result: response.result, logs };
  const { type, name, stack } = response.error;
  let { message } = response.error;
  // The loader's advice ("add it to egress.allow") is for whoever sets the request's egress: here
  // the developer, not the model, whose tool takes only `code` and `input`.
  if (type === "egress_denied") {
    const allowed = options.egress?.allow ?? [];
    message += ` (this tool cannot change what it may reach: ${allowed.length > 0 ? `fetch only ${allowed.join(", ")}` : "it has no network access"})`;
  }
  const location = "location" in response.error ? response.error.location : undefined;
  const at = location
    ? `${location.file}:${location.line}:${location.column}${location.lineText ? `: ${location.lineText.trim()}` : ""}`
    : undefined;
  return { ok: false, error: { type, name, message, ...(at ? { at } : {}), ...(stack ? { stack } : {}) }, logs };
}

/** A result as text for the model: result or error first, then logs. */
export function formatCodeModeResult(result: CodeModeResult): string {
  const lines: string[] = [];
  if (result.ok) {
    lines.push(resultForModel(result.result));
  } else if (result.error) {
    const { type, name, message, at, stack } = result.error;
    lines.push(`error (${type}): ${name ? `${name}: ` : ""}${message}`);
    if (at) lines.push(`at ${at}`);
    if (stack) lines.push(`stack:\n${stack}`);
  }
  if (result.logs.length > 0) lines.push(`logs:\n${result.logs.join("\n")}`);
  return lines.join("\n\n");
}

/**
 * Answers one call of the function tool: `args` as the provider gave them (OpenAI: a JSON string;
 * Anthropic: an object). `content` is what to send back as the tool result, with `isError` for
 * Anthropic's `is_error`.
 *
 * @example
 * for (const call of message.tool_calls ?? []) {
 *   const { content } = await runCodeModeCall(dwl, call.function.arguments);
 *   messages.push({ role: "tool", tool_call_id: call.id, content });
 * }
 */
export async function runCodeModeCall(
  dwl: DwlClient,
  args: unknown,
  options: CodeModeOptions = {},
  request: RequestOptions = {},
): Promise<{ content: string; isError: boolean; result: CodeModeResult }> {
  let input: unknown = args;
  if (typeof args === "string") {
    try {
      input = JSON.parse(args);
    } catch {
      input = undefined;
    }
  }
  const result =
    typeof input === "object" && input !== null
      ? await runCodeMode(dwl, input as CodeModeInput, options, request)
      : {
          ok: false,
          error: { type: "invalid_request", message: 'arguments must be a JSON object like {"code": "async () => 1"}' },
          logs: [],
        };
  return { content: formatCodeModeResult(result), isError: !result.ok, result };
}
