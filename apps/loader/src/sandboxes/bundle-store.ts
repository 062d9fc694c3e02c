/**
 * @module sandboxes/bundle-store
 * Sandbox bundles in R2, content-addressed by the program's key within each tenant (so a
 * tenant's identical programs share one object and a stored bundle never changes), with an
 * in-memory copy per loader isolate. Any loader instance can recreate a sandbox's isolate from
 * here. Per tenant, so the tenant's registry can delete a bundle it no longer uses without asking
 * any other tenant (registry.ts `collect`).
 */
import type { Bundle } from "../bundle/bundle.ts";
import { MAX_SANDBOX_BUNDLES_IN_MEMORY } from "../limits.ts";

const memory = new Map<string, Bundle>();

export const BUNDLE_PREFIX = "__dwl/bundles/";

/** The R2 key of one tenant's bundle. */
export const bundleObjectKey = (tenant: string, key: string) =>
  `${BUNDLE_PREFIX}t/${encodeURIComponent(tenant)}/${key}.json`;
/**
 * Where bundles were stored before they were per tenant; shared by all tenants, so never deleted.
 * Sandboxes written before then still load from here until their next update.
 */
const legacyObjectKey = (key: string) => `${BUNDLE_PREFIX}${key}.json`;

/** The stored form of a bundle; its byteLength is what counts against the tenant's quota. */
export function encodeBundle(bundle: Bundle): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(bundle));
}

export async function saveBundle(
  bucket: R2Bucket,
  tenant: string,
  key: string,
  bundle: Bundle,
  body: Uint8Array,
): Promise<void> {
  const objectKey = bundleObjectKey(tenant, key);
  if (!(await bucket.head(objectKey)))
    await bucket.put(objectKey, body, { httpMetadata: { contentType: "application/json" } });
  remember(key, bundle);
}

export async function loadBundle(bucket: R2Bucket, tenant: string, key: string): Promise<Bundle | null> {
  const cached = memory.get(key);
  if (cached) return cached;
  const object = (await bucket.get(bundleObjectKey(tenant, key))) ?? (await bucket.get(legacyObjectKey(key)));
  if (!object) return null;
  const bundle = await object.json<Bundle>();
  remember(key, bundle);
  return bundle;
}

function remember(key: string, bundle: Bundle): void {
  memory.delete(key);
  memory.set(key, bundle);
  if (memory.size > MAX_SANDBOX_BUNDLES_IN_MEMORY) memory.delete(memory.keys().next().value as string);
}

/** Forgets the in-memory copies, as a fresh loader instance would (tests use it). */
export function forgetLoadedBundles(): void {
  memory.clear();
}
