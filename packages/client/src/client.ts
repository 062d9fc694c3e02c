/**
 * @module client
 * `DwlClient`: the loader's HTTP API as typed methods. Only `fetch`, `AbortController` and
 * timers, so it runs unchanged in Node ≥ 20, browsers and Workers. Answers are validated with
 * the schemas of @dwl/protocol; request failures throw `DwlRequestError`, program failures are
 * data (`{ ok: false, error }`).
 */
import {
  CredentialInfoSchema,
  CredentialListSchema,
  ExecuteResponseSchema,
  SandboxInfoSchema,
  SandboxListSchema,
  SandboxLogsSchema,
  type CredentialInfo,
  type CredentialPut,
  type ExecuteRequest,
  type ExecuteResponse,
  type RequestIssue,
  type SandboxDefinition,
  type SandboxUpdate,
  type SandboxInfo,
  type SandboxList,
  type SandboxLogEntry,
} from "@dwl/protocol";
import { z } from "zod";
import { DwlRequestError, requestErrorFrom } from "./errors.ts";
import { FileInfoSchema, FileListSchema, type FileHead, type FileInfo, type FileList } from "./files-types.ts";

/** Per call, including every retry and its wait; `Infinity` (or 0) for none. */
export const DEFAULT_TIMEOUT_MS = 120_000;
/** How many times a call is retried (after a `429`, or a `runtime_restarted` with `idempotent`) before its answer stands. */
export const DEFAULT_RETRIES = 3;
/** First backoff before a retry; doubled on each retry, randomised by up to half. */
const RETRY_BASE_DELAY_MS = 500;
const MAX_BACKOFF_DELAY_MS = 30_000;

export interface DwlClientOptions {
  /** The loader's base URL, e.g. `http://127.0.0.1:8787` (a path prefix is kept). */
  url: string | URL;
  /** API key, sent as `Authorization: Bearer <key>`. */
  key: string;
  /** A `fetch` to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: typeof fetch;
  /** Default deadline of each call in ms (`DEFAULT_TIMEOUT_MS`); `Infinity` or `0` for none. */
  timeoutMs?: number;
  /**
   * How many times a call is retried (`DEFAULT_RETRIES`); `0` to never retry. One budget per call,
   * shared by `429`s and (with `idempotent`) `runtime_restarted` answers.
   */
  retries?: number;
}

/** Options every method takes last. */
export interface RequestOptions {
  /** Aborting it rejects the call with a `DwlRequestError` of type `aborted`. */
  signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  timeoutMs?: number;
  /**
   * The caller's word that running this call twice is harmless. A `runtime_restarted` answer
   * means the loader's runtime went down because of another run while this one was in flight,
   * possibly after this one had a side effect; the loader never replays it. With `true`, the
   * client sends the call again after the answer's `Retry-After` (at least the usual backoff),
   * within the client's `retries` and this call's deadline. Without it (the default) the answer
   * stands: `execute` and `sandboxes.execute` resolve with `{ ok: false, error: { type:
   * "runtime_restarted" } }`, other calls reject with a `DwlRequestError` of that type (status
   * 503, `retryAfterMs` set). A body that is a `ReadableStream` is sent once whatever this says.
   */
  idempotent?: boolean;
}

export interface FileListOptions extends RequestOptions {
  prefix?: string;
  cursor?: string;
  /** Page size, 1-1000. */
  limit?: number;
  /** `"/"` groups keys below the prefix into `delimitedPrefixes`. */
  delimiter?: string;
}

export interface FilePutOptions extends RequestOptions {
  /** Stored and served back as `content-type` (default: a Blob's type, else what `fetch` infers). */
  contentType?: string;
}

/** What `files.put` uploads. A `ReadableStream` is sent once (a 429 is then not retried). */
export type FileBody = string | Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array>;

export interface SandboxListOptions extends RequestOptions {
  cursor?: string;
  /** Page size, 1-100. */
  limit?: number;
}

/** `RequestInit` for `sandboxes.fetch`, plus the client's per-call deadline and `idempotent` (see `RequestOptions`). */
export interface SandboxFetchInit extends RequestInit {
  timeoutMs?: number;
  /** Retry a loader's `503` `runtime_restarted` (JSON body); the program's own answers, `429`s included, never are. */
  idempotent?: boolean;
}

export interface SandboxesApi {
  /** `POST /sandboxes`: bundles and stores the program; answers its id and URL. */
  create(definition: SandboxDefinition, options?: RequestOptions): Promise<SandboxInfo>;
  /** `GET /sandboxes`: one page; pass `cursor` back for the next. */
  list(options?: SandboxListOptions): Promise<SandboxList>;
  get(id: string, options?: RequestOptions): Promise<SandboxInfo>;
  /**
   * `PUT /sandboxes/:id`: replaces the program (when `update` has `code` or `files`) and the
   * settings `update` names; the others keep their values (`egress: {}`, `tools: []`,
   * `storage: {}`, `limits: {}` clear one). `version` goes up by one.
   */
  update(id: string, update: SandboxUpdate, options?: RequestOptions): Promise<SandboxInfo>;
  delete(id: string, options?: RequestOptions): Promise<void>;
  /**
   * `ANY /sandboxes/:id/http/<path>`: the program's fetch handler answers. The raw `Response` is
   * returned whatever its status (it may be the program's own 4xx/5xx); nothing is retried, except
   * the loader's `runtime_restarted` with `idempotent: true`. `authorization` carries the API key
   * (the loader does not forward it to the program).
   */
  fetch(id: string, path?: string, init?: SandboxFetchInit): Promise<Response>;
  /** `POST /sandboxes/:id/execute`: calls its default function with `input`; `idempotent` as for `DwlClient.execute`. */
  execute(id: string, body?: { input?: unknown }, options?: RequestOptions): Promise<ExecuteResponse>;
  logs(id: string, options?: RequestOptions): Promise<{ entries: SandboxLogEntry[] }>;
}

export interface FilesApi {
  /** The object as a streaming `Response` (status 200, stored `content-type`), or `null` when missing, like `env.FILES.get`. */
  get(namespace: string, key: string, options?: RequestOptions): Promise<Response | null>;
  /** Stores `body` under `key`; answers the stored object's info. */
  put(namespace: string, key: string, body: FileBody, options?: FilePutOptions): Promise<FileInfo>;
  /** The object's headers, or `null` when missing. */
  head(namespace: string, key: string, options?: RequestOptions): Promise<FileHead | null>;
  /** Deleting a missing key succeeds, as in R2. */
  delete(namespace: string, key: string, options?: RequestOptions): Promise<void>;
  list(namespace: string, options?: FileListOptions): Promise<FileList>;
}

export interface CredentialsApi {
  /** Creates or replaces; the value is sealed by the loader and never returned. */
  set(name: string, credential: CredentialPut, options?: RequestOptions): Promise<CredentialInfo>;
  list(options?: RequestOptions): Promise<{ credentials: CredentialInfo[] }>;
  delete(name: string, options?: RequestOptions): Promise<void>;
}

/** A JSON-RPC 2.0 answer of the MCP endpoint: `result` or `error`. */
const JsonRpcAnswerSchema = z.object({
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.object({ code: z.number(), message: z.string() }).optional(),
});

/** How one HTTP call is made and read. */
interface Call {
  method: string;
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: BodyInit | null;
  headers?: HeadersInit;
  signal?: AbortSignal | null | undefined;
  timeoutMs?: number | undefined;
  /** Other `RequestInit` fields, passed through (`sandboxes.fetch`). */
  init?: RequestInit;
  /** `false` when the body cannot be sent twice (a stream) or a 429 may not be the loader's. */
  retry: boolean;
  /** The caller allows resending after `runtime_restarted` (`RequestOptions.idempotent`). */
  idempotent?: boolean | undefined;
  /** The answer is an `ExecuteResponse`: `runtime_restarted` also comes as a `200` with `ok: false`. */
  execution?: boolean;
  /** Answer every status as is instead of throwing on non-2xx (`sandboxes.fetch`). */
  raw?: boolean;
  /** Answer a 404 as is (`files.get`/`head` map it to `null`). */
  notFoundIsNull?: boolean;
}

/** An answer whose deadline is still running: `settle()` once it has been read. */
interface Pending {
  response: Response;
  /** Stops the deadline; with `keepSignal` the caller's signal can still cancel a body being streamed. */
  settle(keepSignal?: boolean): void;
  timedOut(): boolean;
  userSignal: AbortSignal | undefined;
}

/**
 * A client of one loader with one API key.
 *
 * @example
 * const dwl = new DwlClient({ url: "http://127.0.0.1:8787", key: "dwl_local_dev" });
 * const run = await dwl.execute({ code: "export default (n: number) => n * 2", input: 21 });
 * if (run.ok) console.log(run.result); else console.error(run.error.type, run.error.message);
 */
export class DwlClient {
  readonly url: string;
  readonly sandboxes: SandboxesApi;
  readonly files: FilesApi;
  readonly credentials: CredentialsApi;
  readonly #key: string;
  readonly #fetch: typeof fetch | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;

  constructor(options: DwlClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new TypeError(
        `DwlClient: url must be the loader's URL, e.g. http://127.0.0.1:8787, got ${JSON.stringify(options.url) ?? "nothing"}`,
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new TypeError(`DwlClient: url must be http(s), got ${url.protocol}`);
    url.search = "";
    url.hash = "";
    this.url = url.href.replace(/\/+$/, "");
    // Checked here, where the mistake is: unchecked, a missing key went out as "Bearer undefined"
    // (a 401 from the server) and one with a line break failed inside fetch's Headers.
    if (typeof options.key !== "string" || options.key.trim() === "")
      throw new TypeError("DwlClient: key is required (the API key, e.g. dwl_local_dev for a local loader)");
    if (!/^[\x21-\x7e]+$/.test(options.key.trim()))
      throw new TypeError("DwlClient: key may hold only printable ASCII characters without spaces or line breaks");
    this.#key = options.key.trim();
    this.#fetch = options.fetch;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retries = Math.max(0, Math.floor(options.retries ?? DEFAULT_RETRIES));

    const sandbox = (id: string, rest = "") => `/sandboxes/${segment(id, "id")}${rest}`;
    this.sandboxes = {
      create: async (definition, o) =>
        this.#json(SandboxInfoSchema, {
          method: "POST",
          path: "/sandboxes",
          json: definition,
          retry: true,
          ...only(o),
        }),
      list: async (o = {}) =>
        this.#json(SandboxListSchema, {
          method: "GET",
          path: "/sandboxes",
          query: { cursor: o.cursor, limit: o.limit },
          retry: true,
          ...only(o),
        }),
      get: async (id, o) =>
        this.#json(SandboxInfoSchema, { method: "GET", path: sandbox(id), retry: true, ...only(o) }),
      update: async (id, definition, o) =>
        this.#json(SandboxInfoSchema, { method: "PUT", path: sandbox(id), json: definition, retry: true, ...only(o) }),
      delete: async (id, o) => this.#empty({ method: "DELETE", path: sandbox(id), retry: true, ...only(o) }),
      fetch: async (id, path = "/", init = {}) => {
        const { timeoutMs, idempotent, signal, headers, body, method, ...rest } = init;
        const prefix = sandbox(id, "/http");
        const full = `${prefix}${path.startsWith("/") ? path : `/${path}`}`;
        // `..` in `path` would be resolved by URL parsing and leave the sandbox (`/../logs`).
        if (!new URL(this.url + full).pathname.startsWith(new URL(this.url + prefix).pathname))
          throw refused("path", `"${path}" leaves the sandbox's URL space`);
        const pending = await this.#send({
          method: method ?? "GET",
          path: full,
          headers: headers ?? {},
          body: body ?? null,
          signal,
          timeoutMs,
          idempotent,
          init: rest,
          retry: false,
          raw: true,
        });
        pending.settle(true);
        return pending.response;
      },
      execute: async (id, body = {}, o) =>
        this.#json(ExecuteResponseSchema, {
          method: "POST",
          path: sandbox(id, "/execute"),
          json: body,
          retry: true,
          execution: true,
          ...only(o),
        }),
      logs: async (id, o) =>
        this.#json(SandboxLogsSchema, { method: "GET", path: sandbox(id, "/logs"), retry: true, ...only(o) }),
    };

    const file = (namespace: string, key?: string) => {
      if (key === "") throw refused("key", "must be a non-empty string");
      return `/files/${segment(namespace, "namespace")}${
        key === undefined
          ? ""
          : `/${key
              .split("/")
              .map((part) => (part === "" ? "" : segment(part, "key")))
              .join("/")}`
      }`;
    };
    this.files = {
      get: async (namespace, key, o) => {
        const pending = await this.#send({
          method: "GET",
          path: file(namespace, key),
          retry: true,
          notFoundIsNull: true,
          ...only(o),
        });
        pending.settle(true);
        if (pending.response.status !== 404) return pending.response;
        await pending.response.body?.cancel();
        return null;
      },
      put: async (namespace, key, body, o = {}) => {
        const { contentType, ...rest } = o;
        const streamed = typeof ReadableStream !== "undefined" && body instanceof ReadableStream;
        return this.#json(FileInfoSchema, {
          method: "PUT",
          path: file(namespace, key),
          body: body as BodyInit,
          headers: contentType ? { "content-type": contentType } : {},
          retry: !streamed,
          ...only(rest),
        });
      },
      head: async (namespace, key, o) => {
        const pending = await this.#send({
          method: "HEAD",
          path: file(namespace, key),
          retry: true,
          notFoundIsNull: true,
          ...only(o),
        });
        pending.settle();
        const { status, headers } = pending.response;
        if (status === 404) return null;
        const length = headers.get("content-length");
        return {
          key,
          size: length === null ? null : Number(length),
          contentType: headers.get("content-type"),
          etag: headers.get("etag"),
          lastModified: headers.get("last-modified"),
        };
      },
      delete: async (namespace, key, o) =>
        this.#empty({ method: "DELETE", path: file(namespace, key), retry: true, ...only(o) }),
      list: async (namespace, o = {}) =>
        this.#json(FileListSchema, {
          method: "GET",
          path: file(namespace),
          query: { prefix: o.prefix, cursor: o.cursor, limit: o.limit, delimiter: o.delimiter },
          retry: true,
          ...only(o),
        }),
    };

    const credential = (name: string) => `/credentials/${segment(name, "name")}`;
    this.credentials = {
      set: async (name, body, o) =>
        this.#json(CredentialInfoSchema, {
          method: "PUT",
          path: credential(name),
          json: body,
          retry: true,
          ...only(o),
        }),
      list: async (o) =>
        this.#json(CredentialListSchema, { method: "GET", path: "/credentials", retry: true, ...only(o) }),
      delete: async (name, o) => this.#empty({ method: "DELETE", path: credential(name), retry: true, ...only(o) }),
    };
  }

  /**
   * `POST /execute`: runs a program once. Resolves with `ok: false` when the program failed
   * (compile error, throw, limit…); rejects only when the request did not get its answer.
   * `ok: false` with `error.type` `runtime_restarted` means another run took the runtime down
   * while this one ran: pass `{ idempotent: true }` to have it run again (see `RequestOptions`).
   *
   * @example
   * const run = await dwl.execute({ code: "export default (n: number) => n * 2", input: 21 }, { idempotent: true });
   */
  execute(body: ExecuteRequest, options?: RequestOptions): Promise<ExecuteResponse> {
    return this.#json(ExecuteResponseSchema, {
      method: "POST",
      path: "/execute",
      json: body,
      retry: true,
      execution: true,
      ...only(options),
    });
  }

  /**
   * `POST /mcp`: one JSON-RPC request to the loader's MCP server, e.g. `tools/list`, or
   * `tools/call` with `{ name: "search", arguments: { query } }`. The server is stateless, so no
   * `initialize` comes first. Resolves with the JSON-RPC `result`; a JSON-RPC `error` rejects with a
   * `DwlRequestError` of type `invalid_request` (status 200).
   *
   * @example
   * const { tools } = await dwl.mcp("tools/list"); // [{ name: "search", … }, { name: "execute", … }]
   */
  async mcp(
    method: string,
    params?: Record<string, unknown>,
    options?: RequestOptions,
  ): Promise<Record<string, unknown>> {
    const answer = await this.#json(JsonRpcAnswerSchema, {
      method: "POST",
      path: "/mcp",
      json: { jsonrpc: "2.0", id: 1, method, ...(params ? { params } : {}) },
      // Both are required by Streamable HTTP; JSON first asks for a plain JSON answer, not SSE.
      headers: { accept: "application/json, text/event-stream" },
      retry: true,
      ...only(options),
    });
    if (answer.error)
      throw new DwlRequestError({
        status: 200,
        type: "invalid_request",
        message: `MCP ${method}: ${answer.error.message} (code ${answer.error.code})`,
      });
    return answer.result ?? {};
  }

  /** Sends, reads a JSON answer and validates it; non-2xx answers become `DwlRequestError`. */
  async #json<S extends z.ZodType>(schema: S, call: Call): Promise<z.infer<S>> {
    const pending = await this.#send(call);
    try {
      const text = await pending.response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (cause) {
        throw new DwlRequestError({
          status: pending.response.status,
          type: "invalid_response",
          message: `${call.method} ${call.path}: the answer is not JSON: ${text.slice(0, 200)}`,
          cause,
        });
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issues: RequestIssue[] = parsed.error.issues.map((i) => ({
          path: i.path.map((p) => (typeof p === "number" ? p : String(p))),
          message: i.message,
          code: i.code,
        }));
        throw new DwlRequestError({
          status: pending.response.status,
          type: "invalid_response",
          message: `${call.method} ${call.path}: the answer does not match the wire format (is the loader a different version?)`,
          issues,
        });
      }
      return parsed.data;
    } catch (err) {
      throw this.#failure(err, pending);
    } finally {
      pending.settle();
    }
  }

  /** Sends a call whose answer has no body (`204`). */
  async #empty(call: Call): Promise<void> {
    const pending = await this.#send(call);
    pending.settle();
    await pending.response.body?.cancel();
  }

  /**
   * One call: retries 429s, and `runtime_restarted` answers of idempotent calls (waiting
   * `Retry-After`, at least an exponential backoff), enforces the deadline across all attempts and
   * links the caller's signal. Non-2xx answers throw, except with `raw` and 404s with `notFoundIsNull`.
   */
  async #send(call: Call): Promise<Pending> {
    const controller = new AbortController();
    const timeoutMs = call.timeoutMs ?? this.#timeoutMs;
    const deadline = Number.isFinite(timeoutMs) && timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    let timedOut = false;
    const timer =
      deadline === Infinity ? undefined : setTimeout(() => ((timedOut = true), controller.abort()), timeoutMs);
    const userSignal = call.signal ?? undefined;
    const onAbort = () => controller.abort(userSignal?.reason);
    if (userSignal?.aborted) onAbort();
    else userSignal?.addEventListener("abort", onAbort, { once: true });
    const state = {
      settle: (keepSignal = false) => {
        if (timer !== undefined) clearTimeout(timer);
        if (!keepSignal) userSignal?.removeEventListener("abort", onAbort);
      },
      timedOut: () => timedOut,
      userSignal,
    };

    const headers = new Headers(call.headers);
    headers.set("authorization", `Bearer ${this.#key}`);
    let body = call.body ?? null;
    if (call.json !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(call.json);
    }
    if (!headers.has("accept") && !call.raw) headers.set("accept", "application/json");
    const url = this.url + call.path + queryString(call.query);
    const streamed = typeof ReadableStream !== "undefined" && body instanceof ReadableStream;
    const doFetch = this.#fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));

    try {
      for (let attempt = 0; ; attempt++) {
        const init: RequestInit & { duplex?: "half" } = {
          ...call.init,
          method: call.method,
          headers,
          body,
          signal: controller.signal,
        };
        if (streamed) init.duplex = "half"; // Node's fetch refuses a stream body without it
        const response = await doFetch(url, init);
        const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
        const retryable =
          attempt < this.#retries &&
          ((response.status === 429 && call.retry && !call.raw) ||
            (call.idempotent === true && !streamed && (await runtimeRestarted(response, call))));
        if (retryable) {
          const waitMs = Math.max(retryAfterMs ?? 0, backoffMs(attempt));
          // Waiting past the deadline would only end in a timeout: give this answer now instead.
          if (Date.now() + waitMs < deadline) {
            await response.body?.cancel();
            await sleep(waitMs, controller.signal);
            continue;
          }
        }
        if (response.ok || call.raw || (call.notFoundIsNull && response.status === 404)) return { response, ...state };
        throw await requestErrorFrom(response, retryAfterMs);
      }
    } catch (err) {
      throw this.#failure(err, state);
    }
  }

  /** Maps what a fetch or a body read threw to a `DwlRequestError`. */
  #failure(err: unknown, state: Omit<Pending, "response">): DwlRequestError {
    state.settle();
    if (err instanceof DwlRequestError) return err;
    if (state.timedOut()) {
      return new DwlRequestError({
        status: 0,
        type: "timeout",
        message: `no answer from ${this.url} within the deadline`,
        cause: err,
      });
    }
    if (state.userSignal?.aborted) {
      return new DwlRequestError({
        status: 0,
        type: "aborted",
        message: "the request was aborted",
        cause: state.userSignal.reason,
      });
    }
    const detail =
      err instanceof Error
        ? err.cause instanceof Error
          ? `${err.message}: ${err.cause.message}`
          : err.message
        : String(err);
    // Refused or unresolved: nothing was sent. Anything else (a connection closed mid-answer) may
    // have come after the loader received the request, so the call may have happened.
    const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
    // fetch refuses a blocked port ("bad port") without connecting at all.
    const unsent = (typeof cause?.code === "string" && NOT_SENT_CODES.has(cause.code)) || cause?.message === "bad port";
    return new DwlRequestError({
      status: 0,
      type: "network",
      message: unsent
        ? `cannot reach ${this.url}: ${detail}`
        : `the connection to ${this.url} was lost before the answer (${detail}); the request may have been received and run`,
      cause: err,
    });
  }
}

/** Connection errors that mean the request never left this machine. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Percent-encodes one path segment. `.` and `..` are refused before sending: URL parsing would
 * resolve them (even as `%2e`), silently naming another resource (`a/../b` would write `b`).
 */
function segment(value: string, field: string): string {
  if (typeof value !== "string" || value === "") throw refused(field, "must be a non-empty string");
  if (value === "." || value === "..")
    throw refused(field, `must not be "${value}" or have a "." or ".." segment (a URL cannot carry one)`);
  return encodeURIComponent(value);
}

/** A request the client will not send: the error the loader would have answered, without the round trip. */
function refused(field: string, message: string): DwlRequestError {
  return new DwlRequestError({
    status: 0,
    type: "invalid_request",
    message: `${field} ${message}`,
    issues: [{ path: [field], message }],
  });
}

/** The per-call fields of an options object (drops list filters, and anything that could override the call). */
function only(options: RequestOptions = {}): RequestOptions {
  return {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.idempotent !== undefined ? { idempotent: options.idempotent } : {}),
  };
}

/**
 * Whether an answer is the loader's `runtime_restarted`: a `503` `{ error: { type } }`, or for
 * executions a `200` `{ ok: false, error: { type } }`. Reads a clone, so `response` stays readable.
 * A raw (`sandboxes.fetch`) answer is only read when it is JSON: a program's own `503` may be an
 * endless stream.
 */
async function runtimeRestarted(response: Response, call: Call): Promise<boolean> {
  const execution = call.execution === true && response.status === 200;
  if (!execution && response.status !== 503) return false;
  if (call.raw && !/\bjson\b/i.test(response.headers.get("content-type") ?? "")) return false;
  const text = await response.clone().text(); // a failed read (abort, deadline, network) is the call's failure
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof body !== "object" || body === null) return false;
  const { ok, error } = body as { ok?: unknown; error?: { type?: unknown } };
  return (
    (!execution || ok === false) && typeof error === "object" && error !== null && error.type === "runtime_restarted"
  );
}

function queryString(query: Call["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    if (value !== undefined && value !== "") params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** `Retry-After` as ms: delta-seconds or an HTTP date (RFC 9110 §10.2.3); `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Exponential backoff with jitter: attempt 0 → 250-500 ms, 1 → 500-1000 ms, … */
function backoffMs(attempt: number): number {
  const full = Math.min(MAX_BACKOFF_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** attempt);
  return full / 2 + Math.random() * (full / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
