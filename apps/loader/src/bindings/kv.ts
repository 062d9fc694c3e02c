/**
 * @module kv
 * `env.KV` of a program: Workers KV confined to one tenant's namespace. The child holds a
 * loopback stub of this entrypoint (props fixed by the loader), never the KV binding itself.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { MAX_KV_EXPIRATION_SECONDS, MAX_LIST_LIMIT, readServerLimits } from "../limits.ts";
import { beforeSideEffect } from "../supervision/effects.ts";
import { scopePrefix, StorageLimitError, validateKey, validatePrefix } from "./keys.ts";
import { asRpcResult, type RpcResult } from "./rpc-result.ts";
import { unwrapCursor, wrapCursor } from "./list-cursor.ts";
import { storageCall } from "./storage-error.ts";
import type { ScopedStorageProps } from "./scoped-storage-props.ts";

type ValueType = "text" | "json" | "arrayBuffer";

export interface KvPutOptions {
  expirationTtl?: number;
  expiration?: number;
  metadata?: unknown;
}

export interface KvListOptions {
  prefix?: string;
  cursor?: string;
  limit?: number;
}

function valueType(type: unknown): ValueType {
  const name = typeof type === "object" && type !== null ? (type as { type?: unknown }).type : type;
  if (name === undefined || name === "text" || name === "json" || name === "arrayBuffer") return name ?? "text";
  throw new TypeError(`unsupported KV value type ${JSON.stringify(name)}: use "text", "json" or "arrayBuffer"`);
}

/** How the binding reads a value of `type`: JSON as text, which parseJsonValue parses. */
const storedAs = (type: ValueType): "text" => (type === "json" ? "text" : (type as "text"));

/**
 * A value read as "json": parsed here, not by the KV binding, whose parse error would read as a
 * failure of the storage service. A value that is not JSON is the program's SyntaxError, as in Workers KV.
 */
function parseJsonValue(key: string, text: unknown): unknown {
  if (typeof text !== "string") return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new SyntaxError(`the KV value of ${JSON.stringify(key)} is not JSON (${why}); read it with get(key) as text`);
  }
}

function byteLength(value: unknown): number {
  if (typeof value === "string") return new TextEncoder().encode(value).byteLength;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return value.byteLength;
  throw new TypeError(
    "KV values must be a string, an ArrayBuffer or a typed array (JSON.stringify objects first; in Python, json.dumps)",
  );
}

export interface KvListResult {
  keys: { name: string; expiration?: number; metadata?: unknown }[];
  list_complete: boolean;
  cursor?: string;
}

export class ScopedKv extends WorkerEntrypoint<Env, ScopedStorageProps> {
  private get prefix(): string {
    return scopePrefix(this.ctx.props.tenant, this.ctx.props.namespace);
  }

  private async getValue(key: string, type?: ValueType | { type?: ValueType }): Promise<unknown> {
    const full = this.prefix + validateKey(key);
    const as = valueType(type);
    const value = await storageCall("KV", "get", JSON.stringify(key), () => this.env.KV.get(full, storedAs(as)));
    return as === "json" ? parseJsonValue(key, value) : value;
  }

  private async getValueWithMetadata(
    key: string,
    type?: ValueType | { type?: ValueType },
  ): Promise<{ value: unknown; metadata: unknown }> {
    const full = this.prefix + validateKey(key);
    const as = valueType(type);
    const { value, metadata } = await storageCall("KV", "getWithMetadata", JSON.stringify(key), () =>
      this.env.KV.getWithMetadata(full, storedAs(as)),
    );
    return { value: as === "json" ? parseJsonValue(key, value) : value, metadata };
  }

  private async putValue(
    key: string,
    value: string | ArrayBuffer | ArrayBufferView,
    options?: KvPutOptions,
  ): Promise<void> {
    const full = this.prefix + validateKey(key);
    const max = readServerLimits(this.env).maxKvValueBytes;
    const size = byteLength(value);
    if (size > max) throw new StorageLimitError(`KV value for "${key}" is ${size} bytes, over the ${max}-byte limit`);
    // Checked here because KV's own refusal would reach the program as a StorageError.
    checkExpiration(options);
    const metadata = options?.metadata;
    if (metadata !== undefined && JSON.stringify(metadata).length > 1024)
      throw new RangeError("KV metadata must serialise to at most 1024 bytes of JSON");
    const putOptions: KVNamespacePutOptions = {
      ...(options?.expirationTtl !== undefined ? { expirationTtl: options.expirationTtl } : {}),
      ...(options?.expiration !== undefined ? { expiration: options.expiration } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
    };
    await beforeSideEffect(this.env, this.ctx.props.tenant, this.ctx);
    await storageCall("KV", "put", JSON.stringify(key), () => this.env.KV.put(full, value as string, putOptions));
  }

  private async deleteKey(key: string): Promise<void> {
    const full = this.prefix + validateKey(key);
    await beforeSideEffect(this.env, this.ctx.props.tenant, this.ctx);
    await storageCall("KV", "delete", JSON.stringify(key), () => this.env.KV.delete(full));
  }

  private async listKeys(options: KvListOptions = {}): Promise<KvListResult> {
    const limit = options.limit ?? MAX_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT)
      throw new RangeError(`list limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    const prefix = this.prefix;
    const listPrefix = prefix + validatePrefix(options.prefix);
    const listing = ["KV", listPrefix];
    const listOptions = {
      prefix: listPrefix,
      limit,
      ...(options.cursor ? { cursor: unwrapCursor("KV", listing, options.cursor) } : {}),
    };
    const page = await storageCall("KV", "list", undefined, () => this.env.KV.list(listOptions));
    return {
      // Every listed key starts with our prefix (KV filters by it); strip it so keys stay relative.
      keys: page.keys
        .filter((k) => k.name.startsWith(prefix))
        .map((k) => ({ ...k, name: k.name.slice(prefix.length) })),
      list_complete: page.list_complete,
      ...(page.list_complete ? {} : { cursor: wrapCursor(listing, page.cursor) }),
    };
  }

  get(key: string, type?: ValueType | { type?: ValueType }): Promise<RpcResult<unknown>> {
    return asRpcResult(() => this.getValue(key, type));
  }

  getWithMetadata(
    key: string,
    type?: ValueType | { type?: ValueType },
  ): Promise<RpcResult<{ value: unknown; metadata: unknown }>> {
    return asRpcResult(() => this.getValueWithMetadata(key, type));
  }

  put(key: string, value: string | ArrayBuffer | ArrayBufferView, options?: KvPutOptions): Promise<RpcResult<void>> {
    return asRpcResult(() => this.putValue(key, value, options));
  }

  delete(key: string): Promise<RpcResult<void>> {
    return asRpcResult(() => this.deleteKey(key));
  }

  list(options?: KvListOptions): Promise<RpcResult<KvListResult>> {
    return asRpcResult(() => this.listKeys(options));
  }
}

/**
 * KV's rules for a value's lifetime, both in whole seconds: `expirationTtl` at least 60, and
 * `expiration` (since the UNIX epoch) at least 60 s from now; neither past MAX_KV_EXPIRATION_SECONDS.
 * A model often passes `Date.now()` (milliseconds): the message says so.
 */
function checkExpiration(options: KvPutOptions | undefined): void {
  const ttl = options?.expirationTtl;
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 60 && ttl <= MAX_KV_EXPIRATION_SECONDS))
    throw new RangeError(
      `expirationTtl must be an integer number of seconds from 60 to ${MAX_KV_EXPIRATION_SECONDS}, not ${ttl}`,
    );
  const at = options?.expiration;
  if (at === undefined) return;
  const millisecondsHint =
    typeof at === "number" && at > 1e11 ? " (this looks like milliseconds, as Date.now() gives: divide by 1000)" : "";
  if (!(Number.isInteger(at) && at >= Date.now() / 1000 + 60 && at <= MAX_KV_EXPIRATION_SECONDS))
    throw new RangeError(
      `expiration must be an integer number of seconds since the UNIX epoch, at least 60 seconds from now and at most ${MAX_KV_EXPIRATION_SECONDS}, not ${at}${millisecondsHint}`,
    );
}
