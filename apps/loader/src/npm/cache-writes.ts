/**
 * @module npm/cache-writes
 * The npm caches' writes (metadata to KV, unpacked packages to R2) run in the background: the
 * request that downloaded something already has it in memory and need not wait for storage, and a
 * write that fails or never lands only costs a later isolate a download. `waitUntil` keeps the
 * isolate alive until each write settles. At most MAX_BACKGROUND_CACHE_WRITES run so at once; past
 * that the caller waits for its own, so a slow store slows new installs down instead of piling up
 * their data in memory.
 */
import { waitUntil } from "cloudflare:workers";
import { MAX_BACKGROUND_CACHE_WRITES } from "../limits.ts";

const pending = new Set<Promise<void>>();
const ignore = () => {};

/**
 * Starts `write` (a cache write whose failure is harmless) and resolves once the caller may go
 * on: at once, or when the write settles if too many are in flight already.
 */
export async function writeInBackground(write: () => Promise<unknown>): Promise<void> {
  if (pending.size >= MAX_BACKGROUND_CACHE_WRITES) return write().then(ignore, ignore);
  // From a timer rather than inline: serialising and gzipping a package is CPU, and the install
  // hands its files on first (the work still shares the isolate's thread with the request).
  const settled = new Promise((resolve) => setTimeout(resolve, 0)).then(write).then(ignore, ignore);
  const tracked = settled.finally(() => pending.delete(tracked));
  pending.add(tracked);
  try {
    waitUntil(tracked);
  } catch {
    // Outside a request (a test calling the installer directly): the write still runs.
  }
}

/** Resolves once every background write started so far has settled (tests read the caches after it). */
export async function cacheWritesSettled(): Promise<void> {
  while (pending.size > 0) await Promise.all(pending);
}
