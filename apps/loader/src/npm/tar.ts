/**
 * @module npm/tar
 * Gunzip and untar for npm tarballs, written for hostile input with Web APIs only. The archive is
 * parsed as the decompressor produces it, so the loader never holds the unpacked archive: only
 * the entries the caller keeps. Decompressed bytes are counted (a gzip bomb stops at the cap),
 * every header's checksum is verified, sizes are checked against the cap before anything is
 * allocated, and entries are counted. Handles ustar (name + prefix), PAX `path` records and GNU
 * long names, which npm's packer emits for long paths. A reader of our own because the tar
 * libraries at hand buffer whole archives and ignore the ustar prefix.
 */
import { MAX_META_ENTRY_BYTES } from "../limits.ts";

/** A malformed or over-limit archive; the caller names the package. */
export class TarError extends Error {
  override name = "TarError";
  /** Refused for its size, not for its contents. */
  constructor(
    message: string,
    readonly tooLarge = false,
  ) {
    super(message);
  }
}

export interface TarFile {
  /** As stored in the archive: not normalised, may be hostile. */
  path: string;
  data: Uint8Array;
}

/** Called for every regular file: true keeps its data. May throw to refuse the archive. */
export type KeepEntry = (path: string) => boolean;

const BLOCK_BYTES = 512;
/**
 * Compressed bytes handed to the decompressor per write: deflate expands at most ~1,032×, so
 * whatever the runtime buffers per write stays near 16 MiB even for a crafted stream.
 */
const GUNZIP_SLICE_BYTES = 16 * 1024;

const decoder = new TextDecoder();

/** Feeds the decompressed bytes of `gzipped` to `sink` in order, failing once they pass `maxBytes`. */
export async function gunzip(gzipped: Uint8Array, maxBytes: number, sink: (chunk: Uint8Array) => void): Promise<void> {
  const stream = new DecompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const feeding = (async () => {
    for (let offset = 0; offset < gzipped.byteLength; offset += GUNZIP_SLICE_BYTES) {
      await writer.write(gzipped.subarray(offset, offset + GUNZIP_SLICE_BYTES));
    }
    await writer.close();
  })();
  // Errors surface through the reader; this only keeps a rejected feeder from going unhandled.
  feeding.catch(() => {});

  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw new TarError(`it unpacks to more than ${maxBytes} bytes`, true);
      sink(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (err instanceof TarError) throw err;
    throw new TarError(`it is not a valid gzip file (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Gunzips all of `gzipped` into one buffer (for small trusted data such as our own cache entries). */
export async function gunzipAll(gzipped: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await gunzip(gzipped, maxBytes, (chunk) => chunks.push(chunk));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function text(bytes: Uint8Array, offset: number, length: number): string {
  const view = bytes.subarray(offset, offset + length);
  const end = view.indexOf(0);
  return decoder.decode(end === -1 ? view : view.subarray(0, end));
}

function octal(header: Uint8Array, offset: number, length: number, what: string): number {
  // GNU base-256 numbers (high bit set) only occur for values no npm tarball may have.
  if ((header[offset] ?? 0) & 0x80) throw new TarError(`a tar header's ${what} is too large`);
  const digits = text(header, offset, length).trim();
  if (digits === "") return 0;
  if (!/^[0-7]+$/.test(digits)) throw new TarError(`a tar header is corrupt (${what} "${digits.slice(0, 20)}")`);
  return parseInt(digits, 8);
}

function checksumMatches(header: Uint8Array): boolean {
  let sum = 0;
  // The checksum field itself counts as eight spaces.
  for (let i = 0; i < BLOCK_BYTES; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  return sum === octal(header, 148, 8, "checksum");
}

/** PAX records are `<length> <key>=<value>\n`, the length counting the whole record in bytes. */
function paxPath(data: Uint8Array): string | undefined {
  let path: string | undefined;
  let offset = 0;
  while (offset < data.byteLength) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(decoder.decode(data.subarray(offset, space)));
    if (!Number.isInteger(length) || length <= space - offset || offset + length > data.byteLength) {
      throw new TarError("a PAX header is corrupt");
    }
    const record = decoder.decode(data.subarray(space + 1, offset + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0 && record.slice(0, eq) === "path") path = record.slice(eq + 1);
    offset += length;
  }
  return path;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** The entry whose data is being read: kept (`data` filled as it arrives) or skipped. */
interface Pending {
  path: string;
  type: string;
  data: Uint8Array | undefined;
  filled: number;
  /** Data plus padding to the next block. */
  remaining: number;
  size: number;
}

/**
 * Incremental tar parser: `push` decompressed chunks in order, then `end`. Regular files whose
 * path `keep` accepts are returned; links, devices and directories are skipped (npm installs
 * never need them).
 */
export class TarParser {
  private readonly files: TarFile[] = [];
  private readonly header = new Uint8Array(BLOCK_BYTES);
  private headerFilled = 0;
  private pending: Pending | undefined;
  private entries = 0;
  private longPath: string | undefined;
  private finished = false;

  constructor(
    private readonly maxEntries: number,
    /** The largest entry that may be kept (the caller's unpacked limit). */
    private readonly maxEntryBytes: number,
    private readonly keep: KeepEntry = () => true,
  ) {}

  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.byteLength && !this.finished) {
      const pending = this.pending;
      if (pending) {
        const take = Math.min(pending.remaining, chunk.byteLength - offset);
        const useful = Math.min(take, pending.size - pending.filled);
        if (pending.data && useful > 0) pending.data.set(chunk.subarray(offset, offset + useful), pending.filled);
        pending.filled += Math.max(0, useful);
        pending.remaining -= take;
        offset += take;
        if (pending.remaining === 0) this.complete(pending);
        continue;
      }
      const take = Math.min(BLOCK_BYTES - this.headerFilled, chunk.byteLength - offset);
      this.header.set(chunk.subarray(offset, offset + take), this.headerFilled);
      this.headerFilled += take;
      offset += take;
      if (this.headerFilled === BLOCK_BYTES) {
        this.headerFilled = 0;
        this.begin(this.header);
      }
    }
  }

  /** The kept files; throws if the archive stopped inside an entry. */
  end(): TarFile[] {
    if (this.pending || this.headerFilled > 0) throw new TarError("the tar archive is truncated");
    return this.files;
  }

  private begin(header: Uint8Array): void {
    if (isZeroBlock(header)) {
      // End-of-archive marker; whatever follows (the second zero block, padding) is ignored.
      this.finished = true;
      return;
    }
    if (++this.entries > this.maxEntries) throw new TarError(`it has more than ${this.maxEntries} entries`, true);
    if (!checksumMatches(header)) throw new TarError("a tar header is corrupt (checksum mismatch)");
    const size = octal(header, 124, 12, "size");
    const type = String.fromCharCode(header[156] ?? 0);
    let keep = false;
    let path = "";
    if (type === "x" || type === "L") {
      if (size > MAX_META_ENTRY_BYTES) throw new TarError("a PAX or long-name header is too large");
      keep = true;
    } else if (type !== "g") {
      // POSIX ustar ("ustar\0") splits long names into prefix + name; GNU's "ustar " does not.
      const posix = text(header, 257, 6) === "ustar" && header[262] === 0;
      const prefix = posix ? text(header, 345, 155) : "";
      const name = text(header, 0, 100);
      path = this.longPath ?? (prefix ? `${prefix}/${name}` : name);
      this.longPath = undefined;
      if (type === "0" || type === "\0" || type === "7") {
        keep = this.keep(path);
        if (keep && size > this.maxEntryBytes)
          throw new TarError(`its file "${path.slice(0, 200)}" is larger than ${this.maxEntryBytes} bytes`, true);
      }
    }
    const pending: Pending = {
      path,
      type,
      data: keep ? new Uint8Array(size) : undefined,
      filled: 0,
      remaining: Math.ceil(size / BLOCK_BYTES) * BLOCK_BYTES,
      size,
    };
    if (pending.remaining === 0) this.complete(pending);
    else this.pending = pending;
  }

  private complete(entry: Pending): void {
    this.pending = undefined;
    if (entry.type === "x") this.longPath = paxPath(entry.data ?? new Uint8Array()) ?? this.longPath;
    else if (entry.type === "L") this.longPath = text(entry.data ?? new Uint8Array(), 0, entry.size);
    else if (entry.data) this.files.push({ path: entry.path, data: entry.data });
  }
}

/** Parses a whole (uncompressed) archive; `keep` as for TarParser. */
export function untar(archive: Uint8Array, maxEntries: number, keep?: KeepEntry): TarFile[] {
  const parser = new TarParser(maxEntries, archive.byteLength, keep);
  parser.push(archive);
  return parser.end();
}
