import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk } from "../helpers.ts";

describe("TypeScript and multi-file programs", () => {
  it("bundles enums, generics, satisfies and decorators", async () => {
    const code = `
enum Color { Red = "red", Green = "green" }
function first<T>(xs: T[]): T | undefined { return xs[0]; }
const config = { retries: 3 } satisfies Record<string, number>;
function logged(value: any, context: ClassMethodDecoratorContext) {
  return function (this: unknown, ...args: unknown[]) { return "decorated:" + value.apply(this, args); };
}
class Greeter { @logged greet(name: string) { return "hi " + name; } }
export default (): unknown => [Color.Green, first([7, 8]), config.retries, new Greeter().greet("ts")];
`;
    expect(expectOk(await execute({ code })).result).toEqual(["green", 7, 3, "decorated:hi ts"]);
  });

  it("resolves relative imports (with and without extensions, index files) and JSON", async () => {
    const res = expectOk(
      await execute({
        files: {
          "main.ts":
            "import { add } from './lib/math';\nimport { twice } from './lib/index.js';\nimport data from './data.json';\nexport default () => twice(add(data.a, data.b));",
          "lib/math.ts": "export const add = (a: number, b: number) => a + b;",
          "lib/index.ts": "export { twice } from './twice.ts';",
          "lib/twice.ts": "export const twice = (n: number) => n * 2;",
          "data.json": '{ "a": 2, "b": 3 }',
        },
        entry: "main.ts",
      }),
    );
    expect(res.result).toBe(10);
  });

  it("refuses an unused or type-only import of a file that does not exist, as tsc does, and keeps the ones that resolve", async () => {
    for (const [code, line] of [
      ["import x from './nope';\nexport default () => 1;", 1],
      ["const a = 1;\nimport { Shape } from './shapes';\nexport default (s: Shape) => a;", 2],
    ] as const) {
      const res = expectFailure(await execute({ files: { "index.ts": code, "other.ts": "export {}" } }));
      expect(res.error).toMatchObject({ type: "compile", location: { file: "index.ts", line } });
      expect(res.error.message).toContain("no such file in `files` (it has index.ts, other.ts)");
    }
    // Resolving, a declaration file, `import type`, and one in a comment or a string all run.
    const fine = expectOk(
      await execute({
        files: {
          "index.ts": [
            "import { Shape } from './shapes';",
            "import { Decl } from './decl';",
            "import type { Gone } from './gone';",
            "// import x from './commented';",
            "const s = \"import y from './quoted'\";",
            "export default (x: Shape | Decl | Gone) => s.length;",
          ].join("\n"),
          "shapes.ts": "export interface Shape { n: number }",
          "decl.d.ts": "export interface Decl { m: number }",
        },
      }),
    );
    expect(fine.result).toBe(24);
  });

  it("picks index.js as the entry when there is no index.ts", async () => {
    const res = expectOk(
      await execute({
        files: { "index.js": "import v from './v.js'; export default () => v", "v.js": "export default 'js entry'" },
      }),
    );
    expect(res.result).toBe("js entry");
  });

  // The fuel counter's declaration goes first in each module, which a hashbang must stay ahead of.
  it.each([
    ["plain JavaScript (no bundler)", { "index.js": "#!/usr/bin/env node\nexport default () => 'js';" }, "js"],
    [
      "TypeScript files (one module each)",
      {
        "index.ts": "#!/usr/bin/env node\nimport { v } from './v.ts';\nexport default (): string => v;",
        "v.ts": "#!/usr/bin/env node\nexport const v: string = 'ts';",
      },
      "ts",
    ],
    ["TSX (esbuild)", { "index.tsx": "#!/usr/bin/env node\nexport default (): string => 'tsx';" }, "tsx"],
  ])("runs %s that starts with a hashbang", async (_what, files, result) => {
    expect(expectOk(await execute({ files })).result).toBe(result);
  });

  it("runs JSX with a local factory", async () => {
    const res = expectOk(
      await execute({
        files: {
          "index.jsx": "const React = { createElement: (t, p, ...c) => ({ t, c }) };\nexport default () => <b>hi</b>;",
        },
      }),
    );
    expect(res.result).toEqual({ t: "b", c: ["hi"] });
  });

  it("says that JSX in `code` needs a .tsx file, and not for a type argument", async () => {
    const jsx = expectFailure(await execute({ code: "export default () => <b>hi</b>;" }));
    expect(jsx.error.type).toBe("compile");
    expect(jsx.error.message).toContain(
      '(JSX is compiled only in .tsx and .jsx files; `code` is compiled as index.ts: send files: { "index.tsx": … } instead)',
    );
    const generic = expectFailure(
      await execute({ code: "const f = <T>(x: T) => x;\nexport default () => f(1) +* 2;" }),
    );
    expect(generic.error.type).toBe("compile");
    expect(generic.error.message).not.toContain("JSX");
  });
});
