import remapping from "@jridgewell/remapping";
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { decode } from "@jridgewell/sourcemap-codec";
import MagicString from "magic-string";
import { describe, expect, it } from "vitest";
import { getEsbuild } from "./esbuild.ts";
import { type Insertion, parseModule, type RewriteOptions, rewriteBundle, shiftMap } from "./rewrite.ts";

const SOURCE = [
  'import { x } from "./x";',
  "export default async function main(input: { n: number }) {",
  '  "use strict";',
  "  for (let i = 0; i < input.n; i++) x(i);",
  "  while (input.n--) { const f = (a: number) => a * 2; f(1); }",
  '  return [1, 2].map((v) => v + "é\u2028").join(",");',
  "}",
].join("\n");

/** Every position of `code`: where each map sends it. */
function lookups(code: string, map: string): string[] {
  const traced = new TraceMap(map);
  const out: string[] = [];
  code.split("\n").forEach((text, line) => {
    for (let column = 0; column <= text.length; column++) {
      const p = originalPositionFor(traced, { line: line + 1, column });
      out.push(`${line + 1}:${column} → ${p.source}:${p.line}:${p.column}:${p.name}`);
    }
  });
  return out;
}

describe("shiftMap", () => {
  it("maps every position as composing a hires magic-string map with the original does", async () => {
    const esbuild = await getEsbuild();
    const { code, map } = await esbuild.transform(SOURCE, {
      loader: "ts",
      sourcemap: "external",
      sourcefile: "main.ts",
      format: "esm",
    });
    // Insertions everywhere: line starts, mid-line, several at one offset, at segment starts.
    const inserted: Insertion[] = [];
    const s = new MagicString(code);
    for (let at = 0; at < code.length; at += 7) {
      const text = `/*${"z".repeat(at % 5)}*/`;
      if (at % 2) s.appendLeft(at, text);
      else s.prependRight(at, text);
      inserted.push([at, text.length]);
      if (at % 3 === 0) {
        s.appendLeft(at, "()");
        inserted.push([at, 2]);
      }
    }
    const composed = remapping(
      [s.generateMap({ hires: true, source: "user.js", file: "user.js" }).toString(), map],
      () => null,
    ).toString();
    const shifted = shiftMap(code, map, inserted, "user.js");
    expect(lookups(s.toString(), shifted)).toEqual(lookups(s.toString(), composed));
    expect(JSON.parse(shifted)).toMatchObject({ file: "user.js", sources: JSON.parse(map).sources });
  });

  it("is what rewriteBundle uses for a metered module, with the lines and sources kept", async () => {
    const esbuild = await getEsbuild();
    const { code, map } = await esbuild.transform(SOURCE, {
      loader: "ts",
      sourcemap: "external",
      sourcefile: "main.ts",
      format: "esm",
    });
    const rewritten = rewriteBundle({ code, fileName: "user.js", source: { map } }, { wrapScript: false, meter: true });
    expect(rewritten.code.split("\n")).toHaveLength(code.split("\n").length);
    const traced = new TraceMap(rewritten.map);
    const line = rewritten.code.split("\n").findIndex((l) => l.includes("f(1)"));
    const column = rewritten.code.split("\n")[line]!.indexOf("f(1)");
    expect(originalPositionFor(traced, { line: line + 1, column })).toMatchObject({ source: "main.ts", line: 5 });
  });
});

describe("meter", () => {
  const metered = (code: string, replaceImport?: RewriteOptions["replaceImport"]) =>
    rewriteBundle(
      { code, fileName: "user.js", source: { name: "user.js" } },
      { wrapScript: false, meter: true, ...(replaceImport ? { replaceImport } : {}) },
    ).code;
  const CHECK =
    /\(--__dwl_f_[0-9a-f]{12}\.f < 0 && \(__dwl_f_[0-9a-f]{12}\.f = __dwl_r_[0-9a-f]{12}\(__dwl_f_[0-9a-f]{12}\)\)\)/g;
  // One unit (`--`) or several, when the check also pays for direct calls (direct-calls.ts).
  const EARLY = /\((?:--|\()\(__dwl_f_[0-9a-f]{12} \?\? __dwl_i_[0-9a-f]{12}\(\)\)\.f(?: -= \d+\))? < 0 && /g;

  it("counts down the field of a module-level object at every loop body and function body", () => {
    const code = metered(
      "function a() { for (;;) {} }\nconst b = () => 1;\nlet i = 0;\ndo i++; while (i < 3);\nfor (const k in {}) {}\nexport default function* g() { yield 1; }",
    );
    expect(code).toMatch(/^var (__dwl_f_[0-9a-f]{12}) = \{ f: 0 \}, __dwl_r_[0-9a-f]{12} = ""\.__dwlRefuel;/);
    expect(code.match(CHECK)).toHaveLength(6); // a, its loop, b, the do-while, the for-in, g
    expect(code).not.toMatch(EARLY);
    expect(code).not.toContain("__dwl_i_");
  });

  it("lets an exported function declaration called before its module ran create the counter, in a module that imports others", () => {
    const code = metered(
      [
        'import { x } from "./x.js";',
        "function a() { return () => 1; }",
        "export function b() { return e(); }",
        "export default function () {}",
        "function e() {}",
        "const c = function () {};",
        "class D { m() {} }",
        "export { a as alias, c };",
      ].join("\n"),
    );
    // A cyclic import reaches a (exported as alias), b and the default export before the first
    // line ran; e only through b, whose check pays for it (e has none), and the arrow in a, c and
    // D.m not at all.
    expect(code.match(EARLY)).toHaveLength(3);
    expect(code).toMatch(/export function b\(\) \{\(\(\(__dwl_f_\w+ \?\? __dwl_i_\w+\(\)\)\.f -= 2\) < 0 && /);
    expect(code).toContain("function e() {}");
    expect(code.match(CHECK)).toHaveLength(3);
    expect(code).toMatch(
      /function (__dwl_i_[0-9a-f]{12})\(\) \{ (__dwl_r_[0-9a-f]{12}) = ""\.__dwlRefuel; return __dwl_f_[0-9a-f]{12} = \{ f: 0 \}; \}/,
    );
    expect(code.split("\n")).toHaveLength(8);
  });

  it("needs no early guard when the module imports only packages and built-ins, which import no user module", () => {
    const guarded = (code: string) =>
      new RegExp(EARLY.source).test(metered(`${code}\nexport function a() { return x; }`));
    expect(guarded('import { x } from "hono";\nimport "node:buffer";\nexport * from "zod";')).toBe(false);
    expect(guarded('import { x } from "../x.js";')).toBe(true);
    expect(guarded('export * from "./x.js";\nconst x = 1;')).toBe(true);
    expect(guarded('export { y } from "/user/y.js";\nconst x = 1;')).toBe(true);
    // The packages' module of a bundle, whose imports become reads of its namespaces.
    const code = metered(
      'import { x } from "./dwl-vendor.js";\nexport function a() { return x; }',
      () => "const x = 1;",
    );
    expect(code).not.toMatch(EARLY);
    expect(code.match(CHECK)).toHaveLength(1);
  });
});

describe("meter: functions only called by name (direct-calls.ts)", () => {
  const metered = (code: string) =>
    rewriteBundle({ code, fileName: "user.js", source: { name: "user.js" } }, { wrapScript: false, meter: true }).code;
  /** The metered code with the counter's names and the checks written short: `C` counts one, `C2` two. */
  const short = (code: string) =>
    metered(code)
      .replace(/^var __dwl_f_\w+ = \{ f: 0 \}, __dwl_r_\w+ = ""\.__dwlRefuel;/, "")
      .replace(/\(--(__dwl_f_\w+)\.f < 0 && \(\1\.f = __dwl_r_\w+\(\1\)\)\)/g, "C")
      .replace(/\(\((__dwl_f_\w+)\.f -= (\d+)\) < 0 && \(\1\.f = __dwl_r_\w+\(\1\)\)\)/g, "C$2");
  const FIB = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }";

  it("checks before a path's calls, counting them, instead of at the entry; calls from elsewhere count one each", () => {
    expect(short(`${FIB}\nexport default (n) => fib(n);`)).toBe(
      "function fib(n) { return n < 2 ? n : (C2, fib(n - 1) + fib(n - 2)); }\nexport default (n) => (C2, fib(n));",
    );
    expect(short("function f(t) { if (!t) return 0; const l = f(t.l), r = f(t.r); return l + r; }\nf(null);\n")).toBe(
      "function f(t) { if (!t) return 0; const l = (C2, f(t.l)), r = f(t.r); return l + r; }\n;(C, f(null));\n",
    );
    // What runs after the check counts too, by the path with the most calls.
    expect(short("function g(x) { if (x) g(x - 1); else return 0; return g(x - 2) + g(x - 3); }")).toBe(
      "function g(x) { if ((C3, x)) g(x - 1); else return 0; return g(x - 2) + g(x - 3); }",
    );
    // A parameter's default and a class field run outside the body's checks: their calls pay.
    expect(short(`${FIB}\nfunction p(a = fib(1)) { return a; }\nclass K { v = fib(2); }`)).toBe(
      `function fib(n) { return n < 2 ? n : (C2, fib(n - 1) + fib(n - 2)); }\nfunction p(a = (C, fib(1))) {C; return a; }\nclass K { v = (C, fib(2)); }`,
    );
  });

  it("lets the entry check of any body without loops pay for its direct calls too", () => {
    const sq = "function sq(x) { return x * x; }";
    expect(
      short(`${sq}\n[1].map((x) => sq(x));\nconst h = function (a) { if (a) return 0; return sq(a) + sq(a); };`),
    ).toBe(
      `${sq}\n[1].map((x) => (C2, sq(x)));\nconst h = function (a) {C3; if (a) return 0; return sq(a) + sq(a); };`,
    );
    // Called only where no such body pays (a loop), a declaration keeps its entry check: a check
    // at each call site instead would cost the same at run time and repeat it in the code.
    expect(short(`${sq}\nexport default (n) => { for (;;) sq(n); };`)).toBe(
      "function sq(x) {C; return x * x; }\nexport default (n) => {C; for (;;) {C;sq(n);} };",
    );
  });

  it.each([
    ["read as a value", "const g = fib;"],
    ["passed to native code", "[1].map(fib);"],
    ["exported", "export { fib };"],
    ["constructed", "new fib(1);"],
    ["a method of it called", "fib.call(null, 1);"],
    ["reassigned", "fib = null;"],
    ["a name in a direct eval's reach", 'eval("1");'],
  ])("keeps the entry check of a function %s", (_, use) => {
    expect(short(`${FIB}\n${use}`)).toMatch(
      /^function fib\(n\) \{C; return n < 2 \? n : fib\(n - 1\) \+ fib\(n - 2\); \}/,
    );
  });

  it.each([
    ["a loop", "function f(n) { for (;;) f(n); }"],
    ["a try", "function f(n) { try { return f(n); } catch { return 0; } }"],
    ["a switch", "function f(n) { switch (n) { default: return f(n); } }"],
    ["async", "async function f(n) { return f(n); }"],
    ["a generator", "function* f(n) { yield f(n); }"],
    ["exported", "export function f(n) { return f(n); }"],
  ])("keeps the entry check of a function with %s", (_, code) => {
    expect(short(code)).toMatch(/\{C; /);
  });

  it("keeps a call that starts a statement from joining the line before", () => {
    const code = short(`${FIB}\nlet x = 1\nfib(2)\nif (x) fib(3)\nfor (;;) fib(4)\n`);
    expect(code).toContain("let x = 1\n;(C, fib(2))\nif (x) {(C, fib(3))}\nfor (;;) {C;{(C, fib(4))}}\n");
    const body = parseModule(metered(`${FIB}\nlet x = 1\nfib(2)\nif (x) fib(3)\n`)).body;
    expect(body.map((node) => node.type)).toEqual([
      "VariableDeclaration",
      "FunctionDeclaration",
      "VariableDeclaration", // `let x = 1` ends at the inserted `;`
      "ExpressionStatement",
      "IfStatement",
    ]);
  });

  it("lets a parameter of an exported function in a module that imports others create the counter", () => {
    const code = metered(`import "./x.js";\n${FIB}\nexport function e(a = fib(1)) { return a; }`);
    expect(code).toMatch(/function e\(a = \(\(--\(__dwl_f_\w+ \?\? __dwl_i_\w+\(\)\)\.f < 0 && /);
  });
});

describe("wordMap (a package file's map)", () => {
  const PACKAGE_FILE = [
    'import { x } from "./x.js";',
    "export function main(input) {",
    "  for (let i = 0; i < input.n; i++) x(i);",
    "  while (input.n--) { const f = (a) => a * 2; f(1); }",
    '  return [1, 2].map((v) => v + "é\u2028").join(",");',
    "}",
    "",
  ].join("\n");

  it("maps each word of the metered file where a per-character map of the same edits does", () => {
    const rewrite = (mapWordsOnly: boolean) =>
      rewriteBundle(
        { code: PACKAGE_FILE, fileName: "npm/p@1.0.0/a.js", source: { name: "node_modules/p/a.js" } },
        { wrapScript: false, meter: true, mapWordsOnly },
      );
    const words = rewrite(true);
    const chars = rewrite(false);
    // The fuel names are random, their lengths fixed: both outputs have the same layout.
    expect(words.code.length).toBe(chars.code.length);
    const wordStarts = new Set<string>();
    PACKAGE_FILE.split("\n").forEach((text, line) => {
      for (const m of text.matchAll(/[\w$]+/g)) wordStarts.add(`${line}:${m.index}`);
    });
    const traced = new TraceMap(words.map);
    let checked = 0;
    decode((JSON.parse(chars.map) as { mappings: string }).mappings).forEach((segments, line) => {
      for (const [column, , sourceLine, sourceColumn] of segments) {
        if (sourceLine === undefined || !wordStarts.has(`${sourceLine}:${sourceColumn}`)) continue;
        expect(originalPositionFor(traced, { line: line + 1, column })).toMatchObject({
          source: "node_modules/p/a.js",
          line: sourceLine + 1,
          column: sourceColumn,
        });
        checked++;
      }
    });
    expect(checked).toBe(wordStarts.size);
  });
});
