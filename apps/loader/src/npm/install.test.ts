import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { namespacedRegistry, requestCounts } from "../../test/npm-registry/registry.ts";
import { CompileError } from "../compile-error.ts";
import { cacheWritesSettled } from "./cache-writes.ts";
import { installDependencies, type NpmEnvironment } from "./install.ts";
import { clearPackageMemory, PACKAGE_R2_PREFIX } from "./package-store.ts";
import { clearMetadataMemory } from "./registry.ts";

/** The error a promise rejects with (it must reject). */
const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e as Error,
  );
/**
 * Packages are cached by content whatever the registry URL, so a counting test starts without
 * them, and without an earlier test's write still landing.
 */
async function forgetPackages(): Promise<void> {
  await cacheWritesSettled();
  clearPackageMemory();
  for (const { key } of (await env.FILES.list({ prefix: `${PACKAGE_R2_PREFIX}/` })).objects)
    await env.FILES.delete(key);
}
const environment = (ns: string): NpmEnvironment => ({
  registry: namespacedRegistry(ns),
  kv: env.KV,
  bucket: env.FILES,
});
const refusal = (name: string, ns = "install-refusals") =>
  installDependencies({ [name]: "*" }, environment(ns)).then(
    () => {
      throw new Error(`${name} was installed`);
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(CompileError);
      return (e as CompileError).message;
    },
  );

describe("installDependencies", () => {
  it("installs each package with its files and parsed package.json", async () => {
    const installed = await installDependencies({ "@jridgewell/trace-mapping": "0.3.9" }, environment("install-basic"));
    const pkg = installed.packages.get("@jridgewell/trace-mapping@0.3.9");
    expect(pkg?.manifest).toMatchObject({ name: "@jridgewell/trace-mapping", main: "dist/trace-mapping.umd.js" });
    expect(Object.keys(pkg?.files ?? {})).toContain("dist/trace-mapping.mjs");
    expect(Object.keys(pkg?.files ?? {}).some((f) => f.endsWith(".d.ts") || f.endsWith(".map"))).toBe(false);
    expect(installed.root).toEqual({ "@jridgewell/trace-mapping": "@jridgewell/trace-mapping@0.3.9" });
  });

  it("answers from memory, then from KV and R2, before asking the registry again", async () => {
    await forgetPackages();
    const deps = { "dwl-cache-unit": "^1" };
    const names = ["dwl-cache-unit", "dwl-cache-unit-dep"];
    const first = await installDependencies(deps, environment("cache-levels"));
    expect(await requestCounts(names, "cache-levels")).toEqual({ packuments: 2, tarballs: 2 });

    await installDependencies(deps, environment("cache-levels"));
    expect(await requestCounts(names, "cache-levels")).toEqual({ packuments: 2, tarballs: 2 });

    // A fresh loader isolate: nothing in memory, metadata in KV, packages in R2 (written in the
    // background: they have landed once the writes settle).
    await cacheWritesSettled();
    clearMetadataMemory();
    clearPackageMemory();
    const fromStorage = await installDependencies(deps, environment("cache-levels"));
    expect(await requestCounts(names, "cache-levels")).toEqual({ packuments: 2, tarballs: 2 });
    expect(fromStorage.packages.get("dwl-cache-unit@1.0.0")?.files).toEqual(
      first.packages.get("dwl-cache-unit@1.0.0")?.files,
    );

    const stored = await env.FILES.list({ prefix: `${PACKAGE_R2_PREFIX}/dwl-cache-unit@1.0.0/` });
    expect(stored.objects).toHaveLength(1);
    expect(PACKAGE_R2_PREFIX.startsWith("__dwl/")).toBe(true);

    // Without KV and R2 the same fresh isolate has to go back to the registry.
    clearMetadataMemory();
    clearPackageMemory();
    await installDependencies(deps, { registry: namespacedRegistry("cache-levels") });
    expect(await requestCounts(names, "cache-levels")).toEqual({ packuments: 4, tarballs: 4 });
  });

  it("shares one download between concurrent installs of the same packages", async () => {
    await forgetPackages();
    const deps = { "dwl-cache-unit": "^1" };
    const [a, b] = await Promise.all([
      installDependencies(deps, environment("concurrent")),
      installDependencies(deps, environment("concurrent")),
    ]);
    expect(a.packages.get("dwl-cache-unit@1.0.0")?.files).toBe(b.packages.get("dwl-cache-unit@1.0.0")?.files);
    expect(await requestCounts(["dwl-cache-unit", "dwl-cache-unit-dep"], "concurrent")).toEqual({
      packuments: 2,
      tarballs: 2,
    });
  });

  it("retries a registry that fails for a moment", async () => {
    const installed = await installDependencies({ "dwl-flaky": "1" }, environment("flaky"));
    expect([...installed.packages.keys()]).toEqual(["dwl-flaky@1.0.0"]);
    expect(await requestCounts(["dwl-flaky"], "flaky")).toEqual({ packuments: 3, tarballs: 1 });
  });

  it("reports a registry that keeps failing, after a bounded number of tries", async () => {
    expect(await refusal("dwl-down")).toMatch(
      /npm registry .* is unreachable: fetching the metadata of "dwl-down" failed 3 times \(HTTP 503\)/,
    );
    expect(await requestCounts(["dwl-down"], "install-refusals")).toEqual({ packuments: 3, tarballs: 0 });
  });

  it("reports a registry nothing listens on", async () => {
    // workerd also logs the refused connections to stderr ("Network connection lost"): expected.
    const err = await failureOf(installDependencies({ hono: "^4" }, { registry: "http://127.0.0.1:9" }));
    expect(err).toBeInstanceOf(CompileError);
    expect(err.message).toMatch(/npm registry http:\/\/127\.0\.0\.1:9 is unreachable/);
  });

  describe("refuses hostile or oversized tarballs", () => {
    it("with a path that climbs out of the package", async () => {
      expect(await refusal("dwl-traversal")).toMatch(
        /refusing the tarball of dwl-traversal@1\.0\.0: its entry "package\/\.\.\/\.\.\/\.\.\/etc\/evil\.js" points outside/,
      );
    });

    it("that is a gzip bomb", async () => {
      expect(await refusal("dwl-gzip-bomb")).toMatch(/dwl-gzip-bomb@1\.0\.0: it unpacks to more than 20971520 bytes/);
    });

    it("with too many entries", async () => {
      expect(await refusal("dwl-many-files")).toMatch(/dwl-many-files@1\.0\.0: it has more than 20000 entries/);
    });

    it("larger than the download limit", async () => {
      expect(await refusal("dwl-huge-tarball")).toMatch(
        /the tarball of dwl-huge-tarball@1\.0\.0 is larger than 10485760 bytes/,
      );
    });

    it("declared larger than the unpacked limit, before downloading", async () => {
      expect(await refusal("dwl-declared-huge")).toMatch(/dwl-declared-huge@1\.0\.0 is 31457280 bytes unpacked/);
      expect((await requestCounts(["dwl-declared-huge"], "install-refusals")).tarballs).toBe(0);
    });

    it("whose bytes do not match the registry's integrity", async () => {
      expect(await refusal("dwl-bad-integrity")).toMatch(
        /refusing the tarball of dwl-bad-integrity@1\.0\.0: its sha512 digest does not match/,
      );
    });

    it("that is not gzip at all", async () => {
      expect(await refusal("dwl-not-gzip")).toMatch(/dwl-not-gzip@1\.0\.0: it is not a valid gzip file/);
    });
  });

  it("refuses dependencies that unpack to too much together", async () => {
    const err = await failureOf(
      installDependencies({ "dwl-heavy-a": "1", "dwl-heavy-b": "1", "dwl-heavy-c": "1" }, environment("heavy")),
    );
    expect(err.message).toMatch(
      /the dependencies unpack to \d+ bytes of JavaScript and JSON, over the 20971520-byte limit/,
    );
  });
});
