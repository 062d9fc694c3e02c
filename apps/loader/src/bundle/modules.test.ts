import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { describe, expect, it } from "vitest";
import { threeFileTs } from "../../../../bench/lib/programs.mjs";
import { namespacedRegistry } from "../../test/npm-registry/registry.ts";
import { bundleProgram, type Bundle } from "./bundle.ts";
import { moduleStats } from "./modules.ts";

const lines = (...text: string[]) => text.join("\n");
const bundle = (files: Record<string, string>, entry = Object.keys(files)[0] ?? "index.ts", meter = false) =>
  bundleProgram({ files, entry, meter });
const names = (b: Bundle) => Object.keys(b.modules ?? {}).sort();

describe("programs linked file by file (modules.ts)", () => {
  it("gives each reachable file a module of its own, with the entry re-exported as user.js", async () => {
    const b = await bundle({
      "index.ts": lines(`import { add } from "./lib/math.ts";`, `export default (): number => add(1, 2);`),
      "lib/math.ts": lines(`export function add(a: number, b: number): number {`, `  return a + b;`, `}`),
      "unused.ts": "this file is not imported, so it is never read (: number",
    });
    expect(names(b)).toEqual(["user/index.ts", "user/lib/math.ts"]);
    expect(b.code).toBe(`export * from "./user/index.ts"; export { default } from "./user/index.ts";\n`);
    expect(b.shape).toBe("module");
    // Types are stripped in place: the code stays on the user's lines.
    expect(b.modules?.["user/lib/math.ts"]?.code.split("\n")).toEqual([
      "export function add(a, b) {",
      "  return a + b;",
      "}",
    ]);
  });

  it("maps each module's positions to its own file, through the fuel checks", async () => {
    const b = await bundle(
      {
        "index.ts": lines(`import { spin } from "./spin.ts";`, `export default () => spin(3);`),
        "spin.ts": lines(
          `type N = number;`,
          `export function spin(n: N): N {`,
          `  for (let i = 0; i < n; i++) n--;`,
          `  return n;`,
          `}`,
        ),
      },
      "index.ts",
      true,
    );
    const spin = b.modules?.["user/spin.ts"];
    expect(spin?.code).toContain("__dwl_f_");
    const code = spin!.code.split("\n");
    const at = code[2]!.indexOf("n--");
    const position = originalPositionFor(new TraceMap(spin!.map), { line: 3, column: at });
    expect(position).toMatchObject({ source: "spin.ts", line: 3, column: "  for (let i = 0; i < n; i++) ".length });
  });

  it("re-transforms only the file that changed in a new program", async () => {
    await bundle(threeFileTs("first"));
    const before = moduleStats.transforms;
    const second = await bundle(threeFileTs("second"));
    expect(moduleStats.transforms - before).toBe(1);
    expect(names(second)).toEqual(["user/data.json", "user/index.ts", "user/lib/math.ts"]);
  });

  it("names a module for each way a file is imported: no extension, .js for .ts, a folder's index", async () => {
    const b = await bundle({
      "index.ts": lines(
        `import a from "./a";`,
        `import { b } from "./b.js";`,
        `import * as lib from "./lib";`,
        `export default () => [a, b, lib.c];`,
      ),
      "a.ts": "export default 1;",
      "b.ts": "export const b = 2;",
      "lib/index.ts": "export const c = 3;",
    });
    expect(names(b)).toEqual([
      "user/a",
      "user/a.ts",
      "user/b.js",
      "user/b.ts",
      "user/index.ts",
      "user/lib",
      "user/lib/index.ts",
    ]);
    expect(b.modules?.["user/a"]?.code).toBe(`export * from "./a.ts"; export { default } from "./a.ts";\n`);
    expect(b.modules?.["user/b.js"]?.code).toBe(`export * from "./b.ts";\n`);
    expect(b.modules?.["user/lib"]?.code).toBe(`export * from "./lib/index.ts";\n`);
  });

  it("serves JSON as a module with its value as default and every key by name", async () => {
    const b = await bundle({
      "index.ts": `import data, { offset } from "./data.json";\nexport default () => [data, offset];`,
      "data.json": `{ "offset": 7, "not an identifier": 1, "default": 2, "class": 3 }`,
    });
    const json = b.modules?.["user/data.json"]?.code ?? "";
    expect(json).toContain("export default value;");
    // Every key by its own name, as esbuild exports them: `import * as data` sees `data["a-b"]`.
    for (const key of ["offset", "not an identifier", "class"]) expect(json).toContain(`as ${JSON.stringify(key)} }`);
    expect(json).not.toContain(`as "default"`);
  });

  it("keeps enums of numbers and string literals, and parameter properties alone, on this path", async () => {
    const b = await bundle({
      "index.ts": lines(
        `enum Flags { None, Read = 1 << 0, Write = 1 << 1, All = Read | Write, Next }`,
        `enum Color { Red = "red", Green = "green" }`,
        `class User { constructor(public name: string, private age = 3) {} }`,
        `export default () => [Object.values(Flags), Object.values(Color), new User("n")];`,
      ),
    });
    expect(b.modules).toBeDefined();
  });

  it("keeps files whose comments and strings mention import(), require() or import.meta on this path", async () => {
    const b = await bundle({
      "index.js": lines(
        `import { note } from "./note.js";`,
        `// not an inline import() of an ESM path, nor require("x") or import.meta.url`,
        `export default () => note + " module.exports";`,
      ),
      "note.js": `export const note = "exports.x = require('y')";`,
    });
    expect(names(b)).toEqual(["user/index.js", "user/note.js"]);
  });

  describe("with npm packages", () => {
    const npm = { registry: namespacedRegistry("modules") };
    const withPackages = (files: Record<string, string>) =>
      bundleProgram({ files, entry: "index.ts", meter: true, dependencies: { hono: "^4", semver: "^7" } }, npm);

    // semver is CommonJS, so this package set is esbuild's (package-files.test.ts: ES module packages).
    it("serves each imported package from modules built once per package set, by the name the runtime looks up", async () => {
      const b = await withPackages({
        "index.ts": `import { Hono } from "hono";\nimport { twice } from "./lib/twice.ts";\nexport default () => twice(typeof Hono);`,
        "lib/twice.ts": `import { cors } from "hono/cors";\nimport semver from "semver";\nexport const twice = (s: string): string => s + typeof cors + typeof semver;`,
      });
      const modules = b.modules ?? {};
      // A bare specifier resolves against the importer's folder, like a relative one.
      expect(modules["user/hono"]?.code).toBe(`export * from "../npm/e0.js";\n`);
      expect(modules["user/lib/hono/cors"]?.code).toBe(`export * from "../../../npm/e1.js";\n`);
      expect(modules["user/lib/semver"]?.code).toMatch(/export \{ default \} from "..\/..\/npm\/e2.js";/);
      expect(modules["npm/e0.js"]?.code).toContain("__dwl_f_");
      const before = moduleStats.transforms;
      const again = await withPackages({
        "index.ts": `import { Hono } from "hono";\nimport { cors } from "hono/cors";\nimport semver from "semver";\nexport default () => [Hono, cors, semver]; // a new program`,
      });
      expect(moduleStats.transforms - before).toBe(1);
      expect(again.modules?.["npm/e0.js"]).toBeDefined();
    });
  });

  it.each([
    [
      "a named import of a CommonJS package",
      { "index.ts": `import { valid } from "semver";\nexport default () => valid;` },
    ],
    ["`export *` of a package", { "index.ts": `export * from "hono";\nexport default 1;` }],
    ["a script that imports a package", { "index.ts": `import { Hono } from "hono";\nconsole.log(Hono);` }],
    ["JSX", { "index.tsx": `export default () => <div />;` }],
    ["a decorator", { "index.ts": `function d(c: unknown) {}\n@d class A {}\nexport default () => new A();` }],
    ["require", { "index.ts": `const x = require("./x.js");\nexport default () => x;`, "x.js": "module.exports = 1;" }],
    ["a dynamic import", { "index.ts": `export default () => import("./x.ts");`, "x.ts": "export default 1;" }],
    [
      "a named import that the file does not export",
      { "index.ts": `import { nope } from "./x.ts";\nexport default () => nope;`, "x.ts": "export const yes = 1;" },
    ],
    [
      "a script that imports a file",
      { "index.ts": `import x from "./x.ts";\nconsole.log(x);`, "x.ts": "export default 1;" },
    ],
    [
      "cloudflare:sockets",
      { "index.ts": `import { connect } from "cloudflare:sockets";\nexport default () => connect;`, "x.ts": "" },
    ],
    [
      "an import attribute",
      { "index.ts": `import d from "./d.json" with { type: "json" };\nexport default () => d;`, "d.json": "{}" },
    ],
    // sucrase drops a namespace with values without a word: its uses would throw ReferenceError.
    ["a namespace", { "index.ts": `namespace N { export const x = 1; }\nexport default () => N.x;` }],
    ["`export =`", { "index.ts": `import "./v.ts";\nexport default () => 1;`, "v.ts": "const v = 1;\nexport = v;" }],
    // esbuild declares `name` as a field ahead of `tags`: the instance's keys come in that order.
    [
      "parameter properties beside fields",
      { "index.ts": `class U { tags = []; constructor(public name: string) {} }\nexport default () => new U("n");` },
    ],
    [
      "parameter properties in a derived class",
      {
        "index.ts": `class U extends Object { constructor(public name: string) { super(); } }\nexport default () => 1;`,
      },
    ],
    // esbuild finds these members to be strings, which get no reverse entry (`Object.values(E)`).
    ["an enum member set to a template", { "index.ts": "enum E { A = `a` }\nexport default () => E;" }],
    ["an enum member set to another", { "index.ts": `enum E { A = "a", B = A }\nexport default () => E;` }],
    [
      "a name two `export *` bring from different files",
      {
        "index.ts": `import { x } from "./barrel.ts";\nexport default () => x;`,
        "barrel.ts": `export * from "./p.ts";\nexport * from "./q.ts";`,
        "p.ts": "export const x = 1;",
        "q.ts": "export const x = 2;",
      },
    ],
    [
      "a file name with a space",
      { "index.ts": `import x from "./my file.ts";\nexport default () => x;`, "my file.ts": "export default 1;" },
    ],
  ])("leaves %s to esbuild", async (_what, files) => {
    const dependencies = { hono: "^4", semver: "^7" };
    const b = await bundleProgram(
      { files, entry: Object.keys(files)[0]!, meter: false, dependencies },
      { registry: namespacedRegistry("modules") },
    ).catch((err: unknown) => err);
    if (b instanceof Error) return expect(b.name).toBe("CompileError");
    expect((b as Bundle).modules).toBeUndefined();
  });
});
