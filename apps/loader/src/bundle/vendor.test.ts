import { decode, encode, type SourceMapSegment } from "@jridgewell/sourcemap-codec";
import { describe, expect, it } from "vitest";
import { namespacedRegistry } from "../../test/npm-registry/registry.ts";
import { bundleProgram } from "./bundle.ts";
import { joinVendor, wrapVendor } from "./vendor.ts";

const npm = { registry: namespacedRegistry("vendor") };
const program = (code: string, dependencies: Record<string, string>, meter = true) =>
  bundleProgram({ files: { "index.ts": code }, entry: "index.ts", meter, dependencies }, npm, { perFile: false });
const vendorName = (code: string) => /var (__dwl_vendor_[0-9a-f]{12}) = \(\(\) => \{/.exec(code)?.[1];

describe("packages' pre-built module", () => {
  it("builds a package set once and reuses it for a new program", async () => {
    const a = await program(`import { Hono } from "hono";\nexport default () => typeof Hono; // a`, { hono: "^4" });
    const b = await program(
      `import { Hono } from "hono";\nconst n: number = 2;\nexport default () => typeof Hono + n; // b`,
      { hono: "^4" },
    );
    expect(vendorName(a.code)).toBeDefined();
    expect(vendorName(b.code)).toBe(vendorName(a.code));
    // Another specifier set or other versions: another module.
    const c = await program(`import { cors } from "hono/cors";\nexport default () => typeof cors;`, { hono: "^4" });
    const d = await program(`import v from "dwl-versions";\nexport default () => v;`, { "dwl-versions": "^1" });
    const e = await program(`import v from "dwl-versions";\nexport default () => v;`, { "dwl-versions": "^2" });
    expect(new Set([vendorName(a.code), vendorName(c.code), vendorName(d.code), vendorName(e.code)]).size).toBe(4);
    expect(e.code).toContain('"2.0.0"');
    expect(e.code).not.toContain('"1.2.0"');
  });

  it("keeps the packages' fuel counter inside their function, apart from the program's", async () => {
    const { code } = await program(`import { spin } from "dwl-spin";\nexport default () => { for (;;) spin(); };`, {
      "dwl-spin": "1",
    });
    const inner =
      /var __dwl_vendor_[0-9a-f]{12} = \(\(\) => \{var (__dwl_f_[0-9a-f]{12}) = \{ f: 0 \}, (__dwl_r_[0-9a-f]{12}) = ""\.__dwlRefuel;/.exec(
        code,
      );
    expect(inner).not.toBeNull();
    const vendorFuel = inner![1]!;
    // The package's loop checks the function's counter; the program declares and checks its own.
    expect(code).toMatch(new RegExp(`for \\(; ; \\) \\{\\(--${vendorFuel}\\.f < 0`));
    const own = /var (__dwl_f_[0-9a-f]{12}) = \{ f: 0 \}, __dwl_r_[0-9a-f]{12} = ""\.__dwlRefuel;/.exec(
      code.slice(code.indexOf("})();")),
    );
    expect(own).not.toBeNull();
    expect(own![1]).not.toBe(vendorFuel);
  });

  it("leaves packages unmetered when metering is off", async () => {
    const { code } = await program(
      `import { spin } from "dwl-spin";\nexport default () => spin;`,
      { "dwl-spin": "1" },
      false,
    );
    expect(vendorName(code)).toBeDefined();
    expect(code).not.toContain("__dwl_f_");
  });

  it("joins a program's map after the packages' as encoding the two together would", () => {
    // An esbuild-like packages' output: two sources, names, and a last segment with no name.
    const code = [
      "function f(x) {",
      "  return x + 1;",
      "}",
      "var g = (y) => f(y) * 2;",
      "var ns = { f, g };",
      "export {",
      "  ns as e0",
      "};",
      "",
    ].join("\n");
    const packagesMap = {
      version: 3,
      sources: ["node_modules/a/one.js", "node_modules/a/two.js"],
      names: ["f", "x", "g"],
      mappings: encode([
        [
          [0, 0, 0, 0],
          [9, 0, 0, 9, 0],
          [11, 0, 0, 11, 1],
        ],
        [[2, 0, 1, 2]],
        [[0, 0, 2, 0]],
        [
          [0, 1, 5, 0],
          [4, 1, 5, 4, 2],
          [15, 0, 0, 0, 0],
          [20, 1, 5, 20],
        ],
        [[0, 1, 6, 0]],
      ]),
    };
    for (const metered of [true, false]) {
      const vendor = wrapVendor({ code, map: JSON.stringify(packagesMap) }, 1, metered)!;
      expect(vendor).toBeDefined();
      const programs: SourceMapSegment[][][] = [
        [[[0, 0, 0, 0]], [[0, 1, 3, 2, 0], [7]], [], [[4, 0, 9, 1]]],
        [[], [[2, 1, 0, 0]]],
        [[[5]]],
        [],
      ];
      for (const lines of programs) {
        const user = {
          code: "const a = 1;\nexport default a;\n",
          map: JSON.stringify({ version: 3, sources: ["index.ts", "lib/x.ts"], names: ["h"], mappings: encode(lines) }),
        };
        const joined = JSON.parse(joinVendor(vendor, user, "user.js").map) as { mappings: string; sources: string[] };
        // As the join reads it back (an empty mappings string is one empty line).
        const moved = decode(encode(lines)).map((line) =>
          line.map((seg): SourceMapSegment => {
            if (seg.length === 1) return seg;
            return seg.length === 5
              ? [seg[0], seg[1] + 2, seg[2], seg[3], seg[4] + 3]
              : [seg[0], seg[1] + 2, seg[2], seg[3]];
          }),
        );
        const packagesLines = decode(vendor.mappings);
        expect(packagesLines).toHaveLength(vendor.code.split("\n").length - 1);
        expect(joined.mappings).toBe(encode([...packagesLines, ...moved]));
        expect(joined.sources).toEqual([...packagesMap.sources, "index.ts", "lib/x.ts"]);
      }
    }
  });
});
