/**
 * @module npm/package-store
 * The unpacked files of one exact package version, from the fastest place that has them: the
 * loader isolate's memory, then R2 (gzipped JSON under `__dwl/npm/`, a prefix tenants cannot
 * reach since their keys live under `t/<tenant>/`), then the registry (download, verify
 * integrity, unpack, store in both). Entries are keyed by the tarball's integrity hash, so they
 * never go stale and two registries serving different bytes for one name@version never mix.
 */
import { CompileError } from "../compile-error.ts";
import { sha256Hex } from "../hash.ts";
import { writeInBackground } from "./cache-writes.ts";
import { integrityProblem } from "./integrity.ts";
import { Slots } from "../slots.ts";
import { MAX_UNPACKED_BYTES, PACKAGE_MEMORY_CACHE_BYTES, TARBALL_CONCURRENCY } from "../limits.ts";
import { MemoryCache } from "../memory-cache.ts";
import type { NpmRegistry } from "./registry.ts";
import type { ResolvedPackage } from "./resolve.ts";
import { gunzipAll, TarError } from "./tar.ts";
import { unpackTarball, type PackageFiles } from "./tarball.ts";

/** R2 keys of unpacked packages; bump the version when the stored format changes. */
export const PACKAGE_R2_PREFIX = "__dwl/npm/pkg/v1";

const memory = new MemoryCache<PackageFiles>(PACKAGE_MEMORY_CACHE_BYTES, filesBytes);
const unpacking = new Slots(TARBALL_CONCURRENCY);

/** Forgets packages kept in this isolate's memory (tests use it to reach the R2 level). */
export function clearPackageMemory(): void {
  memory.clear();
}

/** UTF-16 length as the size estimate: what the strings cost in memory, near enough. */
export function filesBytes(files: PackageFiles): number {
  let total = 0;
  for (const [path, text] of Object.entries(files)) total += path.length + text.length;
  return total;
}

async function gzipJson(value: unknown): Promise<ReadableStream<Uint8Array>> {
  return new Blob([JSON.stringify(value)]).stream().pipeThrough(new CompressionStream("gzip"));
}

/** What a model can do about a package over the size limit. */
const TOO_LARGE_HINT =
  "; another major version of it may be smaller (date-fns 4 is, where 3 is not), or a smaller package may do";

export class PackageStore {
  constructor(
    private readonly registry: NpmRegistry,
    private readonly bucket?: R2Bucket,
  ) {}

  files(pkg: ResolvedPackage): Promise<PackageFiles> {
    const content = pkg.dist.integrity ?? `${this.registry.url} ${pkg.id} ${pkg.dist.shasum ?? ""}`;
    return memory.get(content, () => this.load(pkg, content));
  }

  private async load(pkg: ResolvedPackage, content: string): Promise<PackageFiles> {
    const key = `${PACKAGE_R2_PREFIX}/${pkg.id}/${(await sha256Hex(content)).slice(0, 32)}.json.gz`;
    const stored = await this.fromBucket(key);
    if (stored) return stored;

    const { unpackedSize } = pkg.dist;
    if (unpackedSize !== undefined && unpackedSize > MAX_UNPACKED_BYTES) {
      throw new CompileError(
        `${pkg.id} is ${unpackedSize} bytes unpacked, over the ${MAX_UNPACKED_BYTES}-byte limit${TOO_LARGE_HINT}`,
      );
    }
    const files = await unpacking.run(() => this.download(pkg));
    const bucket = this.bucket;
    if (bucket) {
      // Losing this write only costs a later download.
      await writeInBackground(async () => bucket.put(key, await new Response(await gzipJson({ files })).arrayBuffer()));
    }
    return files;
  }

  private async download(pkg: ResolvedPackage): Promise<PackageFiles> {
    const tarball = await this.registry.tarball(pkg.id, pkg.dist.tarball);
    const problem = await integrityProblem(tarball, pkg.dist);
    if (problem) throw new CompileError(`refusing the tarball of ${pkg.id}: ${problem}`);
    try {
      return await unpackTarball(tarball);
    } catch (err) {
      if (err instanceof TarError)
        throw new CompileError(
          `refusing the tarball of ${pkg.id}: ${err.message}${err.tooLarge ? TOO_LARGE_HINT : ""}`,
        );
      throw err;
    }
  }

  private async fromBucket(key: string): Promise<PackageFiles | undefined> {
    if (!this.bucket) return undefined;
    try {
      const object = await this.bucket.get(key);
      if (!object) return undefined;
      // Our own JSON of at most MAX_UNPACKED_BYTES of files; escaping adds a little.
      const json = await gunzipAll(new Uint8Array(await object.arrayBuffer()), 2 * MAX_UNPACKED_BYTES);
      const parsed = JSON.parse(new TextDecoder().decode(json)) as { files?: PackageFiles };
      return parsed.files;
    } catch {
      // Unreadable entry: download again (and overwrite it).
      return undefined;
    }
  }
}
