import { describe, expect, it } from "vitest";
import { namespacedRegistry, requestCounts } from "../../test/npm-registry/registry.ts";
import { CompileError } from "../compile-error.ts";
import { NpmRegistry, type Packument } from "./registry.ts";
import { pickVersion, resolveDependencies } from "./resolve.ts";

const registry = () => new NpmRegistry(namespacedRegistry("resolve"));
const resolve = (deps: Record<string, string>, max?: number) => resolveDependencies(deps, registry(), max);
const versionOf = (graph: Awaited<ReturnType<typeof resolve>>, name: string) => graph.root[name]?.split("@").at(-1);
const failure = (deps: Record<string, string>) =>
  resolve(deps).then(
    () => undefined,
    (e: unknown) => e as CompileError,
  );

const packument: Packument = {
  name: "p",
  distTags: { latest: "1.2.0", next: "3.0.0-beta.1" },
  versions: Object.fromEntries(
    ["1.0.0", "1.2.0", "2.0.0", "3.0.0-beta.1"].map((v) => [
      v,
      { dependencies: {}, peerDependencies: {}, optionalPeers: [], optionalDependencies: [], dist: { tarball: "" } },
    ]),
  ),
};

describe("pickVersion", () => {
  it("prefers `latest` when it satisfies the range, else the highest match", () => {
    expect(pickVersion(packument, "^1")).toBe("1.2.0");
    expect(pickVersion(packument, ">=1.1")).toBe("1.2.0");
    expect(pickVersion(packument, "^2")).toBe("2.0.0");
    expect(pickVersion(packument, "~1.0.0")).toBe("1.0.0");
    expect(pickVersion(packument, "*")).toBe("1.2.0");
    expect(pickVersion(packument, "")).toBe("1.2.0");
  });

  it("follows dist-tags and leaves prereleases to ranges that ask for them", () => {
    expect(pickVersion(packument, "next")).toBe("3.0.0-beta.1");
    expect(pickVersion(packument, "latest")).toBe("1.2.0");
    expect(pickVersion(packument, ">=2")).toBe("2.0.0");
    expect(pickVersion(packument, "3.0.0-beta.1")).toBe("3.0.0-beta.1");
    expect(pickVersion(packument, "^4")).toBeUndefined();
    expect(pickVersion(packument, "nightly")).toBeUndefined();
  });

  it("reuses a version already chosen for the name when it fits", () => {
    expect(pickVersion(packument, "^1", ["1.0.0"])).toBe("1.0.0");
    expect(pickVersion(packument, "^2", ["1.0.0"])).toBe("2.0.0");
  });
});

describe("resolveDependencies", () => {
  it("resolves scoped packages and their transitive dependencies", async () => {
    const graph = await resolve({ "@jridgewell/remapping": "^2.3.0" });
    expect([...graph.packages.keys()].sort()).toEqual([
      "@jridgewell/gen-mapping@0.3.13",
      "@jridgewell/remapping@2.3.5",
      "@jridgewell/resolve-uri@3.1.3",
      "@jridgewell/sourcemap-codec@1.6.0",
      "@jridgewell/trace-mapping@0.3.31",
    ]);
    expect(graph.packages.get("@jridgewell/remapping@2.3.5")?.dependencies).toEqual({
      "@jridgewell/gen-mapping": "@jridgewell/gen-mapping@0.3.13",
      "@jridgewell/trace-mapping": "@jridgewell/trace-mapping@0.3.31",
    });
  });

  it("keeps two versions of a package when ranges disagree", async () => {
    const graph = await resolve({ "dwl-versions": "^1", "dwl-nested": "1.0.0" });
    expect(versionOf(graph, "dwl-versions")).toBe("1.2.0");
    expect(graph.packages.get("dwl-nested@1.0.0")?.dependencies).toEqual({ "dwl-versions": "dwl-versions@2.0.0" });
  });

  it("links a peer dependency to the program's own choice, or installs it", async () => {
    const pinned = await resolve({ "dwl-versions": "1.0.0", "dwl-peer-user": "*" });
    expect(pinned.packages.get("dwl-peer-user@1.0.0")?.dependencies).toEqual({ "dwl-versions": "dwl-versions@1.0.0" });
    expect(pinned.packages.size).toBe(2);
    const alone = await resolve({ "dwl-peer-user": "*" });
    expect(alone.packages.get("dwl-peer-user@1.0.0")?.dependencies).toEqual({ "dwl-versions": "dwl-versions@1.2.0" });
  });

  it("skips an optional peer the program does not list", async () => {
    const graph = await resolve({ "dwl-optional-peer": "1" });
    expect([...graph.packages.keys()]).toEqual(["dwl-optional-peer@1.0.0"]);
  });

  it("names an unknown package, and the package that required it", async () => {
    const err = await failure({ "dwl-no-such-package": "1" });
    expect(err).toBeInstanceOf(CompileError);
    expect(err?.message).toMatch(/unknown npm package "dwl-no-such-package"/);
  });

  it("names a range no version matches, with the latest version", async () => {
    expect((await failure({ "dwl-versions": "^9.0.0" }))?.message).toBe(
      'no version of "dwl-versions" matches "^9.0.0" (latest is 1.2.0)',
    );
  });

  it("refuses git, URL and alias specifiers and invalid names before any request", async () => {
    expect((await failure({ hono: "github:honojs/hono" }))?.message).toMatch(/not a version range DWL can install/);
    expect((await failure({ hono: "npm:other@1" }))?.message).toMatch(/not a version range DWL can install/);
    expect((await failure({ "../etc": "1" }))?.message).toMatch(/not a valid npm package name/);
  });

  it("stops at the package limit", async () => {
    const err = await failure({ "dwl-fanout": "1" });
    expect(err?.message).toMatch(/the dependencies need more than 200 packages, the limit/);
    expect((await requestCounts(["dwl-leaf-0", "dwl-leaf-204"], "resolve")).packuments).toBe(0);
    await expect(resolve({ "@jridgewell/remapping": "^2" }, 3)).rejects.toThrow(/more than 3 packages/);
  });
});
