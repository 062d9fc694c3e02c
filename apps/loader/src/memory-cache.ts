/**
 * @module memory-cache
 * A byte-bounded, least-recently-used map with optional expiry, for the caches that live in the
 * loader isolate's memory (bundles, npm metadata and packages). Values are promises, so
 * concurrent requests for the same entry share one build or download; a rejected promise is
 * dropped so the next request retries. An entry counts against the bound once its value arrives.
 */

interface Entry<V> {
  value: Promise<V>;
  bytes: number;
  /** `Infinity` for entries that never expire. */
  expiresAt: number;
}

export class MemoryCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    /** Estimates an entry's size once its value has arrived. */
    private readonly sizeOf: (value: V) => number,
  ) {}

  /** The cached value for `key`, or `load()`'s, stored for `ttlMs` (default: forever). */
  get(key: string, load: () => Promise<V>, ttlMs = Infinity): Promise<V> {
    return this.lookup(key, load, ttlMs).value;
  }

  /** As `get`, and whether the value was already there (`hit`) or `load()` was called. */
  lookup(key: string, load: () => Promise<V>, ttlMs = Infinity): { value: Promise<V>; hit: boolean } {
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > Date.now()) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return { value: hit.value, hit: true };
    }
    if (hit) this.remove(key, hit);
    const entry: Entry<V> = { value: load(), bytes: 0, expiresAt: Date.now() + ttlMs };
    this.entries.set(key, entry);
    entry.value.then(
      (value) => {
        if (this.entries.get(key) !== entry) return;
        entry.bytes = this.sizeOf(value);
        this.bytes += entry.bytes;
        this.evict();
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return { value: entry.value, hit: false };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private remove(key: string, entry: Entry<V>): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (entry.bytes > 0) this.remove(key, entry);
    }
  }
}
