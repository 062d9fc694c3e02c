import { describe, expect, it } from "vitest";
import { call, execute, expectFailure, expectOk } from "../helpers.ts";

describe("compile errors", () => {
  it("names file, line and column of a syntax error", async () => {
    const res = expectFailure(await execute({ files: { "index.ts": "export default () => {\n  let x = ;\n};\n" } }));
    expect(res.error.type).toBe("compile");
    expect(res.error.message).toMatch(/^index\.ts:2:11: /);
    expect(res.error).toMatchObject({ location: { file: "index.ts", line: 2, column: 11 } });
  });

  it("names a relative import that matches no file, and the files there are", async () => {
    const res = expectFailure(
      await execute({
        files: {
          "index.ts": "import { x } from './helpers';\nexport default () => x;",
          "helper.ts": "export const x = 1;",
        },
      }),
    );
    expect(res.error.type).toBe("compile");
    expect(res.error.message).toContain(
      'Cannot find module "./helpers" imported from index.ts: no such file in `files` (it has helper.ts, index.ts)',
    );
  });

  it("asks for a dependencies entry for an unlisted npm import", async () => {
    const res = expectFailure(
      await execute({ code: "import { Hono } from 'hono';\nexport default () => new Hono();" }),
    );
    expect(res.error.type).toBe("compile");
    expect(res.error.message).toContain('"dependencies": { "hono"');
  });

  describe("an import of a runtime module or name the runtime lacks", () => {
    // Every bundling path: one JS module as written, TypeScript file by file, a folder's file
    // re-exporting, and esbuild's (a TSX entry).
    it.each([
      [
        "a cloudflare: module that does not exist",
        { code: "import x from 'cloudflare:nope';\nexport default () => String(x)" },
        "index.ts",
        1,
        'No such module "cloudflare:nope"',
      ],
      [
        "cloudflare:email, which dynamic workers lack",
        {
          files: {
            "index.js": "import { EmailMessage } from 'cloudflare:email';\nexport default () => String(EmailMessage)",
          },
        },
        "index.js",
        1,
        'No such module "cloudflare:email"',
      ],
      [
        "a name cloudflare:workers does not export",
        {
          files: {
            "index.js": "import { DurableObject, Nope } from 'cloudflare:workers';\nexport default () => String(Nope)",
          },
        },
        "index.js",
        1,
        '"cloudflare:workers" has no export named "Nope"',
      ],
      [
        "a default cloudflare:workers does not have",
        { code: "import cf from 'cloudflare:workers';\nexport default () => String(cf)" },
        "index.ts",
        1,
        '"cloudflare:workers" has no default export',
      ],
      [
        "a name node:path does not export, from TypeScript",
        {
          code: "type T = string;\nimport { basename, nope } from 'node:path';\nexport default (): T => nope + basename('/a')",
        },
        "index.ts",
        2,
        '"node:path" has no export named "nope"',
      ],
      [
        "a built-in by its bare name",
        { code: "import { joinn } from 'path';\nexport default () => joinn" },
        "index.ts",
        1,
        '"path" has no export named "joinn"',
      ],
      [
        "a re-export in another file",
        {
          files: {
            "index.ts": "export { h } from './lib/h';\nexport default () => 1",
            "lib/h.ts": "\nexport { nope as h } from 'node:path';",
          },
        },
        "lib/h.ts",
        2,
        '"node:path" has no export named "nope"',
      ],
      [
        "a TSX entry (bundled by esbuild)",
        { files: { "index.tsx": "import { nope } from 'node:path';\nexport default () => String(nope)" } },
        "index.tsx",
        1,
        '"node:path" has no export named "nope"',
      ],
    ])("reports %s as a compile error at its line", async (_, program, file, line, message) => {
      const res = expectFailure(await execute(program));
      expect(res.error).toMatchObject({ type: "compile", location: { file, line } });
      expect(res.error.message).toContain(message);
    });

    it("reports one the bundler cannot see (beside a require) as compile, without the child's module names", async () => {
      const res = expectFailure(
        await execute({
          code: "import { nope } from 'node:path';\nconst p = require('node:path');\nexport default () => String(nope) + p.sep",
        }),
      );
      expect(res.error).toMatchObject({ type: "compile", name: "SyntaxError" });
      expect(res.error.message).toBe("The requested module 'node:path' does not provide an export named 'nope'");
    });

    it("runs what the runtime has: every cloudflare: module a program may import, by name and as a namespace", async () => {
      const res = expectOk(
        await execute({
          code: [
            "import * as ai from 'cloudflare:ai'; import * as node from 'cloudflare:node'; import * as pipelines from 'cloudflare:pipelines';",
            "import { BrowserRendering } from 'cloudflare:br'; import * as objects from 'cloudflare:durable-objects'; import { DistanceMetric } from 'cloudflare:vectorize';",
            "import { connect } from 'cloudflare:sockets'; import { WorkerEntrypoint, env } from 'cloudflare:workers'; import { NonRetryableError } from 'cloudflare:workflows';",
            "import path, { basename } from 'node:path';",
            "export default () => [ai, node, pipelines, BrowserRendering, objects, DistanceMetric, connect, WorkerEntrypoint, env, NonRetryableError, path.sep].every(Boolean) && basename('/a/b')",
          ].join("\n"),
        }),
      );
      expect(res.result).toBe("b");
    });

    it("refuses a sandbox that imports one, when it is written", async () => {
      const res = await call("/sandboxes", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          code: "import { Nope } from 'cloudflare:workers';\nexport default { fetch: () => new Response(String(Nope)) }",
        }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
        '"cloudflare:workers" has no export named "Nope"',
      );
    });
  });
});

describe("runtime errors", () => {
  it("shows an error's chain of causes below its stack, each at the user's line", async () => {
    const res = expectFailure(
      await execute({
        code: "export default () => {\n  const root = new Error('email is required');\n  throw new Error('validation failed', { cause: root });\n}",
      }),
    );
    expect(res.error).toMatchObject({ type: "runtime", name: "Error", message: "validation failed" });
    expect(res.error.stack).toMatch(
      /^Error: validation failed\n {4}at default \(index\.ts:3:\d+\)\nCaused by: Error: email is required\n {4}at default \(index\.ts:2:\d+\)$/,
    );
  });

  it("maps stack frames to the user's files and lines", async () => {
    const res = expectFailure(
      await execute({
        files: {
          "index.ts": "import { fail } from './lib/fail.ts';\n\nexport default () => {\n  return fail('boom');\n};\n",
          "lib/fail.ts":
            "interface Nothing { a: number }\n\nexport function fail(why: string): never {\n  throw new RangeError(why);\n}\n",
        },
      }),
    );
    expect(res.error).toMatchObject({ type: "runtime", name: "RangeError", message: "boom" });
    const stack = res.error.stack ?? "";
    expect(stack).toContain("RangeError: boom");
    expect(stack).toMatch(/at fail \(lib\/fail\.ts:4:\d+\)/);
    expect(stack).toMatch(/index\.ts:4:\d+/);
    expect(stack).not.toMatch(/user\.js|harness|node-internal/);
  });

  it("maps stack frames to the user's files in folders for plain JavaScript too", async () => {
    const res = expectFailure(
      await execute({
        files: {
          "index.js": "import { fail } from './lib/fail.js';\n\nexport default () => {\n  return fail('boom');\n};\n",
          "lib/fail.js": "\n\nexport function fail(why) {\n  throw new RangeError(why);\n}\n",
        },
      }),
    );
    const stack = res.error.stack ?? "";
    expect(stack).toMatch(/at fail \(lib\/fail\.js:4:\d+\)/);
    expect(stack).toMatch(/\(index\.js:4:\d+\)/);
  });

  it("maps the stack of a script that throws at top level", async () => {
    const res = expectFailure(await execute({ code: "const a = 1;\nconsole.log(a);\nthrow new Error('top');\n" }));
    expect(res.error).toMatchObject({ type: "runtime", name: "Error", message: "top" });
    expect(res.error.stack).toMatch(/index\.ts:3:\d+/);
    expect(res.logs.map((l) => l.message)).toEqual(["1"]);
  });

  it("reports a thrown non-Error value", async () => {
    const res = expectFailure(await execute({ code: "export default () => { throw 'plain string' }" }));
    expect(res.error).toMatchObject({
      type: "runtime",
      message:
        "Uncaught plain string (a string was thrown, not an Error: throw new Error(...) to get a stack with its line)",
    });
    const object = expectFailure(await execute({ code: "export default () => { throw { code: 42 } }" }));
    expect(object.error.message).toBe(
      "Uncaught { code: 42 } (an object was thrown, not an Error: throw new Error(...) to get a stack with its line)",
    );
  });

  it("names the errors an AggregateError gathers", async () => {
    const res = expectFailure(
      await execute({
        code: "export default () => Promise.any([Promise.reject(new TypeError('first')), Promise.reject(new RangeError('second'))])",
      }),
    );
    expect(res.error).toMatchObject({ type: "runtime", name: "AggregateError" });
    expect(res.error.message).toBe("All promises were rejected (2 errors: TypeError: first; RangeError: second)");
  });

  it("refuses a default export that is neither a function nor a fetch handler, saying what it is", async () => {
    const res = expectFailure(await execute({ code: "export default 42" }));
    expect(res.error.type).toBe("runtime");
    expect(res.error.message).toBe(
      "the default export is 42 (number); it must be a function `(input, env) => result` or an object with a `fetch(request, env, ctx)` method",
    );
    const object = expectFailure(await execute({ code: "export default { run: () => 1, scheduled() {} }" }));
    expect(object.error.message).toMatch(
      /^the default export is an object with keys run, scheduled and no fetch method; it must be/,
    );
    const commonJs = expectFailure(await execute({ code: "exports.handler = async () => 1;" }));
    expect(commonJs.error.message).toMatch(/^the default export is an object with key handler and no fetch method/);
  });

  it("says a default export that is a class must be an instance, and a class instance with fetch serves", async () => {
    const res = expectFailure(
      await execute({ code: "export default class Handler { fetch() { return new Response('x'); } }" }),
    );
    expect(res.error.message).toBe(
      "the default export is a class (Handler), which cannot be called: export an instance whose fetch(request, env, ctx) answers (export default new Handler()), or a function (input, env) => result",
    );
    const instance = expectOk(
      await execute({
        code: "class Handler { fetch() { return new Response('served'); } }\nexport default new Handler();",
      }),
    );
    expect(instance.result).toMatchObject({ status: 200, body: "served" });
  });
});

describe("limits enforced during the run", () => {
  it("ends a long setTimeout with `timeout`, then keeps serving", async () => {
    const res = expectFailure(
      await execute({
        code: "export default () => new Promise((r) => setTimeout(r, 60_000))",
        limits: { timeoutMs: 300 },
      }),
    );
    expect(res.error.type).toBe("timeout");
    expect(res.timing.runMs).toBeGreaterThanOrEqual(250);
    expect(expectOk(await execute({ code: "export default () => 'next'" })).result).toBe("next");
  });

  // The deadline's timer cannot fire while the program computes without waiting: without a
  // check in the metered code these ran on to their cpuMs (cpu_limit), or locally past the
  // supervisor's watchdog, which restarted the runtime under every other run.
  for (const [what, body] of [
    ["a loop that reads the clock", "const t = Date.now(); while (Date.now() - t < 60_000) {}"],
    ["an empty loop", "for (;;) {}"],
    ["a loop that catches everything", "for (;;) { try { for (;;) {} } catch {} }"],
    ["a loop in a sandbox's fetch handler", undefined],
  ] as const) {
    it(`ends ${what} at its timeoutMs with \`timeout\`, not at its cpuMs`, async () => {
      const limits = { cpuMs: 20_000, timeoutMs: 300 };
      if (body === undefined) {
        const created = await call("/sandboxes", {
          method: "POST",
          body: JSON.stringify({ code: "export default { fetch() { for (;;) {} } }", limits }),
        });
        const { id } = (await created.json()) as { id: string };
        const res = await call(`/sandboxes/${id}/http/`);
        expect(res.status).toBe(504);
        expect(((await res.json()) as { error: { type: string } }).error.type).toBe("timeout");
        return;
      }
      const res = expectFailure(await execute({ code: `export default () => { ${body} }`, limits }));
      expect(res.error).toMatchObject({ type: "timeout", name: "TimeoutError" });
      expect(res.error.message).toContain("300 ms (limits.timeoutMs)");
    });
  }

  it("ends a promise that never settles with `timeout`", async () => {
    const res = expectFailure(await execute({ code: "await new Promise(() => {});", limits: { timeoutMs: 300 } }));
    expect(res.error.type).toBe("timeout");
  });

  it("ends the run with `subrequest_limit` past limits.subRequests, even if the program catches it", async () => {
    const res = expectFailure(
      await execute({
        code: "export default async () => { try { await fetch('https://example.com/'); } catch (e) { console.log(e.name); } return 'swallowed'; }",
        limits: { subRequests: 0 },
      }),
    );
    expect(res.error.type).toBe("subrequest_limit");
    expect(res.logs.map((l) => l.message)).toEqual(["SubrequestLimitError"]);
  });

  it("counts each outbound request against limits.subRequests", async () => {
    const code =
      "export default async () => { for (let i = 0; i < 3; i++) await fetch('https://example.com/').catch(() => {}); return 'done'; }";
    expect(expectFailure(await execute({ code, limits: { subRequests: 2 } })).error.type).toBe("subrequest_limit");
    const within = expectOk(await execute({ code, limits: { subRequests: 3 } }));
    expect(within.result).toBe("done");
    expect(within.egress).toHaveLength(3);
  });
});
