/**
 * @module npm/registry
 * Talks to the npm registry (its URL is configuration): package metadata, cached for
 * METADATA_TTL_MS in the loader isolate's memory and in KV, and tarball downloads. Every request
 * is bounded in time and size; network failures, 429 and 5xx are retried a few times with
 * backoff, then reported as a compile error that names the registry.
 */
import { CompileError } from "../compile-error.ts";
import { sha256Hex } from "../hash.ts";
import {
  MAX_METADATA_BYTES,
  MAX_TARBALL_BYTES,
  METADATA_MEMORY_CACHE_BYTES,
  METADATA_TTL_MS,
  REGISTRY_ATTEMPTS,
  REGISTRY_RETRY_DELAY_MS,
  REGISTRY_TIMEOUT_MS,
} from "../limits.ts";
import { MemoryCache } from "../memory-cache.ts";
import { writeInBackground } from "./cache-writes.ts";
import { readCapped as readStreamCapped, TOO_LARGE } from "../read-capped.ts";

/** What resolution and download need of one published version; the rest of the metadata is dropped. */
export interface VersionInfo {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  /** Peers marked optional in `peerDependenciesMeta`. */
  optionalPeers: string[];
  /** Names in `optionalDependencies` (npm also lists them under `dependencies`). */
  optionalDependencies: string[];
  dist: { tarball: string; integrity?: string; shasum?: string; unpackedSize?: number };
}

export interface Packument {
  name: string;
  distTags: Record<string, string>;
  versions: Record<string, VersionInfo>;
}

/** The abbreviated document npm clients install from; full metadata only as a fallback. */
const METADATA_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
/** KV keys under a prefix no tenant can name (tenant storage lives under `t/<tenant>/`). */
const KV_PREFIX = "__dwl/npm/meta/v1";

const metadataCache = new MemoryCache<Packument>(METADATA_MEMORY_CACHE_BYTES, (p) => JSON.stringify(p).length);

/** Forgets metadata kept in this isolate's memory (tests use it to reach the KV level). */
export function clearMetadataMemory(): void {
  metadataCache.clear();
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function stringRecord(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Keeps what `VersionInfo` needs; versions without a usable tarball URL are left out. */
export function prunePackument(name: string, raw: unknown): Packument {
  if (!isRecord(raw) || !isRecord(raw.versions))
    throw new CompileError(`the npm registry sent malformed metadata for "${name}"`);
  const versions: Record<string, VersionInfo> = {};
  for (const [version, info] of Object.entries(raw.versions)) {
    if (
      !isRecord(info) ||
      !isRecord(info.dist) ||
      typeof info.dist.tarball !== "string" ||
      !/^https?:\/\//.test(info.dist.tarball)
    )
      continue;
    const dist: VersionInfo["dist"] = { tarball: info.dist.tarball };
    if (typeof info.dist.integrity === "string") dist.integrity = info.dist.integrity;
    if (typeof info.dist.shasum === "string") dist.shasum = info.dist.shasum;
    if (typeof info.dist.unpackedSize === "number") dist.unpackedSize = info.dist.unpackedSize;
    const peerMeta = isRecord(info.peerDependenciesMeta) ? info.peerDependenciesMeta : {};
    versions[version] = {
      dependencies: stringRecord(info.dependencies),
      peerDependencies: stringRecord(info.peerDependencies),
      optionalPeers: Object.keys(peerMeta).filter(
        (peer) => isRecord(peerMeta[peer]) && peerMeta[peer].optional === true,
      ),
      optionalDependencies: Object.keys(stringRecord(info.optionalDependencies)),
      dist,
    };
  }
  return { name, distTags: stringRecord(raw["dist-tags"]), versions };
}

interface Fetched {
  status: number;
  body: Uint8Array;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads a body to its end, refusing (without retrying) one that passes `maxBytes`. */
async function readCapped(res: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const tooLarge = () => new CompileError(`${what} is larger than ${maxBytes} bytes, the limit`);
  const declared = Number(res.headers.get("content-length"));
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw tooLarge();
  }
  if (!res.body) return new Uint8Array(0);
  const body = await readStreamCapped(res.body, maxBytes);
  if (body === TOO_LARGE) throw tooLarge();
  return body;
}

export class NpmRegistry {
  /** Without a trailing slash. */
  readonly url: string;

  constructor(
    url: string,
    /** Shared metadata cache across loader isolates; optional. */
    private readonly kv?: KVNamespace,
  ) {
    this.url = url.replace(/\/+$/, "");
  }

  /** Metadata of `name`; an unknown package is a compile error naming `requiredBy`. */
  packument(name: string, requiredBy = ""): Promise<Packument> {
    return metadataCache.get(`${this.url} ${name}`, () => this.loadPackument(name, requiredBy), METADATA_TTL_MS);
  }

  /** The tarball's bytes (not yet verified against its integrity). */
  async tarball(id: string, url: string): Promise<Uint8Array> {
    const res = await this.request(url, "application/octet-stream", MAX_TARBALL_BYTES, `the tarball of ${id}`);
    if (res.status !== 200)
      throw new CompileError(`the npm registry answered HTTP ${res.status} for the tarball of ${id}`);
    return res.body;
  }

  private async loadPackument(name: string, requiredBy: string): Promise<Packument> {
    const kvKey = this.kv ? `${KV_PREFIX}/${(await sha256Hex(this.url)).slice(0, 16)}/${name}` : "";
    if (this.kv) {
      const stored = await this.kv.get<{ fetchedAt: number; packument: Packument }>(kvKey, "json").catch(() => null);
      if (stored && Date.now() - stored.fetchedAt < METADATA_TTL_MS) return stored.packument;
    }
    // Scoped names keep their @ and encode the slash, as npm's own client does.
    const res = await this.request(
      `${this.url}/${name.replace("/", "%2f")}`,
      METADATA_ACCEPT,
      MAX_METADATA_BYTES,
      `the metadata of "${name}"`,
    );
    if (res.status === 404)
      throw new CompileError(`unknown npm package "${name}"${requiredBy} (the registry has no such package)`);
    if (res.status !== 200) throw new CompileError(`the npm registry answered HTTP ${res.status} for "${name}"`);
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(res.body));
    } catch {
      throw new CompileError(`the npm registry sent malformed metadata for "${name}"`);
    }
    const packument = prunePackument(name, raw);
    const kv = this.kv;
    if (kv) {
      // A cache write that fails (value too large, KV unavailable) only costs a later fetch.
      const fetchedAt = Date.now();
      await writeInBackground(() =>
        kv.put(kvKey, JSON.stringify({ fetchedAt, packument }), {
          expirationTtl: Math.max(60, Math.ceil(METADATA_TTL_MS / 1000)),
        }),
      );
    }
    return packument;
  }

  /** GET with bounded retries; answers 2xx and 4xx (but 429) as they are, throws otherwise. */
  private async request(url: string, accept: string, maxBytes: number, what: string): Promise<Fetched> {
    let last = "";
    for (let attempt = 1; attempt <= REGISTRY_ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(REGISTRY_RETRY_DELAY_MS * 2 ** (attempt - 2));
      let res: Response;
      try {
        res = await fetch(url, { headers: { accept }, signal: AbortSignal.timeout(REGISTRY_TIMEOUT_MS) });
      } catch (err) {
        last = message(err);
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        last = `HTTP ${res.status}`;
        await res.body?.cancel();
        continue;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        return { status: res.status, body: new Uint8Array() };
      }
      try {
        return { status: 200, body: await readCapped(res, maxBytes, what) };
      } catch (err) {
        if (err instanceof CompileError) throw err;
        last = message(err);
      }
    }
    throw new CompileError(
      `the npm registry ${this.url} is unreachable: fetching ${what} failed ${REGISTRY_ATTEMPTS} times (${last})`,
    );
  }
}
