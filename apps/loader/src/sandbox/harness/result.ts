/**
 * @module result
 * What a run answers: its result or response encoded as the loader expects (size-checked here,
 * inside the child), and any failure as an ExecutionError value.
 */
import type { ExecutionError } from "@dwl/protocol";
import { MAX_ERROR_CAUSES } from "../child-protocol.ts";
import { EgressDeniedError, LimitError, ProgramCompileError } from "./errors.ts";
import { nodeFormat } from "./format.ts";
import { arrayPush, byteLength, stringify } from "./intrinsics.ts";
import type { RunState } from "./state.ts";

function toJsonValue(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Array.from(value.entries());
  if (value instanceof Set) return Array.from(value.values());
  if (ArrayBuffer.isView(value)) {
    return value instanceof DataView
      ? Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      : Array.from(value as unknown as ArrayLike<unknown>);
  }
  if (value instanceof ArrayBuffer) return Array.from(new Uint8Array(value));
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/**
 * What a Promise in the result is encoded as ({}, as JSON.stringify does), said once in a `warn`
 * line: `input.map(async …)` without Promise.all answered `[{}, {}]` and nothing more.
 */
const PROMISE_IN_RESULT = (key: string) =>
  `the result contains a Promise${key === "" ? "" : ` (under key "${key}")`}, which JSON encodes as {}: await it (Promise.all for an array of them)`;

/** The documented encoding of results (README "Results"); throws LimitError or a plain Error. */
export function encodeResult(value: unknown, maxBytes: number, warn?: (message: string) => void): string {
  let json: string | undefined;
  let warned = false;
  const replacer = (key: string, item: unknown): unknown => {
    if (item instanceof Promise && !warned) {
      warned = true;
      warn?.(PROMISE_IN_RESULT(key));
    }
    return toJsonValue(key, item);
  };
  try {
    json = stringify(value, replacer);
  } catch (err) {
    if (err instanceof LimitError) throw err;
    const why =
      err instanceof TypeError && /circular/i.test(String(err.message))
        ? "it contains a circular reference"
        : String((err as { message?: unknown } | null | undefined)?.message ?? err);
    throw Object.assign(new TypeError(`the result cannot be serialised to JSON: ${why}`), { name: "ResultError" });
  }
  json ??= "null";
  if (json.length > maxBytes || byteLength(json) > maxBytes) {
    throw new LimitError(
      "output_too_large",
      "OutputTooLargeError",
      `the result is ${byteLength(json)} bytes of JSON, over the ${maxBytes}-byte limit`,
    );
  }
  return json;
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|image\/svg|[^;]*\+(json|xml))/i;

const tooLarge = (what: string, size: number, maxBytes: number) =>
  new LimitError(
    "output_too_large",
    "OutputTooLargeError",
    `the response ${what} ${size} bytes, over the ${maxBytes}-byte limit (headers and body)`,
  );

/** Reads a body up to `maxBytes`, cancelling the stream as soon as it is over (never buffers more). */
async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number, budget: number) {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > budget) {
      await reader.cancel().catch(() => {});
      throw new LimitError(
        "output_too_large",
        "OutputTooLargeError",
        `the response is over the ${maxBytes}-byte limit (headers and body; reading stopped there)`,
      );
    }
    arrayPush(chunks, value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** A fetch program's response as the loader decodes it (run/respond.ts). */
export interface EncodedResponse {
  status: number;
  headers: Record<string, string>;
  /** Each Set-Cookie on its own: `headers["set-cookie"]` joins them as Headers.get does. */
  setCookies?: string[];
  body: string;
  bodyEncoding: "text" | "base64";
}

/** A Response that can be sent over HTTP: `Response.error()` is a network error, with status 0. */
export function httpResponse(response: unknown): Response {
  if (!(response instanceof Response)) throw new TypeError("the fetch handler must return a Response");
  if (response.type === "error" || response.status === 0) {
    throw new TypeError(
      'the fetch handler answered Response.error(), a network error with no HTTP status to send; answer with one instead, e.g. new Response("upstream failed", { status: 502 })',
    );
  }
  return response;
}

/**
 * A fetch program's Response as `{ status, headers, body, bodyEncoding }`. Headers and body
 * together count against the result limit, and the body is read under that cap.
 */
export async function encodeResponse(answer: unknown, maxBytes: number): Promise<EncodedResponse> {
  const response = httpResponse(answer);
  // No prototype: a program's Object.prototype.toJSON cannot replace the envelope.
  const headers: Record<string, string> = Object.create(null);
  const setCookies: string[] = [];
  let headerBytes = 0;
  response.headers.forEach((value, name) => {
    // Headers iterates Set-Cookie one by one (each a header of its own), the others joined.
    if (name === "set-cookie") arrayPush(setCookies, value);
    headers[name] = name === "set-cookie" ? setCookies.join(", ") : value;
    headerBytes += byteLength(name) + byteLength(value) + 6;
  });
  if (headerBytes > maxBytes) throw tooLarge("headers are", headerBytes, maxBytes);
  const bytes = await readCapped(response.body, maxBytes, maxBytes - headerBytes);
  const envelope = (body: string, bodyEncoding: EncodedResponse["bodyEncoding"]): EncodedResponse =>
    Object.assign(Object.create(null), {
      status: response.status,
      headers,
      ...(setCookies.length > 0 ? { setCookies } : {}),
      body,
      bodyEncoding,
    });
  const type = response.headers.get("content-type") ?? "text/plain";
  if (TEXT_TYPES.test(type)) {
    try {
      // The cast: workers-types marks `ignoreBOM` required; its default (false) is what is meant.
      return envelope(new TextDecoder("utf-8", { fatal: true } as TextDecoderConstructorOptions).decode(bytes), "text");
    } catch {
      // not valid UTF-8 after all: fall through to base64
    }
  }
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const encoded = btoa(binary);
  if (headerBytes + encoded.length > maxBytes) throw tooLarge("is", headerBytes + encoded.length, maxBytes);
  return envelope(encoded, "base64");
}

/**
 * V8's own allocation limits (string length, array and buffer sizes) mean the run ran out of
 * memory. V8 marks them only by message, so that is what is matched.
 */
const ENGINE_MEMORY_ERROR = /^(Invalid (string|array|typed array) length|Array buffer allocation failed)/;

/** Any thrown value as the ExecutionError the loader reports (limits keep their own type). */
/**
 * The error's stack with its chain of `cause`s below it (`Caused by: …`, each with its own frames),
 * as Node prints them: the root cause is often what says what went wrong.
 */
function stackWithCauses(err: Error): string | undefined {
  let stack = typeof err.stack === "string" ? err.stack : undefined;
  try {
    let cause = (err as { cause?: unknown }).cause;
    for (let shown = 0; cause !== undefined && shown < MAX_ERROR_CAUSES; shown++) {
      const text =
        cause instanceof Error
          ? typeof cause.stack === "string"
            ? cause.stack
            : `${cause.name}: ${cause.message}`
          : nodeFormat("%o", cause);
      stack = `${stack ?? `${err.name}: ${err.message}`}\nCaused by: ${text}`;
      cause = cause instanceof Error ? (cause as { cause?: unknown }).cause : undefined;
    }
  } catch {
    // a cause that cannot be read (a throwing getter) ends the chain
  }
  return stack;
}

/**
 * Why a program's `env.X.method()` failed, when `X` is what it lacked: the TypeError alone
 * ("Cannot read properties of undefined") does not say that the tool was never granted, or that
 * credentials are not environment variables.
 */
function bindingHint(err: Error, run: RunState | undefined): string {
  const missing = run?.missingBinding;
  if (!missing || !(err instanceof TypeError) || !/\bof undefined\b|is not a function/.test(err.message)) return "";
  // Said as what happened (the read), not as the cause: an optional read (`env.X ?? fallback`)
  // may come before an unrelated error.
  return ` (the program read env.${missing.name}, which this run does not have: its env has ${missing.present.join(", ")}; an operator tool is granted by its name in "tools", and a credential is used through env.SECRETS)`;
}

/**
 * The errors an AggregateError gathers (Promise.any, a program's own): its message alone ("All
 * promises were rejected") names none of them.
 */
function aggregated(err: Error): string {
  if (!(err instanceof AggregateError) || !Array.isArray(err.errors) || err.errors.length === 0) return "";
  const shown = err.errors.slice(0, MAX_ERROR_CAUSES).map((inner: unknown) => {
    try {
      return inner instanceof Error ? `${inner.name}: ${inner.message}` : nodeFormat("%o", inner);
    } catch {
      return "[unprintable]";
    }
  });
  const more = err.errors.length > shown.length ? `; and ${err.errors.length - shown.length} more` : "";
  return ` (${err.errors.length} error${err.errors.length === 1 ? "" : "s"}: ${shown.join("; ")}${more})`;
}

/** A ReferenceError for `env` itself: programs get it as an argument. */
const ENV_NOT_DEFINED =
  " (env is an argument, not a global: export default async (input, env) => …, or fetch(request, env))";

export function describeError(err: unknown, run?: RunState): ExecutionError {
  if (err instanceof LimitError) return { type: err.type, name: err.name, message: err.message };
  if (err instanceof ProgramCompileError)
    return {
      type: "compile",
      name: err.name,
      message: err.message,
      ...(err.location ? { location: err.location } : {}),
    };
  if (err instanceof EgressDeniedError)
    return { type: "egress_denied", name: err.name, message: err.message, stack: err.stack };
  if (err instanceof RangeError && ENGINE_MEMORY_ERROR.test(String(err.message))) {
    return {
      type: "memory_limit",
      name: "MemoryLimitError",
      message: `out of memory: ${err.message}`,
      stack: err.stack,
    };
  }
  if (err instanceof Error) {
    let message = String(err.message);
    if (err instanceof ReferenceError && message === "env is not defined") message += ENV_NOT_DEFINED;
    else message += bindingHint(err, run) + aggregated(err);
    return { type: "runtime", name: String(err.name), message, stack: stackWithCauses(err) };
  }
  let message: string;
  try {
    message = typeof err === "string" ? err : nodeFormat("%o", err);
  } catch {
    message = "[unprintable thrown value]";
  }
  // Nothing records where a value that is not an Error was thrown: say how to get the line.
  const what =
    err === null || err === undefined
      ? String(err)
      : Array.isArray(err)
        ? "an array"
        : typeof err === "object"
          ? "an object"
          : `a ${typeof err}`;
  return {
    type: "runtime",
    name: "Error",
    message: `Uncaught ${message} (${what} was thrown, not an Error: throw new Error(...) to get a stack with its line)`,
  };
}
