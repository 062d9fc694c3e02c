import { describe, expect, it } from "vitest";
import type { InstalledPackage, InstalledPackages, PackageManifest } from "./install.ts";
import { findPackageFile, ModuleResolver, splitBareSpecifier } from "./module-resolver.ts";
import type { PackageFiles } from "./tarball.ts";

function pkg(
  id: string,
  manifest: PackageManifest,
  files: PackageFiles,
  dependencies: Record<string, string> = {},
): InstalledPackage {
  const at = id.lastIndexOf("@");
  const name = id.slice(0, at);
  return {
    id,
    name,
    version: id.slice(at + 1),
    dist: { tarball: "" },
    dependencies,
    manifest: { name, ...manifest },
    files: { "package.json": "{}", ...files },
  };
}

function tree(root: Record<string, string>, ...packages: InstalledPackage[]): ModuleResolver {
  const installed: InstalledPackages = { root, packages: new Map(packages.map((p) => [p.id, p])) };
  return new ModuleResolver(installed);
}

const path = (r: ReturnType<ModuleResolver["subpath"]>) => ("error" in r ? r.error : `${r.pkg.id}/${r.path}`);

describe("splitBareSpecifier", () => {
  it("separates package names (scoped or not) from subpaths", () => {
    expect(splitBareSpecifier("hono")).toEqual({ name: "hono", subpath: "." });
    expect(splitBareSpecifier("hono/cors")).toEqual({ name: "hono", subpath: "./cors" });
    expect(splitBareSpecifier("@scope/pkg/a/b.js")).toEqual({ name: "@scope/pkg", subpath: "./a/b.js" });
    expect(splitBareSpecifier("@scope")).toBeUndefined();
    expect(splitBareSpecifier("string_decoder/")).toEqual({ name: "string_decoder", subpath: "." });
    expect(splitBareSpecifier("@scope/pkg/lib/")).toEqual({ name: "@scope/pkg", subpath: "./lib" });
    expect(splitBareSpecifier("/")).toBeUndefined();
  });
});

describe("ModuleResolver", () => {
  const exportsPkg = pkg(
    "cond@1.0.0",
    {
      exports: {
        ".": { types: "./index.d.ts", node: "./node.js", workerd: "./workerd.js", default: "./default.js" },
        "./feature": { import: "./feature.mjs", require: "./feature.cjs" },
        "./utils/*": "./dist/utils/*.js",
        "./missing": "./nowhere.js",
      },
      imports: { "#dep": "other", "#local": { browser: "./local-browser.js", default: "./local.js" } },
    },
    {
      "node.js": "",
      "workerd.js": "",
      "default.js": "",
      "feature.mjs": "",
      "feature.cjs": "",
      "dist/utils/a.js": "",
      "local-browser.js": "",
      "local.js": "",
    },
  );

  it("picks the workerd build over node and default in an exports map", () => {
    expect(path(tree({ cond: "cond@1.0.0" }, exportsPkg).subpath(exportsPkg, ".", "import"))).toBe(
      "cond@1.0.0/workerd.js",
    );
  });

  it("selects import or require conditions by how the module is loaded", () => {
    const r = tree({}, exportsPkg);
    expect(path(r.subpath(exportsPkg, "./feature", "import"))).toBe("cond@1.0.0/feature.mjs");
    expect(path(r.subpath(exportsPkg, "./feature", "require"))).toBe("cond@1.0.0/feature.cjs");
    expect(path(r.subpath(exportsPkg, "./utils/a", "import"))).toBe("cond@1.0.0/dist/utils/a.js");
  });

  it("names a subpath that the exports map does not export, or maps to a missing file", () => {
    const r = tree({}, exportsPkg);
    expect(path(r.subpath(exportsPkg, "./secret", "import"))).toMatch(/"cond\/secret" is not exported by cond@1\.0\.0/);
    expect(path(r.subpath(exportsPkg, "./missing", "import"))).toMatch(/maps to \.\/nowhere\.js .* no such file/);
  });

  it("resolves `imports` to a file or to a bare specifier", () => {
    const r = tree({}, exportsPkg);
    expect(r.hashImport(exportsPkg, "#local", "import")).toMatchObject({ path: "local-browser.js" });
    expect(r.hashImport(exportsPkg, "#dep", "import")).toEqual({ bare: "other" });
    expect(r.hashImport(exportsPkg, "#nope", "import")).toMatchObject({ error: expect.stringMatching(/not defined/) });
  });

  it("falls back to module, then main, then index.js without an exports map", () => {
    const both = pkg(
      "both@1.0.0",
      { module: "./esm/index.js", main: "cjs/index" },
      { "esm/index.js": "", "cjs/index.js": "" },
    );
    const mainOnly = pkg("main@1.0.0", { main: "lib" }, { "lib/index.js": "" });
    const bare = pkg("bare@1.0.0", {}, { "index.js": "" });
    const r = tree({}, both, mainOnly, bare);
    expect(path(r.subpath(both, ".", "import"))).toBe("both@1.0.0/esm/index.js");
    expect(path(r.subpath(both, ".", "require"))).toBe("both@1.0.0/cjs/index.js");
    expect(path(r.subpath(mainOnly, ".", "import"))).toBe("main@1.0.0/lib/index.js");
    expect(path(r.subpath(bare, ".", "import"))).toBe("bare@1.0.0/index.js");
    expect(path(r.subpath(bare, "./nope", "import"))).toMatch(/has no such file/);
  });

  it("finds a package by its importer's dependencies, itself, then the program's", () => {
    const dep2 = pkg("dep@2.0.0", {}, { "index.js": "" });
    const dep1 = pkg("dep@1.0.0", {}, { "index.js": "" });
    const user = pkg("user@1.0.0", {}, { "index.js": "" }, { dep: "dep@2.0.0" });
    const r = tree({ dep: "dep@1.0.0", user: "user@1.0.0" }, dep1, dep2, user);
    expect(r.packageFor("dep", null)?.id).toBe("dep@1.0.0");
    expect(r.packageFor("dep", user)?.id).toBe("dep@2.0.0");
    expect(r.packageFor("user", user)?.id).toBe("user@1.0.0");
    expect(r.packageFor("dep", dep2)?.id).toBe("dep@2.0.0");
    expect(r.packageFor("user", dep2)?.id).toBe("user@1.0.0");
    expect(r.packageFor("absent", user)).toBeUndefined();
  });

  it("resolves relative imports inside a package and never outside it", () => {
    const p = pkg("rel@1.0.0", {}, { "lib/a.js": "", "lib/b/index.js": "", "data.json": "" });
    const r = tree({}, p);
    expect(r.relative(p, "lib/a.js", "./b")).toMatchObject({ path: "lib/b/index.js" });
    expect(r.relative(p, "lib/a.js", "../data.json")).toMatchObject({ path: "data.json" });
    expect(r.relative(p, "lib/a.js", "../../outside")).toMatchObject({
      error: expect.stringMatching(/Cannot find module/),
    });
  });
});

describe("findPackageFile", () => {
  it("follows a nested package.json main and ignores prototype names", () => {
    const files = { "sub/package.json": JSON.stringify({ main: "./dist/x.js" }), "sub/dist/x.js": "" };
    expect(findPackageFile(files, "sub")).toBe("sub/dist/x.js");
    expect(findPackageFile(files, "constructor")).toBeUndefined();
  });
});
