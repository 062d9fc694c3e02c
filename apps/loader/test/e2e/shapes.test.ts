import { describe, expect, it } from "vitest";
import { execute, executeRejected, expectOk } from "../helpers.ts";

describe("program shapes", () => {
  it("calls a default-export function with input", async () => {
    const res = expectOk(await execute({ code: "export default (input) => input.a + input.b", input: { a: 1, b: 2 } }));
    expect(res.result).toBe(3);
  });

  it("calls a bare async arrow function", async () => {
    const res = expectOk(
      await execute({ code: "async (input) => { console.log('hi'); return input * 2 }", input: 21 }),
    );
    expect(res.result).toBe(42);
    expect(res.logs.map((l) => l.message)).toEqual(["hi"]);
  });

  describe("a bare function after what it uses", () => {
    // Each throws on its last line when input is 0, so the stack shows whose lines it kept.
    it.each([
      [
        "a directive",
        { code: "'use strict';\nasync (input) => {\n  if (!input) throw new Error('no');\n  return input * 2 }" },
      ],
      [
        "a constant",
        { code: "const k = 2;\nasync (input) => {\n  if (!input) throw new Error('no');\n  return input * k }" },
      ],
      [
        "an import",
        {
          code: "import { basename } from 'node:path';\nasync (input) => {\n  if (!input) throw new Error('no');\n  return Number(basename('/a/2')) * input }",
        },
      ],
      [
        "TypeScript helpers",
        {
          code: "type N = number;\nconst twice = (n: N): N => n * 2;\nasync (input: N) => {\n  if (!input) throw new Error('no');\n  return twice(input) }",
        },
      ],
      [
        "a require, which esbuild bundles",
        {
          code: "const { basename } = require('node:path');\n(function (input) {\n  if (!input) throw new Error('no');\n  return Number(basename('/a/2')) * input })",
        },
      ],
      [
        "TypeScript beside a require, types before the function on its line",
        {
          code: "const { sep } = require('node:path');\nconst k: number = sep.length * 2; async (input: number) => {\n  if (!input) throw new Error('no');\n  return input * k }",
        },
      ],
      [
        "a TSX helper",
        {
          files: {
            "index.tsx":
              "const k: number = 2;\nasync (input: number) => {\n  if (!input) throw new Error('no');\n  return input * k }",
          },
        },
      ],
    ])("calls the function that ends a program with %s, with its lines", async (_, program) => {
      expect(expectOk(await execute({ ...program, input: 21 })).result).toBe(42);
      const thrown = await execute({ ...program, input: 0 });
      const file = "files" in program ? "index.tsx" : "index.ts";
      const line = ("code" in program ? program.code : program.files["index.tsx"]).split("\n").length - 1;
      expect(thrown.ok ? "" : thrown.error.stack).toContain(`${file}:${line}:`);
      expect(thrown.ok ? "" : thrown.error.stack).not.toContain("__dwl");
    });

    it.each([
      ["empty statements after it", { code: "const k = 1;\n(input) => input + k;;\n;" }],
      [
        "a comment inside its parentheses",
        { code: "const { sep } = require('node:path');\n(/* entry */ (input) => input + sep.length)" },
      ],
      [
        "a line comment inside its parentheses",
        { code: "const { sep } = require('node:path');\n(\n  // entry\n  (input) => input + sep.length\n)" },
      ],
      [
        "a decorated class before it",
        { code: "function d(c: any) { return c }\n@d class A { static k = 1 }\n(input: number) => input + A.k" },
      ],
      [
        "TSX, a comment inside its parentheses",
        { files: { "index.tsx": "const k: number = 1; (/* c */ (input: number) => input + k)" } },
      ],
      [
        "a decorated class, then a line comment in its parentheses",
        {
          code: "function d(c: any) { return c }\n@d class A { static k = 1 }\n( // the entry\n  (input: number) => input + A.k)",
        },
      ],
      [
        "a decorated class, then a comment that holds /*",
        {
          code: "function d(c: any) { return c }\n@d class A { static k = 1 }\n/* a /* b */ (input: number) => input + A.k",
        },
      ],
      [
        "JSX, then a line comment in its parentheses",
        {
          files: {
            "index.jsx":
              "const React = { createElement: () => 1 };\nconst k = <div />;\n( // entry\n  (input) => input + k)",
          },
        },
      ],
    ])("calls the function that ends a program with %s", async (_, program) => {
      expect(expectOk(await execute({ ...program, input: 1 })).result).toBe(2);
    });

    it.each([
      ["a function declared last, which the script calls", "console.log(f());\nfunction f() { return 1 }", ["1"]],
      ["an IIFE", "const k = 2;\n(async () => { console.log(k) })()", ["2"]],
    ])("still runs %s as a script (result null, called once)", async (_, code, logs) => {
      const res = expectOk(await execute({ code, input: 21 }));
      expect(res.result).toBeNull();
      expect(res.logs.map((l) => l.message)).toEqual(logs);
    });

    it("keeps a module's own default export when a function expression ends it", async () => {
      const res = expectOk(await execute({ code: "export default () => 'mine';\n(() => 'not the entry')" }));
      expect(res.result).toBe("mine");
    });
  });

  it("runs a plain script with top-level await and returns null", async () => {
    const res = expectOk(
      await execute({ code: "console.log('a'); await new Promise(r => setTimeout(r, 5)); console.log('b');" }),
    );
    expect(res.result).toBeNull();
    expect(res.logs.map((l) => l.message)).toEqual(["a", "b"]);
  });

  describe("a function body: top-level statements with a top-level return", () => {
    it.each([
      ["a lone return", "return 5", undefined, 5],
      ["TypeScript and input", "const n: number = input;\nreturn n + 1", 4, 5],
      [
        "await and an early return",
        "await Promise.resolve();\nif (input > 1) { return 'big'; }\nreturn 'small';",
        2,
        "big",
      ],
      ["a bare return", "console.log('x');\nreturn;", undefined, null],
    ])("runs %s as the body of `async (input, env) => { … }`, its value the result", async (_, code, input, result) => {
      expect(expectOk(await execute({ code, input })).result).toEqual(result);
    });

    it("reaches env in the body and keeps the body's line numbers in stacks", async () => {
      const namespace = `body-${crypto.randomUUID().slice(0, 8)}`;
      const stored = expectOk(
        await execute({ code: "await env.KV.put('k', 'v');\nreturn await env.KV.get('k');", storage: { namespace } }),
      );
      expect(stored.result).toBe("v");
      const thrown = await execute({ code: "const a = 1;\nthrow new Error('line 2');\nreturn a;" });
      expect(thrown.ok ? "" : thrown.error.stack).toContain("index.ts:2:");
    });

    it("still runs a script whose returns are all inside functions as a script (result null)", async () => {
      const res = expectOk(await execute({ code: "function f() { return 1; }\nconsole.log(f());" }));
      expect(res.result).toBeNull();
      expect(res.logs.map((l) => l.message)).toEqual(["1"]);
    });

    it("keeps a top-level return beside an import a compile error", async () => {
      const res = await execute({ code: 'import { x } from "./y";\nreturn 1;' });
      expect(res.ok ? "ok" : res.error.type).toBe("compile");
    });
  });

  describe("a CommonJS entry (module.exports, exports.x)", () => {
    it.each([
      ["module.exports = function", "module.exports = async (input) => input * 2;", 21, 42],
      ["module.exports = a fetch handler", "module.exports = { fetch: () => new Response('hi') };", undefined, "hi"],
      [
        "TypeScript's CommonJS output (exports.default beside __esModule)",
        'Object.defineProperty(exports, "__esModule", { value: true });\nexports.default = (n: number) => n + 1;',
        1,
        2,
      ],
    ])("runs %s as the module whose default export it is", async (_, code, input, expected) => {
      const res = expectOk(await execute({ code, input }));
      const result = res.result as { body?: unknown } | number;
      expect(typeof result === "object" && result !== null ? result.body : result).toBe(expected);
    });

    it("keeps its line numbers, and a script that only mentions exports stays a script", async () => {
      const thrown = await execute({ code: "const a = 1;\nmodule.exports = () => { throw new Error('line 2'); };" });
      expect(thrown.ok ? "" : thrown.error.stack).toContain("index.ts:2:");
      const script = expectOk(await execute({ code: "const note = 'module.exports = x';\nconsole.log(note);" }));
      expect(script.result).toBeNull();
    });
  });

  describe("require() of a built-in or of the program's own files, as Node-trained models write", () => {
    it.each([
      ["a script", 'const path = require("path");\nconsole.log(path.join("a", "b"));', "log", null],
      ["a function body", 'const path = require("node:path");\nreturn path.join("a", "b");', "return", "a/b"],
      [
        "a CommonJS entry",
        'const { createHash } = require("node:crypto");\nmodule.exports = (s) => createHash("sha256").update(s).digest("hex").slice(0, 8);',
        "return",
        "ca978112",
      ],
      [
        "an ES module",
        'const util = require("util");\nexport default () => util.format("%s!", "a/b");',
        "return",
        "a/b!",
      ],
    ])("runs %s that requires a built-in", async (_, code, via, result) => {
      const res = expectOk(await execute({ code, input: "a" }));
      if (via === "log") expect(res.logs.map((l) => l.message)).toEqual(["a/b"]);
      expect(res.result).toEqual(result);
    });

    it("gives a required util a debuglog that logs nothing, as Node does without NODE_DEBUG", async () => {
      const res = expectOk(
        await execute({
          code: "const util = require('node:util');\nconst debug = util.debuglog('stream');\ndebug('noise');\nmodule.exports = () => [debug.enabled, typeof util.inspect, util.format('%s!', 'a')];",
        }),
      );
      expect(res.result).toEqual([false, "function", "a!"]);
      expect(res.logs).toEqual([]);
    });

    it("requires the program's own files, CommonJS and ES modules alike", async () => {
      const files = {
        "index.js":
          'const { twice } = require("./twice.js");\nconst data = require("./data.json");\nmodule.exports = () => twice(data.n);',
        "twice.js": "exports.twice = (n) => n * 2;",
        "data.json": '{ "n": 21 }',
      };
      expect(expectOk(await execute({ files, entry: "index.js" })).result).toBe(42);
    });
  });

  describe("line 1 of a wrapped entry keeps the user's columns", () => {
    it.each([
      ["a function body", "const x = 1; return x.y.z", "index.ts:1:25"],
      ["a TypeScript function body", "const n: number = 1; return null.x", "index.ts:1:34"],
      ["a CommonJS entry", "module.exports = () => { null.x }", "index.ts:1:31"],
    ])("in the stack of %s", async (_, code, where) => {
      const res = await execute({ code });
      expect(res.ok ? "" : res.error.stack).toContain(`(${where})`);
    });

    it.each([
      ["a function body", 'const x = require("nope"); return x'],
      ["a CommonJS entry", 'const x = require("nope");\nmodule.exports = () => x;'],
    ])("in a compile error of %s", async (_, code) => {
      const res = await execute({ code });
      expect(res.ok ? undefined : res.error).toMatchObject({
        type: "compile",
        message: expect.stringMatching(/^index\.ts:1:19: /),
        location: { file: "index.ts", line: 1, column: 19, lineText: code.split("\n")[0] },
      });
    });
  });

  describe("a module that exports names but nothing as default", () => {
    const warning = (names: string) =>
      `[dwl] this program exports ${names} but nothing as default, so it ran as a script, top to bottom, and nothing called its exports; to have a function called with (input, env), put \`export default\` before it`;

    it.each([
      ["a function", { code: "export async function run(input, env) { return 7 }" }, "`run`"],
      [
        "constants, beside a `console` of its own",
        { code: "const console = 1; export const a = 1, b = 2;" },
        "`a`, `b`",
      ],
      [
        "a name from another file",
        {
          files: { "index.ts": 'import { f } from "./f.ts";\nexport { f as g };', "f.ts": "export const f = () => 2;" },
        },
        "`g`",
      ],
    ])("runs %s as a script and says first in its logs that nothing called its exports", async (_, request, names) => {
      const res = expectOk(await execute({ ...request, input: 1 }));
      expect(res.result).toBeNull();
      expect(res.logs[0]).toMatchObject({ level: "warn", message: warning(names) });
    });

    it("says nothing for `export {}`, the way to make a file a module, and keeps its lines", async () => {
      const res = expectOk(await execute({ code: "export {};\nconsole.log(await Promise.resolve('ran'));" }));
      expect(res.logs.map((l) => l.message)).toEqual(["ran"]);
      const thrown = await execute({ code: "export const a = 1;\n\nthrow new Error('line 3');" });
      expect(thrown.ok ? "" : thrown.error.stack).toContain("index.ts:3");
    });
  });

  it("invokes a fetch handler with the request", async () => {
    const res = expectOk(
      await execute({
        code: "export default { async fetch(req) { return new Response(req.method + ' ' + new URL(req.url).pathname + ' ' + await req.text(), { status: 201, headers: { 'x-a': '1' } }) } }",
        request: { method: "POST", path: "/hello", body: "yo" },
      }),
    );
    expect(res.result).toEqual({
      status: 201,
      headers: { "content-type": "text/plain;charset=UTF-8", "x-a": "1" },
      body: "POST /hello yo",
      bodyEncoding: "text",
    });
  });

  it("sends a fetch handler a binary body given as base64, byte for byte, and echoes it back as base64", async () => {
    const bytes = [255, 0, 1, 128, 10, 200];
    const res = expectOk(
      await execute({
        code: "export default { async fetch(req) { return new Response(await req.arrayBuffer(), { headers: { 'content-type': 'application/octet-stream' } }) } }",
        request: { method: "PUT", path: "/blob", body: btoa(String.fromCharCode(...bytes)), bodyEncoding: "base64" },
      }),
    );
    expect(res.result).toMatchObject({ bodyEncoding: "base64", body: btoa(String.fromCharCode(...bytes)) });
    const text = expectOk(
      await execute({
        code: "export default { async fetch(req) { return new Response(await req.text()) } }",
        request: { method: "POST", body: "aGk=", bodyEncoding: "text" },
      }),
    );
    expect(text.result).toMatchObject({ body: "aGk=" });
  });

  it.each([["not base64!"], ["aGk"], ["a=Gk"]])(
    "refuses a request body %j that bodyEncoding says is base64, naming body",
    async (body) => {
      const res = await executeRejected({
        code: "export default { fetch: () => new Response('x') }",
        request: { method: "POST", body, bodyEncoding: "base64" },
      });
      expect(res.status).toBe(400);
      expect(res.body.error.issues?.[0]?.path).toEqual(["request", "body"]);
    },
  );

  it("encodes a Response returned by a default function as a fetch handler's result", async () => {
    const res = expectOk(await execute({ code: "export default () => Response.json({ a: 1 }, { status: 201 })" }));
    expect(res.result).toMatchObject({ status: 201, body: '{"a":1}', bodyEncoding: "text" });
  });

  it("says in the logs when a run's request reaches no fetch handler", async () => {
    for (const code of ["export default (input) => input", "console.log('script')"]) {
      const res = expectOk(await execute({ code, input: 1, request: { method: "POST", path: "/x" } }));
      expect(res.logs[0]).toMatchObject({
        level: "warn",
        message: expect.stringContaining("has a `request`, but the program has no fetch handler"),
      });
    }
  });

  it("keeps every Set-Cookie of a fetch handler's response, one by one", async () => {
    const res = expectOk(
      await execute({
        code: "export default { fetch() { const h = new Headers(); h.append('set-cookie', 'a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT'); h.append('set-cookie', 'b=2'); h.append('x', '1'); h.append('x', '2'); return new Response('', { headers: h }); } }",
      }),
    );
    expect(res.result).toMatchObject({
      headers: { "set-cookie": "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT, b=2", x: "1, 2" },
      setCookies: ["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"],
    });
  });

  it("answers Response.error() from a fetch handler with a runtime error that says what to return", async () => {
    const res = await execute({ code: "export default { fetch: () => Response.error() }" });
    expect(res.ok ? undefined : res.error).toMatchObject({
      type: "runtime",
      name: "TypeError",
      message: expect.stringContaining("answered Response.error(), a network error with no HTTP status"),
    });
  });
});
