/**
 * @module routes/files
 * The tenant's files over HTTP, scoped exactly like `env.FILES` (same TenantFiles):
 * GET /files/:namespace?prefix=&cursor=&limit= lists; GET/HEAD/PUT/DELETE /files/:namespace/<key>.
 * Objects are served with their stored content type (an SVG renders in a browser) under a
 * sandboxing CSP, so a stored document can never script the loader's own origin.
 */
import { bodyTooLargeError } from "@dwl/protocol";
import { Hono, type Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { StorageKeyError, StorageLimitError, validateNamespace } from "../bindings/keys.ts";
import { ListCursorError } from "../bindings/list-cursor.ts";
import { listDelimiter, listLimit, TenantFiles, type FileInfo } from "../bindings/tenant-files.ts";
import { DwlHttpError } from "../errors.ts";
import { rawPath } from "../raw-path.ts";

const SERVED_OBJECT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; media-src data:";

function filesFor(c: Context<AppEnv>): TenantFiles {
  return new TenantFiles(c.env.FILES, c.get("tenant"), c.req.param("namespace") ?? "", c.get("server").maxFileBytes);
}

/** A `.` or `..` segment, however it is percent-encoded, is refused rather than resolved. */
export function assertNoDotSegments(url: string): void {
  const dotted = rawPath(url)
    .split("/")
    .some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
  if (dotted) {
    throw DwlHttpError.of(
      "invalid_request",
      "/files paths may not contain . or .. segments (encoded or not): name the namespace and key directly",
      [{ path: ["key"], message: "dot segment in the path" }],
    );
  }
}

/** The object key: everything after /files/:namespace/, percent-decoded once per segment. */
function keyOf(c: Context<AppEnv>): string {
  const rest = rawPath(c.req.url).split("/").slice(3);
  try {
    return rest.map((segment) => decodeURIComponent(segment)).join("/");
  } catch {
    throw DwlHttpError.of("invalid_request", "the key in the URL is not valid percent-encoding", [
      { path: ["key"], message: "bad percent-encoding" },
    ]);
  }
}

/** Turns the storage layer's validation errors into 400s that name the field. */
async function scoped<T>(
  field: "key" | "namespace" | "prefix" | "limit" | "delimiter",
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof StorageLimitError)
      throw DwlHttpError.of("payload_too_large", err.message, [{ path: [field], message: err.message }]);
    if (err instanceof StorageKeyError || err instanceof RangeError || err instanceof TypeError) {
      // A list cursor is checked inside the listing, but it is the cursor that is wrong.
      const path = [err instanceof ListCursorError ? err.field : field];
      throw DwlHttpError.of("invalid_request", err.message, [{ path, message: err.message }]);
    }
    throw err;
  }
}

function objectHeaders(info: FileInfo): Headers {
  const headers = new Headers({
    "content-type": info.httpMetadata.contentType ?? "application/octet-stream",
    "content-length": String(info.size),
    etag: info.httpEtag,
    "last-modified": info.uploaded.toUTCString(),
    "x-content-type-options": "nosniff",
    "content-security-policy": SERVED_OBJECT_CSP,
  });
  if (info.httpMetadata.contentDisposition) headers.set("content-disposition", info.httpMetadata.contentDisposition);
  if (info.httpMetadata.cacheControl) headers.set("cache-control", info.httpMetadata.cacheControl);
  return headers;
}

const notFound = (key: string) => DwlHttpError.of("not_found", `no file "${key}" in this namespace`);

export const filesRoute = new Hono<AppEnv>()
  .use("*", async (c, next) => {
    assertNoDotSegments(c.req.url);
    await next();
  })
  .use("/:namespace/*", async (c, next) => {
    await scoped("namespace", async () => validateNamespace(c.req.param("namespace")));
    await next();
  })
  .use("/:namespace", async (c, next) => {
    await scoped("namespace", async () => validateNamespace(c.req.param("namespace")));
    await next();
  })
  .get("/:namespace", async (c) => {
    const limitText = c.req.query("limit");
    const cursor = c.req.query("cursor");
    const delimiter = c.req.query("delimiter");
    // TenantFiles.list makes these same checks; made first here so that a 400 names the parameter.
    const limit = await scoped("limit", async () =>
      limitText === undefined ? undefined : listLimit(Number(limitText)),
    );
    await scoped("delimiter", async () => listDelimiter(delimiter || undefined));
    const page = await scoped("prefix", () =>
      filesFor(c).list({
        prefix: c.req.query("prefix") ?? "",
        ...(limit !== undefined ? { limit } : {}),
        ...(cursor ? { cursor } : {}),
        ...(delimiter ? { delimiter } : {}),
      }),
    );
    return c.json(page);
  })
  .on(["GET", "HEAD"], "/:namespace/*", async (c) => {
    const key = keyOf(c);
    if (c.req.method === "HEAD") {
      const info = await scoped("key", () => filesFor(c).head(key));
      if (!info) throw notFound(key);
      return new Response(null, { headers: objectHeaders(info) });
    }
    const found = await scoped("key", () => filesFor(c).get(key));
    if (!found) throw notFound(key);
    return new Response(found.body, { headers: objectHeaders(found.info) });
  })
  .put("/:namespace/*", async (c) => {
    const key = keyOf(c);
    const max = c.get("server").maxFileBytes;
    const tooLarge = () => {
      const { type, message, issues } = bodyTooLargeError(max, "file");
      return DwlHttpError.of(type, message, issues);
    };
    if (Number(c.req.header("content-length") ?? 0) > max) throw tooLarge();
    const contentType = c.req.header("content-type");
    const info = await scoped("key", () =>
      filesFor(c).put(key, c.req.raw.body, contentType ? { httpMetadata: { contentType } } : {}),
    ).catch((err: unknown) => {
      // A body without a declared length, found too large while it streamed in.
      throw err instanceof DwlHttpError && err.type === "payload_too_large" ? tooLarge() : err;
    });
    return c.json(info, 201);
  })
  .delete("/:namespace/*", async (c) => {
    const key = keyOf(c);
    await scoped("key", () => filesFor(c).delete(key));
    return c.body(null, 204);
  });
