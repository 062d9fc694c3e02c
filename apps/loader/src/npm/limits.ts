/**
 * @module npm/limits
 * Every limit and timing of npm dependency installation (resolution, download, unpacking,
 * caching). Kept apart from ../limits.ts, which holds the per-run limits of programs.
 */

/** Used when the Worker var DWL_NPM_REGISTRY is unset. */
export const DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org";

/** Packages in one program's dependency graph, transitive ones included. */
export const MAX_PACKAGES = 200;
/** Bytes of one downloaded (gzipped) tarball. */
export const MAX_TARBALL_BYTES = 10 * 1024 * 1024;
/**
 * Bytes of one tarball once gunzipped (the gzip-bomb guard), and of the files kept from all
 * packages of a program together.
 */
export const MAX_UNPACKED_BYTES = 20 * 1024 * 1024;
/** Entries (files, directories, headers) in one tarball. */
export const MAX_TAR_ENTRIES = 20_000;
/** Bytes of one package's metadata document (abbreviated packument) from the registry. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;
/** Bytes of a bundled program (with its dependencies), before metering. */
export const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

/** Tries per registry request; only network failures, 429 and 5xx are retried. */
export const REGISTRY_ATTEMPTS = 3;
/** Wait before the second try, doubled before each further one. */
export const REGISTRY_RETRY_DELAY_MS = 200;
/** Per try, until the response body has arrived. */
export const REGISTRY_TIMEOUT_MS = 10_000;
/** Registry requests in flight at once while resolving and downloading. */
export const REGISTRY_CONCURRENCY = 8;
/**
 * Tarballs downloaded and unpacked at once per loader isolate, whatever the number of requests:
 * each may hold up to MAX_TARBALL_BYTES plus its kept files, and a Worker isolate has 128 MB.
 */
export const TARBALL_CONCURRENCY = 2;

/**
 * How long package metadata is trusted, in KV and then in memory: a newly published version is
 * seen within this long (twice this at worst, when memory took it from KV near expiry). Only new
 * bundles see it: a cached bundle keeps its versions. Tarballs never expire: a published
 * name@version is immutable.
 */
export const METADATA_TTL_MS = 5 * 60_000;
/** Bytes of metadata kept in the loader isolate's memory (estimated as JSON length). */
export const METADATA_MEMORY_CACHE_BYTES = 8 * 1024 * 1024;
/** Bytes of unpacked package files kept in the loader isolate's memory. */
export const PACKAGE_MEMORY_CACHE_BYTES = 32 * 1024 * 1024;
/**
 * Source bytes (JavaScript, TypeScript, JSON; latest contents per path) that the loader's
 * long-lived esbuild context may hold parsed for reuse by later builds (bundle/incremental.ts);
 * esbuild's ASTs take about 20 times that in wasm memory. Past it, the context is dropped.
 */
export const ESBUILD_CONTEXT_SOURCE_BYTES = 1024 * 1024;
