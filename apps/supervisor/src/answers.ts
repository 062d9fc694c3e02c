/**
 * @module answers
 * The answers the supervisor gives itself, in the wire format (packages/protocol): refusals,
 * the verdict for the run that took the runtime down, and `runtime_restarted` for runs cut
 * short by someone else's crash.
 */
import { randomUUID } from "node:crypto";
import { maxHeaderSize, STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import {
  bodyTooLargeError,
  type ExecuteResponse,
  type ExecutionError,
  type LogEntry,
  type RequestErrorBody,
  type RequestErrorType,
} from "@dwl/protocol";
import type { DownCause } from "./runtime/runtime.ts";

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_TYPE = "application/json; charset=utf-8";

/** Sends `answer` unless the client already has (part of) another one or is gone. */
export function send(res: ServerResponse, { status, headers, body }: Answer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Sends `answer` on the raw socket of an upgrade request that is not relayed, and closes it. */
export function sendOnSocket(socket: Duplex, { status, headers, body }: Answer): void {
  if (socket.destroyed) return;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n`;
  for (const [name, value] of Object.entries({ ...headers, "content-length": String(Buffer.byteLength(body)) }))
    head += `${name}: ${value}\r\n`;
  socket.end(`${head}connection: close\r\n\r\n${body}`);
}

export function requestError(
  status: number,
  type: RequestErrorType,
  message: string,
  headers: Record<string, string> = {},
): Answer {
  return errorAnswer(status, { type, message }, headers);
}

function errorAnswer(status: number, error: RequestErrorBody["error"], headers: Record<string, string> = {}): Answer {
  const body: RequestErrorBody = { error };
  return { status, headers: { "content-type": JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

/** The most a request's body may carry, and what it carries (a file's cap is the loader's file limit). */
export interface BodyCap {
  maxBytes: number;
  body: "request" | "file";
}

/**
 * The answer to a request this process could not parse (Node's own is a bare 400 without a body).
 * `code` and `reason` are the parser's.
 */
export function malformedRequest(code: string | undefined, reason: string | undefined): Answer {
  if (code === "HPE_HEADER_OVERFLOW")
    return requestError(431, "invalid_request", `the request's headers are over ${maxHeaderSize} bytes`);
  if (code === "ERR_HTTP_REQUEST_TIMEOUT")
    return requestError(408, "invalid_request", "the request did not arrive whole in time");
  return requestError(
    400,
    "invalid_request",
    `the request is not valid HTTP/1.1${reason ? ` (${reason.replace(/\.$/, "")})` : ""}`,
  );
}

export const bodyTooLarge = ({ maxBytes, body }: BodyCap): Answer =>
  errorAnswer(413, bodyTooLargeError(maxBytes, body));

/**
 * How a route answers a failed run: POST /execute's body (HTTP 200, `ok: false`); a sandbox's
 * HTTP error (500, `{ error, executionId }`); an MCP request's JSON-RPC answer, each call of it a
 * failed `execute` result (the JSON-RPC body is needed to answer its ids); or a request error.
 */
export type RunShape =
  | { kind: "execution" }
  | { kind: "sandbox" }
  | { kind: "jsonRpc"; body: Buffer }
  | { kind: "request"; status: number; type: RequestErrorType };

function failedRunBody(error: ExecutionError, elapsedMs: number, logs: LogEntry[] = []): ExecuteResponse {
  return {
    ok: false,
    error,
    logs,
    egress: [],
    timing: { totalMs: elapsedMs, bundleMs: 0, startMs: 0, runMs: elapsedMs, cached: false },
    executionId: randomUUID(),
  };
}

/** A failed run, answered as its route answers one. */
function failedRun(
  shape: RunShape,
  error: ExecutionError,
  elapsedMs: number,
  headers: Record<string, string> = {},
  logs: LogEntry[] = [],
): Answer {
  const json = (status: number, body: unknown): Answer => ({
    status,
    headers: { "content-type": JSON_TYPE, ...headers },
    body: JSON.stringify(body),
  });
  switch (shape.kind) {
    case "execution":
      return json(200, failedRunBody(error, elapsedMs, logs));
    case "sandbox":
      return json(error.type === "runtime_restarted" ? 503 : 500, { error, executionId: randomUUID() });
    case "jsonRpc": {
      const answers = jsonRpcFailures(shape.body, error, failedRunBody(error, elapsedMs, logs));
      return answers === undefined ? { status: 202, headers, body: "" } : json(200, answers);
    }
    case "request":
      return errorAnswer(shape.status, { type: shape.type, message: `${error.message} (${error.type})` }, headers);
  }
}

/**
 * The JSON-RPC answer to `body` when none of its calls could answer: an `execute` call gets its
 * tool result, failed (what the loader's MCP server answers for a failed run); any other request
 * an internal error; notifications nothing. Undefined when nothing is to be answered.
 */
function jsonRpcFailures(body: Buffer, error: ExecutionError, run: ExecuteResponse): unknown {
  let message: unknown;
  try {
    message = JSON.parse(body.toString("utf8").replace(/^\uFEFF/, ""));
  } catch {
    return undefined;
  }
  const answerTo = (request: unknown) => {
    const { id, method, params } = (request ?? {}) as { id?: unknown; method?: unknown; params?: { name?: unknown } };
    if (id === undefined || id === null) return undefined;
    if (method === "tools/call" && params?.name === "execute") {
      // As the loader's MCP server words a failed run (mcp/server.ts describeRun).
      const text = `error (${error.type}): ${error.name}: ${error.message}`;
      return {
        jsonrpc: "2.0",
        id,
        result: { isError: true, content: [{ type: "text", text }], structuredContent: run },
      };
    }
    return { jsonrpc: "2.0", id, error: { code: -32603, message: error.message } };
  };
  if (!Array.isArray(message)) return answerTo(message);
  const answers = message.map(answerTo).filter((answer) => answer !== undefined);
  return answers.length > 0 ? answers : undefined;
}

export interface VerdictContext {
  cause: DownCause;
  /** The loader reported a side effect while the run was in flight (its own, or its tenant's). */
  effectful: boolean;
  heapLimitMb: number;
  maxResidentMb: number;
  watchdogMs: number;
  elapsedMs: number;
}

function describe({ cause, heapLimitMb, maxResidentMb, watchdogMs }: VerdictContext): ExecutionError {
  if (cause === "memory") {
    return {
      type: "memory_limit",
      name: "MemoryLimitError",
      message: `the program exhausted its memory (local limits: ${heapLimitMb} MB of JavaScript heap per isolate, ${maxResidentMb} MB for the runtime); the runtime was restarted`,
    };
  }
  if (cause === "hang") {
    return {
      type: "cpu_limit",
      name: "CpuLimitError",
      message: `the runtime stopped responding for over ${watchdogMs} ms in work that metering cannot interrupt (a long native operation); it was restarted`,
    };
  }
  return {
    type: "runtime",
    name: "RuntimeCrash",
    message: "the runtime crashed while running this program; it was restarted",
  };
}

/**
 * What the answer of a run judged to have taken the runtime down says of its logs and egress
 * audit: both are kept in the runtime until the run answers, so they went down with it. Said,
 * rather than answered empty as if the run had logged and reached nothing.
 */
function lostReport(effectful: boolean, elapsedMs: number): LogEntry {
  return {
    level: "warn",
    message: `[dwl] this run's logs and egress audit were lost with the runtime, which holds them until a run answers; ${
      effectful
        ? "side effects may have happened: it, or another run of its tenant in flight then, began a storage write, an outbound request or a tool call"
        : "it began no storage write, outbound request or tool call"
    }`,
    time: elapsedMs,
  };
}

/** For the run judged to have taken the runtime down. */
export function verdict(shape: RunShape, context: VerdictContext): Answer {
  return failedRun(shape, describe(context), context.elapsedMs, {}, [lostReport(context.effectful, context.elapsedMs)]);
}

/** Seconds a client should wait before retrying a run cut short by a restart: it takes ~1 s. */
export const RESTART_RETRY_AFTER_SECONDS = 1;

const RESTARTED_MESSAGE =
  "this run was cut short when another run took the local runtime down; it may have partly happened (a storage write, an outbound request, a tool call or part of its response), so it was not run again: retry only if it is safe to run twice";
const RESTARTED_AGAIN_MESSAGE =
  "this run was cut short: the local runtime went down three times while it was in flight beside other runs, and which run took it down could not be told apart, so it is not sent again; it had no side effect yet (no storage write, outbound request, tool call or response), so running it again duplicates nothing, though if it is the run that takes the runtime down it will again";

const RECYCLED_MESSAGE =
  "this run was cut short when the local runtime was restarted to give back its memory (DWL_DRAIN_RSS_MB), after waiting DWL_DRAIN_WAIT_MS for the runs in it to end; it may have partly happened (a storage write, an outbound request, a tool call or part of its response), so it was not run again: retry only if it is safe to run twice";

/**
 * For a run that was in flight when another run took the runtime down: one that may have had an
 * effect, or (`unsent`) one that had not but met too many crashes to be sent again; `recycled`:
 * no run took it down, the supervisor restarted it (a drain).
 */
export function runtimeRestarted(
  shape: RunShape,
  elapsedMs: number,
  { unsent = false, recycled = false }: { unsent?: boolean; recycled?: boolean } = {},
): Answer {
  const headers = { "retry-after": String(RESTART_RETRY_AFTER_SECONDS) };
  const message = recycled ? RECYCLED_MESSAGE : unsent ? RESTARTED_AGAIN_MESSAGE : RESTARTED_MESSAGE;
  return failedRun(
    shape.kind === "request" ? { ...shape, status: 503, type: "runtime_restarted" } : shape,
    { type: "runtime_restarted", name: "RuntimeRestarted", message },
    elapsedMs,
    headers,
  );
}
