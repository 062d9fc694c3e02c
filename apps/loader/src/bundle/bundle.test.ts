import { describe, expect, it } from "vitest";
import { namespacedRegistry, requestCounts } from "../../test/npm-registry/registry.ts";
import { bundleProgram } from "./bundle.ts";
import { CompileError } from "../compile-error.ts";

const bundle = (files: Record<string, string>, entry = Object.keys(files)[0] ?? "index.js", meter = false) =>
  bundleProgram({ files, entry, meter });

describe("bundleProgram", () => {
  describe("direct path (one plain-JS module, no esbuild)", () => {
    it("ships the module as written", async () => {
      const source = "export default (a) => a + 1;";
      expect(await bundle({ "index.ts": source })).toMatchObject({ code: source, shape: "module" });
    });

    it("turns a lone function expression or declaration into the default export", async () => {
      expect(await bundle({ "index.ts": "async (input) => input" })).toMatchObject({
        code: "export default async (input) => input",
        shape: "module",
      });
      expect(await bundle({ "index.ts": "function main() { return 1 }" })).toMatchObject({
        code: "export default function main() { return 1 }",
        shape: "module",
      });
    });

    it("keeps an immediately-invoked function a script", async () => {
      expect((await bundle({ "index.ts": "(async () => { console.log(1) })()" })).shape).toBe("script");
    });

    it("wraps a script, hoisting runtime imports out of the wrapper on line 1", async () => {
      const { code, shape } = await bundle({
        "index.js": "import { Buffer } from 'node:buffer';\nconsole.log(Buffer.from('a'));",
      });
      expect(shape).toBe("script");
      expect(code.split("\n")[0]).toMatch(
        /^import \{ Buffer \} from 'node:buffer';export default async function __dwlScript\(\) \{$/,
      );
      expect(code.split("\n")[1]).toBe("console.log(Buffer.from('a'));");
    });

    it("leaves TypeScript and relative imports to the per-file path, and JSX to esbuild", async () => {
      const ts = await bundle({ "index.ts": "export default (a: number) => a" });
      expect(Object.keys(ts.modules ?? {})).toEqual(["user/index.ts"]);
      const multi = await bundle({
        "index.js": "import x from './x.js'; export default () => x",
        "x.js": "export default 1",
      });
      expect(Object.keys(multi.modules ?? {})).toEqual(["user/index.js", "user/x.js"]);
      const jsx = await bundle({ "index.jsx": "const h = (t) => t;\n/** @jsx h */\nexport default () => <b />" });
      expect(jsx.modules).toBeUndefined();
      expect(jsx.code).toContain("// dwl:index.jsx");
    });
  });

  it("inserts fuel checks in loops and functions without moving lines", async () => {
    const source =
      "export default function f(n) {\n  'use strict';\n  for (;;) n++;\n  while (n) { n-- }\n  return () => n;\n}";
    const { code } = await bundle({ "index.js": source }, "index.js", true);
    const lines = code.split("\n");
    expect(lines).toHaveLength(source.split("\n").length);
    expect(lines[0]).toMatch(
      /^var __dwl_f_[0-9a-f]{12} = \{ f: 0 \}, __dwl_r_[0-9a-f]{12} = ""\.__dwlRefuel;export default function f\(n\) \{$/,
    );
    expect(lines[1]).toMatch(/^ {2}'use strict';\(--__dwl_f_\w+\.f < 0/); // after the directive prologue
    expect(lines[2]).toMatch(/for \(;;\) \{\(--__dwl_f_\w+\.f < 0 && .*\);n\+\+;\}/);
    expect(lines[3]).toMatch(/while \(n\) \{\(--__dwl_f_/);
    expect(lines[4]).toMatch(/return \(\) => \(\(--__dwl_f_\w+\.f < 0 && .*\), n\);/);
  });

  it("leaves code unmetered when metering is off (DWL_CPU_ENFORCEMENT=platform)", async () => {
    const { code } = await bundle({ "index.js": "export default () => { for (;;) {} }" }, "index.js", false);
    expect(code).not.toContain("__dwl");
  });

  it("reports a syntax error with file, line and 1-based column", async () => {
    const err = await bundle({ "index.ts": "const a: number = ;" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).location).toMatchObject({ file: "index.ts", line: 1, column: 19 });
  });

  describe("npm dependencies", () => {
    const npm = { registry: namespacedRegistry("bundle") };
    const withDeps = (code: string, dependencies: Record<string, string>) =>
      bundleProgram({ files: { "index.ts": code }, entry: "index.ts", meter: false, dependencies }, npm, {
        perFile: false,
      });

    it("bundles the installed files of a bare import and names them node_modules/<name>/… in the map", async () => {
      const { code, map } = await withDeps("import v from 'dwl-versions';\nexport default () => v;", {
        "dwl-versions": "^2",
      });
      expect(code).toContain('"2.0.0"');
      expect((JSON.parse(map) as { sources: string[] }).sources).toContain("node_modules/dwl-versions/index.js");
    });

    it("hands `require` of a Node built-in to the runtime as an import, not esbuild's throwing shim", async () => {
      const { code } = await withDeps("import ring from 'dwl-cjs-builtins';\nexport default ring;", {
        "dwl-cjs-builtins": "1",
      });
      expect(code).toMatch(/import \* as \w+ from "node:events"/);
      expect(code).not.toContain('__require("node:events")');
    });

    it("drops the unused modules of a package marked side-effect free", async () => {
      const { code } = await withDeps("import { Hono } from 'hono';\nexport default () => typeof Hono;", {
        hono: "^4",
      });
      expect(code).not.toContain("hono/dist/middleware/cors");
      expect(code.length).toBeLessThan(200_000);
    });

    it("does not install anything for a program that imports no package", async () => {
      await bundleProgram(
        {
          files: { "index.js": "export default () => 1" },
          entry: "index.js",
          meter: false,
          dependencies: { "dwl-cache-never": "1" },
        },
        npm,
      );
      expect(await requestCounts(["dwl-cache-never"], "bundle")).toEqual({ packuments: 0, tarballs: 0 });
    });
  });
});
