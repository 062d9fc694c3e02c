/**
 * @module capabilities
 * The `env` programs see: the isolate's capabilities (loopback stubs of the loader's
 * entrypoints, baked into the child's env by sandbox/load.ts) behind KV-like, R2-like and tool
 * surfaces that answer values and throw exceptions, as the Workers APIs they imitate do.
 */
import type { RpcResult } from "../../bindings/rpc-result.ts";
import type { ToolNetwork } from "../../tools/tool-entrypoint.ts";
import { trackCall } from "./background.ts";
import { awaited } from "./clock.ts";
import { EgressDeniedError } from "./errors.ts";
import { callSite, promiseThen, stringIndexOf, stringSlice } from "./intrinsics.ts";
import { toolNetwork } from "./network.ts";
import { currentRun } from "./state.ts";

/**
 * A loopback stub of one of the loader's entrypoints (bindings/kv.ts ScopedKv, bindings/files.ts
 * ScopedFiles, a tool). Arguments are the program's, unchecked here: the entrypoint checks them.
 */
type CapabilityStub = Record<string, (...args: unknown[]) => Promise<RpcResult<unknown>>>;
type ToolStub = { invokeTool(method: string, args: unknown[], network: ToolNetwork): Promise<RpcResult<unknown>> };

const ERROR_CLASSES: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError };

/** Capabilities answer `{ value } | { error }` (bindings/rpc-result.ts); programs see exceptions. */
async function unwrap(resultPromise: Promise<RpcResult<unknown>>): Promise<unknown> {
  const result = await awaited(resultPromise);
  if (result && typeof result === "object" && "error" in result) {
    const { name, message } = result.error;
    // A tool's request refused by the gateway is the program's refusal, as its own fetch's is.
    if (name === "EgressDeniedError") throw new EgressDeniedError(message);
    const err = new (ERROR_CLASSES[name] ?? Error)(message);
    if (!(name in ERROR_CLASSES)) err.name = name;
    throw err;
  }
  return result?.value;
}

/**
 * The facades' methods, each promise it hands the program counted as the run's work until it
 * settles: a run's answer waits for calls the program did not await (background.ts).
 */
function counted<A extends unknown[], R>(method: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args) => {
    // A run that has failed (out of CPU, or stopped because its client went away) does nothing more.
    const ended = currentRun()?.cpuError;
    if (ended) return Promise.reject(ended);
    // Taken now, while the program's own frames are on the stack: the failure comes back after
    // an await, where they are not, and a model needs the line of the call that failed.
    const site = callSite();
    const failed = (err: unknown): never => {
      const frames = site.stack ?? "";
      if (err instanceof Error)
        err.stack = `${err.name}: ${err.message}${stringSlice(frames, stringIndexOf(frames, "\n"))}`;
      throw err;
    };
    return trackCall(
      currentRun(),
      promiseThen(method(...args), (value) => value, failed),
    );
  };
}

function kvFacade(stub: CapabilityStub) {
  return Object.freeze({
    get: counted((key: unknown, type: unknown) => unwrap(stub.get!(key, type))),
    getWithMetadata: counted((key: unknown, type: unknown) => unwrap(stub.getWithMetadata!(key, type))),
    put: counted((key: unknown, value: unknown, options: unknown) => unwrap(stub.put!(key, value, options))),
    delete: counted((key: unknown) => unwrap(stub.delete!(key))),
    list: counted((options: unknown) => unwrap(stub.list!(options))),
  });
}

/** Operator tools: every method answers `{ value } | { error }`; the program sees values and exceptions. */
function toolFacade(stub: ToolStub) {
  return new Proxy(Object.freeze({}), {
    get(_target, method) {
      if (typeof method !== "string" || method === "then") return undefined;
      // Through the tool framework's one entry, handing over this run's network.
      return counted((...args: unknown[]) => unwrap(stub.invokeTool(method, args, toolNetwork(currentRun()))));
    },
  });
}

/** What ScopedFiles answers for an object (bindings/files.ts): R2Object's plain-data fields. */
interface FileInfo {
  httpMetadata?: {
    contentType?: string;
    contentLanguage?: string;
    contentDisposition?: string;
    contentEncoding?: string;
    cacheControl?: string;
  };
  [field: string]: unknown;
}

/**
 * `env.FILES` as programs expect R2 to behave (sync `size`/`etag`, `text()`, `json()`, `body`…),
 * built over the loader's ScopedFiles RPC stub, which can only carry plain data and streams.
 */
function filesFacade(stub: CapabilityStub) {
  const toObject = (info: FileInfo, body?: ReadableStream) => {
    const object = {
      ...info,
      writeHttpMetadata(headers: Headers) {
        const m = info.httpMetadata ?? {};
        if (m.contentType) headers.set("content-type", m.contentType);
        if (m.contentLanguage) headers.set("content-language", m.contentLanguage);
        if (m.contentDisposition) headers.set("content-disposition", m.contentDisposition);
        if (m.contentEncoding) headers.set("content-encoding", m.contentEncoding);
        if (m.cacheControl) headers.set("cache-control", m.cacheControl);
      },
    };
    if (body) {
      const response = new Response(body);
      Object.assign(object, {
        body: response.body,
        get bodyUsed() {
          return response.bodyUsed;
        },
        text: () => response.text(),
        json: () => response.json(),
        arrayBuffer: () => response.arrayBuffer(),
        bytes: async () => new Uint8Array(await response.arrayBuffer()),
        blob: () => response.blob(),
      });
    }
    return object;
  };
  const toValue = async (value: unknown) => {
    if (value instanceof Blob) return value.arrayBuffer();
    if (value instanceof Response || value instanceof Request) return value.arrayBuffer();
    return value;
  };
  return Object.freeze({
    head: counted(async (key: unknown) => {
      const info = (await unwrap(stub.head!(key))) as FileInfo | null;
      return info && toObject(info);
    }),
    get: counted(async (key: unknown) => {
      const found = (await unwrap(stub.get!(key))) as { info: FileInfo; body: ReadableStream } | null;
      return found && toObject(found.info, found.body);
    }),
    put: counted(async (key: unknown, value: unknown, options: unknown) =>
      toObject((await unwrap(stub.put!(key, await toValue(value), options))) as FileInfo),
    ),
    delete: counted((keys: unknown) => unwrap(stub.delete!(keys))),
    list: counted(async (options: unknown) => {
      const page = (await unwrap(stub.list!(options))) as { objects: FileInfo[] };
      return { ...page, objects: page.objects.map((info) => toObject(info)) };
    }),
  });
}

/**
 * The isolate's capabilities as facades, made once: the raw env is the same for every run of an
 * isolate (it is part of the isolate's id, sandbox/load.ts).
 */
let capabilities: Record<string, unknown> | undefined;

/**
 * The `env` programs see: the isolate's capabilities with R2-like and KV-like surfaces, plus
 * `SECRETS`, this run's credential placeholders (opaque strings the gateway swaps for the real
 * values on requests to the credential's hosts).
 */
export function envFor(raw: Record<string, unknown> | undefined, secrets: Record<string, string>) {
  if (!capabilities) {
    capabilities = {};
    const facades: Record<string, (stub: CapabilityStub) => object> = { KV: kvFacade, FILES: filesFacade };
    for (const [name, value] of Object.entries(raw ?? {}))
      capabilities[name] = (facades[name] ?? (toolFacade as (stub: CapabilityStub) => object))(value as CapabilityStub);
  }
  const env = Object.freeze({ ...capabilities, SECRETS: Object.freeze({ ...secrets }) });
  return new Proxy(env, {
    get(target, name, receiver) {
      // A binding the program expected and this run lacks (a tool not granted, a made-up
      // `env.OPENAI_API_KEY`) reads as undefined, as in Workers; the error it leads to says why.
      if (typeof name === "string" && BINDING_NAME.test(name) && !Object.hasOwn(target, name)) {
        const run = currentRun();
        if (run && !run.missingBinding) run.missingBinding = { name, present: Object.keys(target) };
      }
      return Reflect.get(target, name, receiver);
    },
  });
}

/** Names written as bindings are (`NOTES`, `JSON_API`, `DB`): not `then` or `toJSON`, which are probed. */
const BINDING_NAME = /^[A-Z][A-Z0-9_]*$/;
