/**
 * What a faster bundling path must keep (issue 21), through POST /execute: positions in the
 * user's own files, metering in the user's files and in packages, module semantics across files,
 * and packages served from their own pre-built module (bundle/vendor.ts).
 */
import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk } from "../helpers.ts";

const lines = (...text: string[]) => text.join("\n");

describe("multi-file TypeScript bundling", () => {
  it("points a runtime stack at the user's own non-entry file, line and column", async () => {
    const files = {
      "index.ts": lines(`import { parse } from "./lib/parse.ts";`, `export default (): number => parse("x");`),
      "lib/parse.ts": lines(
        `interface Parsed { n: number }`,
        `export function parse(text: string): number {`,
        `  const out: Parsed | undefined = undefined;`,
        `  return (out as unknown as Parsed).n + text.length;`,
        `}`,
      ),
    };
    const res = expectFailure(await execute({ files }));
    expect(res.error.type).toBe("runtime");
    expect(res.error.stack).toMatch(/at parse \(lib\/parse\.ts:4:\d+\)/);
    expect(res.error.stack).toMatch(/index\.ts:2:\d+/);
  });

  it("reports a compile error in a non-entry TypeScript file at its file, line and column", async () => {
    const files = {
      "index.ts": lines(`import { f } from "./lib/f.ts";`, `export default () => f();`),
      "lib/f.ts": lines(`// helper`, `export const f = (): number => {`, `  const a: number = ;`, `  return a;`, `};`),
    };
    const res = expectFailure(await execute({ files }));
    expect(res.error).toMatchObject({ type: "compile", location: { file: "lib/f.ts", line: 3, column: 21 } });
  });

  it("stops a loop in a user's non-entry file with cpu_limit", async () => {
    const files = {
      "index.ts": lines(`import { spin } from "./spin.ts";`, `export default () => spin(1);`),
      "spin.ts": lines(
        `export function spin(step: number): number {`,
        `  let n = 0;`,
        `  while (n >= 0) n = (n + step) % 1000;`,
        `  return n;`,
        `}`,
      ),
    };
    const res = expectFailure(await execute({ files, limits: { cpuMs: 20 } }));
    expect(res.error.type).toBe("cpu_limit");
  });

  it("imports JSON from the entry and from a nested file", async () => {
    const files = {
      "index.ts": lines(
        `import config from "./config.json";`,
        `import { total } from "./lib/sum.ts";`,
        `export default () => [config.name, total()];`,
      ),
      "lib/sum.ts": lines(
        `import data from "../data/values.json";`,
        `export const total = (): number => data.values.reduce((a: number, b: number) => a + b, 0);`,
      ),
      "config.json": JSON.stringify({ name: "cfg" }),
      "data/values.json": JSON.stringify({ values: [1, 2, 3] }),
    };
    expect(expectOk(await execute({ files })).result).toEqual(["cfg", 6]);
  });

  it("keeps JSON semantics: one shared object, named and namespace imports, __proto__ as a key, a require", async () => {
    const files = {
      "index.ts": lines(
        `import data, { list } from "./data.json";`,
        `import * as ns from "./data.json";`,
        `import { same } from "./other.ts";`,
        `const required = require("./data.json");`,
        `export default () => [same(data), list, ns.default === data, ns.list === list, Object.getPrototypeOf(data) === Object.prototype, Object.keys(data), required.list];`,
      ),
      "other.ts": lines(`import d from "./data.json";`, `export const same = (x: unknown): boolean => x === d;`),
      "data.json": '{\n  "list": [1, 2],\n  "__proto__": { "polluted": true },\n  "text": "a\u2028b"\n}',
    };
    expect(expectOk(await execute({ files })).result).toEqual([
      true,
      [1, 2],
      true,
      true,
      true,
      ["list", "__proto__", "text"],
      [1, 2],
    ]);
  });

  it("reports invalid JSON at its file and line", async () => {
    const files = {
      "index.ts": `import data from "./bad.json";\nexport default () => data;`,
      "bad.json": '{\n  "a": 1,\n  oops\n}',
    };
    const res = expectFailure(await execute({ files }));
    expect(res.error).toMatchObject({ type: "compile", location: { file: "bad.json", line: 3 } });
  });

  it("points a stack at the right line of a script that imports JSON", async () => {
    const files = {
      "index.ts": lines(
        `import data from "./d.json";`,
        `const n: number = data.n;`,
        `console.log(n);`,
        `(undefined as unknown as { x: number }).x;`,
      ),
      "d.json": '{"n": 5}',
    };
    const res = expectFailure(await execute({ files }));
    expect(res.logs.map((l) => l.message)).toEqual(["5"]);
    expect(res.error.stack).toMatch(/index\.ts:4:\d+/);
  });

  it("follows `export *` chains across files", async () => {
    const files = {
      "index.ts": lines(
        `import * as all from "./a.ts";`,
        `import { c, b } from "./a.ts";`,
        `export default () => [c, b, Object.keys(all).sort()];`,
      ),
      "a.ts": lines(`export * from "./b.ts";`, `export const a = "a";`),
      "b.ts": lines(`export * from "./c.ts";`, `export const b = "b";`),
      "c.ts": `export const c: string = "c";`,
    };
    expect(expectOk(await execute({ files })).result).toEqual(["c", "b", ["a", "b", "c"]]);
  });

  it("links circular imports between user files", async () => {
    const files = {
      "index.ts": lines(`import { isEven } from "./even.ts";`, `export default () => [isEven(10), isEven(7)];`),
      "even.ts": lines(
        `import { isOdd } from "./odd.ts";`,
        `export function isEven(n: number): boolean { return n === 0 ? true : isOdd(n - 1); }`,
      ),
      "odd.ts": lines(
        `import { isEven } from "./even.ts";`,
        `export function isOdd(n: number): boolean { return n === 0 ? false : isEven(n - 1); }`,
      ),
    };
    expect(expectOk(await execute({ files })).result).toEqual([true, false]);
  });
});

describe("Node built-ins", () => {
  const uses = (from: string) => `import { toASCII } from "${from}";\nexport default () => toASCII("a");`;

  it.each([
    ["a one-file JavaScript program", (from: string) => ({ code: uses(from) })],
    [
      "a multi-file TypeScript program",
      (from: string) => ({
        files: { "index.ts": 'export { default } from "./lib.ts";', "lib.ts": uses(from) },
      }),
    ],
  ])("serves them by their bare and node: names in %s, unless a package of the name is listed", async (_, program) => {
    for (const from of ["punycode", "node:punycode"]) expect(expectOk(await execute(program(from))).result).toBe("a");
    const listed = { ...program("punycode"), dependencies: { punycode: "2" } };
    expect(expectOk(await execute(listed)).result).toBe("npm:a");
    const prefixed = { ...program("node:punycode"), dependencies: { punycode: "2" } };
    expect(expectOk(await execute(prefixed)).result).toBe("a");
  });

  it("reports a built-in the runtime lacks as a compile error, in a one-file program too", async () => {
    const res = await execute({ code: 'import { isSea } from "node:sea";\nexport default () => isSea();' });
    expect(res.ok ? undefined : res.error).toMatchObject({
      type: "compile",
      message: expect.stringContaining('"node:sea", a Node built-in that the runtime lacks'),
      location: { file: "index.ts", line: 1 },
    });
  });
});

describe("packages from their own pre-built module", () => {
  it("gives every user file the same package instance, with default, named and namespace imports", async () => {
    const files = {
      "index.ts": lines(
        `import { Hono } from "hono";`,
        `import * as honoNs from "hono";`,
        `import { makeApp } from "./app.ts";`,
        `import v from "dwl-versions";`,
        `export default () => [makeApp() instanceof Hono, honoNs.Hono === Hono, v];`,
      ),
      "app.ts": lines(`import { Hono } from "hono";`, `export const makeApp = () => new Hono();`),
    };
    const res = expectOk(await execute({ files, dependencies: { hono: "^4", "dwl-versions": "^2" } }));
    expect(res.result).toEqual([true, true, "2.0.0"]);
  });

  it("imports a CommonJS package's default and named exports as one bundle would", async () => {
    const files = {
      "index.ts": lines(
        `import semver from "semver";`,
        `import { valid } from "semver";`,
        `import type { Hono } from "hono";`,
        `export default () => [semver.valid("1.2.3"), valid("x"), typeof semver.satisfies];`,
      ),
    };
    expect(expectOk(await execute({ files, dependencies: { semver: "^7", hono: "^4" } })).result).toEqual([
      "1.2.3",
      null,
      "function",
    ]);
  });

  it("meters a package's loop reached from a user's non-entry file", async () => {
    const files = {
      "index.ts": lines(`import { run } from "./run.ts";`, `export default () => run();`),
      "run.ts": lines(
        `import { spin } from "dwl-spin";`,
        `import { Hono } from "hono";`,
        `export const run = () => (new Hono(), spin());`,
      ),
    };
    const res = expectFailure(
      await execute({ files, dependencies: { "dwl-spin": "1", hono: "^4" }, limits: { cpuMs: 20 } }),
    );
    expect(res.error.type).toBe("cpu_limit");
  });

  it("maps a stack through a package and a user's non-entry TypeScript file", async () => {
    const files = {
      "index.ts": lines(`import { go } from "./lib/go.ts";`, `export default (): void => go();`),
      "lib/go.ts": lines(
        `import { explode } from "dwl-throws";`,
        `type Reason = string;`,
        `export function go(): void {`,
        `  const why: Reason = "no";`,
        `  explode(why);`,
        `}`,
      ),
    };
    // A generous budget: on a loaded machine the first run of a package's module can pass the
    // default 50 ms by the clock, and a cpu_limit has no stack to map.
    const res = expectFailure(await execute({ files, dependencies: { "dwl-throws": "1" }, limits: { cpuMs: 2_000 } }));
    expect(res.error, JSON.stringify(res.error)).toMatchObject({ type: "runtime" });
    expect(res.error.stack).toMatch(/at explode \(node_modules\/dwl-throws\/index\.js:2:\d+\)/);
    expect(res.error.stack).toMatch(/at go \(lib\/go\.ts:5:3\)/);
    expect(res.error.stack).toMatch(/index\.ts:2:\d+/);
  });

  it("runs a script that imports a package, and a program that re-exports or requires one", async () => {
    const script = expectOk(
      await execute({
        code: `import v from "dwl-versions";\nconsole.log("v" + v);`,
        dependencies: { "dwl-versions": "^2" },
      }),
    );
    expect(script.logs.map((l) => l.message)).toEqual(["v2.0.0"]);
    const reexport = {
      "index.ts": lines(`import { v } from "./re.ts";`, `export default () => v;`),
      "re.ts": `export { default as v } from "dwl-versions";`,
    };
    expect(expectOk(await execute({ files: reexport, dependencies: { "dwl-versions": "^2" } })).result).toBe("2.0.0");
    const required = {
      "index.ts": lines(`import { valid } from "./check.ts";`, `export default () => valid("1.2.3");`),
      "check.ts": `export const valid = (v: string): string | null => require("semver").valid(v);`,
    };
    expect(expectOk(await execute({ files: required, dependencies: { semver: "^7" } })).result).toBe("1.2.3");
  });
});
