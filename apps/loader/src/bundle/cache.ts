/**
 * @module cache
 * Content-addressed cache of bundles in the loader isolate's memory: the key hashes every input
 * that can change the output, so a hit skips bundling entirely. Concurrent requests for the
 * same program share one build. Bounded by total bytes (least recently used goes first);
 * failures are not cached: the same code fails the same way, quickly, next time anyway.
 */
import { MemoryCache } from "../memory-cache.ts";
import { MAX_BUNDLE_CACHE_BYTES } from "../limits.ts";
import { bundleChars, type Bundle } from "./bundle.ts";

export class BundleCache {
  private readonly cache: MemoryCache<Bundle>;

  constructor(maxBytes = MAX_BUNDLE_CACHE_BYTES) {
    this.cache = new MemoryCache(maxBytes, (bundle) => {
      const { code, maps } = bundleChars(bundle);
      return code + maps;
    });
  }

  /** Returns the cached bundle for `key` or builds it; `cached` tells which happened. */
  async getOrBuild(key: string, build: () => Promise<Bundle>): Promise<{ bundle: Bundle; cached: boolean }> {
    const { value, hit } = this.cache.lookup(key, build);
    return { bundle: await value, cached: hit };
  }
}
