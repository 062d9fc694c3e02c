import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { describe, expect, it } from "vitest";
import { namespacedRegistry } from "../../test/npm-registry/registry.ts";
import { bundleProgram, type Bundle } from "./bundle.ts";
import { MAX_LINKED_PACKAGE_FILES } from "../limits.ts";
import { moduleStats } from "./modules.ts";

const npm = { registry: namespacedRegistry("package-files") };
const build = (code: string, dependencies: Record<string, string>, meter = true) =>
  bundleProgram({ files: { "index.ts": code }, entry: "index.ts", meter, dependencies }, npm);
const names = (b: Bundle) => Object.keys(b.modules ?? {});
const packageFiles = (b: Bundle) => names(b).filter((name) => /^npm\/.+@[^/]+\//.test(name));

describe("npm packages linked file by file (package-files.ts)", () => {
  it("gives each file an ES module package's entry reaches a module of its own, metered, with no esbuild chunk", async () => {
    const b = await build(
      `import { Hono } from "hono";\nimport { cors } from "hono/cors";\nexport default () => typeof Hono + typeof cors;`,
      { hono: "^4" },
    );
    const modules = b.modules ?? {};
    expect(names(b).some((name) => /^npm\/(e\d+|chunk-)/.test(name))).toBe(false);
    const entry = /^npm\/hono@[\d.]+\/dist\/index\.js$/;
    expect(packageFiles(b).filter((name) => entry.test(name))).toHaveLength(1);
    // A bare specifier resolves against the importer's folder, like a relative one.
    expect(modules["user/hono"]?.code).toMatch(/^export \* from "\.\.\/npm\/hono@[\d.]+\/dist\/index\.js";\n$/);
    expect(modules["user/hono/cors"]?.code).toMatch(
      /"\.\.\/\.\.\/npm\/hono@[\d.]+\/dist\/middleware\/cors\/index\.js"/,
    );
    // Only what the entries import: Hono's other middleware and its CommonJS build are not read.
    expect(packageFiles(b).some((name) => name.includes("/dist/cjs/") || name.includes("/middleware/jwt/"))).toBe(
      false,
    );
    const base = Object.entries(modules).find(([name]) => name.endsWith("/dist/hono-base.js"))?.[1];
    expect(base?.code).toContain("__dwl_f_");
    // Positions map to the package's file, named as esbuild's path names it.
    const code = base!.code.split("\n");
    const line = code.findIndex((text) => text.includes("class Hono"));
    const position = originalPositionFor(new TraceMap(base!.map), { line: line + 1, column: 0 });
    expect(position).toMatchObject({ source: "node_modules/hono/dist/hono-base.js", line: line + 1 });
  });

  it("transforms the packages once per package set: a new program transforms its own file alone", async () => {
    await build(`import { Hono } from "hono";\nexport default () => typeof Hono; // first`, { hono: "^4" });
    const before = moduleStats.transforms;
    const again = await build(`import { Hono } from "hono";\nexport default () => typeof Hono; // second`, {
      hono: "^4",
    });
    expect(moduleStats.transforms - before).toBe(1);
    expect(packageFiles(again).length).toBeGreaterThan(20);
  });

  it("links two versions of one package and a peer by their ids, through alias modules", async () => {
    const b = await build(
      `import v from "dwl-versions";\nimport nested from "dwl-nested";\nimport peer from "dwl-peer-user";\nexport default () => [v, nested, peer];`,
      { "dwl-versions": "1.0.0", "dwl-nested": "^1", "dwl-peer-user": "*" },
    );
    const modules = b.modules ?? {};
    expect(modules["npm/dwl-nested@1.0.0/dwl-versions"]?.code).toBe(
      `export * from "../dwl-versions@2.0.0/index.js"; export { default } from "../dwl-versions@2.0.0/index.js";\n`,
    );
    expect(modules["npm/dwl-peer-user@1.0.0/dwl-versions"]?.code).toContain(`"../dwl-versions@1.0.0/index.js"`);
    expect(modules["npm/dwl-versions@2.0.0/index.js"]?.code).toContain(`"2.0.0"`);
  });

  it("follows exports conditions, subpaths, JSON and long paths on this path", async () => {
    const b = await build(
      `import { kind } from "@dwl/conditions/feature";\nimport long from "@dwl/conditions/long";\nimport data from "@dwl/conditions/data.json";\nexport default () => [kind, long, data];`,
      { "@dwl/conditions": "1" },
    );
    expect(
      packageFiles(b)
        .map((name) => name.replace(/\/d{120}\/e{120}\//, "/…/"))
        .sort(),
    ).toEqual([
      "npm/@dwl/conditions@1.0.0/data.json",
      "npm/@dwl/conditions@1.0.0/deep/…/long.js",
      "npm/@dwl/conditions@1.0.0/feature.mjs",
    ]);
  });

  it("leaves a package's `#name` imports to esbuild: the runtime would read them as a URL's fragment", async () => {
    const b = await build(`import build from "@dwl/conditions";\nexport default () => build;`, {
      "@dwl/conditions": "1",
    });
    expect(packageFiles(b)).toEqual([]);
    expect(names(b)).toContain("npm/e0.js");
  });

  it("leaves CommonJS packages to esbuild", async () => {
    const b = await build(`import semver from "semver";\nexport default () => semver.valid("1.0.0");`, {
      semver: "^7",
    });
    expect(names(b)).toContain("npm/e0.js");
    expect(packageFiles(b)).toEqual([]);
  });

  it(`links up to ${MAX_LINKED_PACKAGE_FILES} package files and leaves more to esbuild`, async () => {
    const at = await build(`import n from "dwl-linked-files";\nexport default () => n;`, {
      "dwl-linked-files": "1.0.0",
    });
    expect(packageFiles(at)).toHaveLength(MAX_LINKED_PACKAGE_FILES);
    const over = await build(`import n from "dwl-linked-files";\nexport default () => n;`, {
      "dwl-linked-files": "2.0.0",
    });
    expect(packageFiles(over)).toEqual([]);
    expect(names(over)).toContain("npm/e0.js");
  });
});
