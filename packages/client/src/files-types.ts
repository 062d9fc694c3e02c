/**
 * @module files-types
 * Wire format of `/files` answers. Local to the client because packages/protocol has no schema
 * for them yet (the loader's `FileInfo` in apps/loader/src/bindings/tenant-files.ts, serialised).
 * TODO: move to packages/protocol/src/files.ts and import from "@dwl/protocol".
 */
import { z } from "zod";

/** A stored object as `PUT /files/:namespace/<key>` and `GET /files/:namespace` describe it. */
export const FileInfoSchema = z.object({
  /** Relative to the namespace. */
  key: z.string(),
  size: z.number().int(),
  etag: z.string(),
  httpEtag: z.string().optional(),
  /** ISO timestamp. */
  uploaded: z.string(),
  version: z.string().optional(),
  httpMetadata: z.record(z.string(), z.string()),
  customMetadata: z.record(z.string(), z.string()),
});
export type FileInfo = z.infer<typeof FileInfoSchema>;

/** One page of `GET /files/:namespace`; pass `cursor` back for the next while `truncated`. */
export const FileListSchema = z.object({
  objects: z.array(FileInfoSchema),
  truncated: z.boolean(),
  cursor: z.string().optional(),
  delimitedPrefixes: z.array(z.string()),
});
export type FileList = z.infer<typeof FileListSchema>;

/** What `HEAD /files/:namespace/<key>` tells, read from its headers. */
export interface FileHead {
  key: string;
  /** From `content-length`; `null` when the server sent none. */
  size: number | null;
  contentType: string | null;
  etag: string | null;
  lastModified: string | null;
}
