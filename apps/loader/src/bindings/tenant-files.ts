/**
 * @module tenant-files
 * R2 confined to one tenant's namespace: the one implementation behind both `env.FILES` in
 * programs (ScopedFiles) and the `/files` HTTP routes, so both scope keys identically.
 */
import { MAX_LIST_LIMIT } from "../limits.ts";
import { readCapped, TOO_LARGE } from "../read-capped.ts";
import { scopePrefix, StorageLimitError, validateKey, validatePrefix } from "./keys.ts";
import { unwrapCursor, wrapCursor } from "./list-cursor.ts";
import { storageCall } from "./storage-error.ts";

/** What a program or client sees of a stored object: R2's fields, key relative to the namespace. */
export interface FileInfo {
  key: string;
  size: number;
  etag: string;
  httpEtag: string;
  uploaded: Date;
  version: string;
  httpMetadata: R2HTTPMetadata;
  customMetadata: Record<string, string>;
}

export interface FilePutOptions {
  httpMetadata?: R2HTTPMetadata;
  customMetadata?: Record<string, string>;
}

export interface FileListOptions {
  prefix?: string;
  cursor?: string;
  limit?: number;
  delimiter?: string;
}

export interface FileList {
  objects: FileInfo[];
  truncated: boolean;
  cursor?: string;
  delimitedPrefixes: string[];
}

export type FileValue = string | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array> | null;

const HTTP_METADATA_FIELDS = [
  "contentType",
  "contentLanguage",
  "contentDisposition",
  "contentEncoding",
  "cacheControl",
] as const;

function cleanHttpMetadata(input: unknown): R2HTTPMetadata {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object")
    throw new TypeError('httpMetadata must be an object like { contentType: "image/svg+xml" }');
  const out: Record<string, string> = {};
  for (const field of HTTP_METADATA_FIELDS) {
    const value = (input as Record<string, unknown>)[field];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length > 256)
      throw new TypeError(`httpMetadata.${field} must be a string of at most 256 characters`);
    out[field] = value;
  }
  return out;
}

function cleanCustomMetadata(input: unknown): Record<string, string> {
  if (input === undefined || input === null) return {};
  if (typeof input !== "object") throw new TypeError("customMetadata must be an object of string values");
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.some(([, v]) => typeof v !== "string")) throw new TypeError("customMetadata values must be strings");
  if (JSON.stringify(input).length > 2048)
    throw new RangeError("customMetadata must serialise to at most 2048 bytes of JSON");
  return Object.fromEntries(entries) as Record<string, string>;
}

/** Reads a body into memory under a cap (R2 needs a known length; programs send small files). */
async function toBytes(value: FileValue, maxBytes: number, key: string): Promise<Uint8Array | string> {
  const tooBig = (size: number | string) =>
    new StorageLimitError(`file "${key}" is ${size} bytes, over the ${maxBytes}-byte limit`);
  if (value === null) return "";
  if (typeof value === "string") {
    const size = new TextEncoder().encode(value).byteLength;
    if (size > maxBytes) throw tooBig(size);
    return value;
  }
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    if (value.byteLength > maxBytes) throw tooBig(value.byteLength);
    return value instanceof ArrayBuffer
      ? new Uint8Array(value)
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ReadableStream) {
    const bytes = await readCapped(value, maxBytes);
    if (bytes === TOO_LARGE) throw tooBig(`over ${maxBytes}`);
    return bytes;
  }
  throw new TypeError("file contents must be a string, an ArrayBuffer, a typed array or a ReadableStream");
}

/** A list page size: 1 to MAX_LIST_LIMIT (the default). @throws {RangeError} otherwise. */
export function listLimit(limit: number | undefined): number {
  const value = limit ?? MAX_LIST_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_LIST_LIMIT)
    throw new RangeError(`list limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return value;
}

/** A list delimiter: none, or `/`. @throws {TypeError} otherwise. */
export function listDelimiter(delimiter: string | undefined): void {
  if (delimiter !== undefined && delimiter !== "/") throw new TypeError('the only supported delimiter is "/"');
}

export class TenantFiles {
  private readonly prefix: string;

  constructor(
    private readonly bucket: R2Bucket,
    tenant: string,
    namespace: string,
    private readonly maxFileBytes: number,
    /** Awaited right before each write (put, delete): ScopedFiles reports effects to the supervisor here. */
    private readonly beforeWrite: () => Promise<void> = async () => {},
  ) {
    this.prefix = scopePrefix(tenant, namespace);
  }

  private info(object: R2Object): FileInfo {
    return {
      key: object.key.slice(this.prefix.length),
      size: object.size,
      etag: object.etag,
      httpEtag: object.httpEtag,
      uploaded: object.uploaded,
      version: object.version,
      httpMetadata: object.httpMetadata ?? {},
      customMetadata: object.customMetadata ?? {},
    };
  }

  async head(key: string): Promise<FileInfo | null> {
    const full = this.prefix + validateKey(key);
    const object = await storageCall("FILES", "head", JSON.stringify(key), () => this.bucket.head(full));
    return object ? this.info(object) : null;
  }

  async get(key: string): Promise<{ info: FileInfo; body: ReadableStream<Uint8Array> } | null> {
    const full = this.prefix + validateKey(key);
    const object = await storageCall("FILES", "get", JSON.stringify(key), () => this.bucket.get(full));
    return object ? { info: this.info(object), body: object.body } : null;
  }

  async put(key: string, value: FileValue, options: FilePutOptions = {}): Promise<FileInfo> {
    const full = this.prefix + validateKey(key);
    const httpMetadata = cleanHttpMetadata(options.httpMetadata);
    const customMetadata = cleanCustomMetadata(options.customMetadata);
    const body = await toBytes(value, this.maxFileBytes, key);
    await this.beforeWrite();
    const object = await storageCall("FILES", "put", JSON.stringify(key), () =>
      this.bucket.put(full, body, { httpMetadata, customMetadata }),
    );
    return this.info(object);
  }

  async delete(keys: string | string[]): Promise<void> {
    const list = Array.isArray(keys) ? keys : [keys];
    if (list.length > MAX_LIST_LIMIT) throw new RangeError(`delete at most ${MAX_LIST_LIMIT} keys at once`);
    const full = list.map((k) => this.prefix + validateKey(k));
    await this.beforeWrite();
    await storageCall("FILES", "delete", list.length === 1 ? JSON.stringify(list[0]) : `${list.length} keys`, () =>
      this.bucket.delete(full),
    );
  }

  async list(options: FileListOptions = {}): Promise<FileList> {
    const limit = listLimit(options.limit);
    listDelimiter(options.delimiter);
    const prefix = this.prefix + validatePrefix(options.prefix);
    const listing = ["FILES", prefix, options.delimiter ?? ""];
    const listOptions: R2ListOptions = {
      prefix,
      limit,
      include: ["httpMetadata", "customMetadata"],
      ...(options.cursor ? { cursor: unwrapCursor("FILES", listing, options.cursor) } : {}),
      ...(options.delimiter ? { delimiter: options.delimiter } : {}),
    };
    const page = await storageCall("FILES", "list", undefined, () => this.bucket.list(listOptions));
    return {
      // R2 filters by our prefix; the check keeps that an invariant rather than an assumption.
      objects: page.objects.filter((o) => o.key.startsWith(this.prefix)).map((o) => this.info(o)),
      truncated: page.truncated,
      ...(page.truncated ? { cursor: wrapCursor(listing, page.cursor) } : {}),
      delimitedPrefixes: page.delimitedPrefixes
        .filter((p) => p.startsWith(this.prefix))
        .map((p) => p.slice(this.prefix.length)),
    };
  }
}
