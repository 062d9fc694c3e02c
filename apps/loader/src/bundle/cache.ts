/**
 * @module cache
 * Content-addressed cache of bundles in the loader isolate's memory: the key hashes every input
 * that can change the output, so a hit skips bundling entirely. Concurrent requests for the
 * same program share one build. Bounded by total bytes (least recently used goes first).
 */
import type { Bundle } from "./bundle.ts";

export const MAX_BUNDLE_CACHE_BYTES = 64 * 1024 * 1024;

const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

interface Entry {
  bundle: Promise<Bundle>;
  bytes: number;
}

export class BundleCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly maxBytes = MAX_BUNDLE_CACHE_BYTES) {}

  /** Returns the cached bundle for `key` or builds it; `cached` tells which happened. */
  async getOrBuild(key: string, build: () => Promise<Bundle>): Promise<{ bundle: Bundle; cached: boolean }> {
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert to mark as most recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return { bundle: await hit.bundle, cached: true };
    }
    const pending = build();
    const entry: Entry = { bundle: pending, bytes: 0 };
    this.entries.set(key, entry);
    try {
      const bundle = await pending;
      entry.bytes = bundle.code.length + bundle.map.length;
      this.bytes += entry.bytes;
      this.evict();
      return { bundle, cached: false };
    } catch (err) {
      // Failures are not cached: the same code fails the same way, quickly, next time anyway.
      this.entries.delete(key);
      throw err;
    }
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (entry.bytes === 0) continue; // still building
      this.entries.delete(key);
      this.bytes -= entry.bytes;
    }
  }
}
