/**
 * @module sandboxes/bundle-store
 * Sandbox bundles in R2, content-addressed by the program's key (so identical programs share
 * one object and a stored bundle never changes), with an in-memory copy per loader isolate.
 * Any loader instance can recreate a sandbox's isolate from here.
 */
import type { Bundle } from "../bundle/bundle.ts";

const memory = new Map<string, Bundle>();
const MAX_MEMORY_ENTRIES = 256;

const objectKey = (key: string) => `__dwl/bundles/${key}.json`;

export async function saveBundle(bucket: R2Bucket, key: string, bundle: Bundle): Promise<void> {
  if (!(await bucket.head(objectKey(key)))) await bucket.put(objectKey(key), JSON.stringify(bundle), { httpMetadata: { contentType: "application/json" } });
  remember(key, bundle);
}

export async function loadBundle(bucket: R2Bucket, key: string): Promise<Bundle | null> {
  const cached = memory.get(key);
  if (cached) return cached;
  const object = await bucket.get(objectKey(key));
  if (!object) return null;
  const bundle = await object.json<Bundle>();
  remember(key, bundle);
  return bundle;
}

function remember(key: string, bundle: Bundle): void {
  memory.delete(key);
  memory.set(key, bundle);
  if (memory.size > MAX_MEMORY_ENTRIES) memory.delete(memory.keys().next().value as string);
}

/** Forgets the in-memory copies, as a fresh loader instance would (tests use it). */
export function forgetLoadedBundles(): void {
  memory.clear();
}
