/** Programs with npm `dependencies`, resolved from the loopback registry (test/npm-registry). */
import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk } from "../helpers.ts";

describe("npm dependencies", () => {
  it("serves a Hono app as a fetch-handler program, subpath middleware included", async () => {
    const code = `import { Hono } from "hono";
import { cors } from "hono/cors";

const app = new Hono();
app.use("*", cors());
app.get("/hi/:name", (c) => c.json({ hello: c.req.param("name") }));
export default app;`;
    const res = expectOk(
      await execute({
        code,
        dependencies: { hono: "^4" },
        request: { method: "GET", path: "/hi/dwl", headers: { origin: "https://example.com" } },
      }),
    );
    expect(res.result).toMatchObject({
      status: 200,
      body: '{"hello":"dwl"}',
      headers: { "access-control-allow-origin": "*" },
    });
  });

  it("validates input with zod", async () => {
    const code = `import { z } from "zod";

const User = z.object({ name: z.string().min(1), age: z.number().int().positive() });

export default (input: unknown) => {
  const parsed = User.safeParse(input);
  return parsed.success ? { ok: parsed.data } : { issues: parsed.error.issues.map((i) => i.path.join(".")) };
};`;
    const dependencies = { zod: "^4.6.0" };
    expect(expectOk(await execute({ code, dependencies, input: { name: "Ada", age: 36 } })).result).toEqual({
      ok: { name: "Ada", age: 36 },
    });
    expect(expectOk(await execute({ code, dependencies, input: { name: "", age: -1 } })).result).toEqual({
      issues: ["name", "age"],
    });
  });

  it("follows exports conditions (workerd first), subpaths, `imports`, long paths and JSON", async () => {
    const code = `import build from "@dwl/conditions";
import { kind } from "@dwl/conditions/feature";
import long from "@dwl/conditions/long";
import data from "@dwl/conditions/data.json";
export default () => [build, kind, long, data.answer];`;
    const res = expectOk(await execute({ code, dependencies: { "@dwl/conditions": "1" } }));
    expect(res.result).toEqual(["workerd build, internal import", "esm feature", "long path", 42]);
  });

  it("installs transitive dependencies of scoped packages (CommonJS UMD build included)", async () => {
    const code = `import { TraceMap, originalPositionFor } from "@jridgewell/trace-mapping";
import remapping from "@jridgewell/remapping";

export default () => {
  const map = new TraceMap({ version: 3, file: "out.js", sources: ["in.ts"], names: [], mappings: "AAAA" });
  const remapped = remapping({ version: 3, file: "out.js", sources: ["in.ts"], names: [], mappings: "AAAA" }, () => null);
  return [originalPositionFor(map, { line: 1, column: 0 }), remapped.sources];
};`;
    const res = expectOk(
      await execute({
        code,
        dependencies: { "@jridgewell/trace-mapping": "0.3.9", "@jridgewell/remapping": "^2.3.0" },
      }),
    );
    expect(res.result).toEqual([{ source: "in.ts", line: 1, column: 0, name: null }, ["in.ts"]]);
  });

  it("bundles a CommonJS package (semver)", async () => {
    const code = `import semver from "semver";\nexport default () => semver.maxSatisfying(["1.0.0", "1.5.0", "2.0.0"], "^1");`;
    expect(expectOk(await execute({ code, dependencies: { semver: "^7" } })).result).toBe("1.5.0");
  });

  it("serves `require` of a listed package in a one-file program, CommonJS and ESM packages alike", async () => {
    const code = `const semver = require("semver");\nconst { z } = require("zod");\nmodule.exports = (v) => z.string().parse(semver.maxSatisfying(v, "^1"));`;
    const dependencies = { semver: "^7", zod: "^4.6.0" };
    const input = ["1.0.0", "1.5.0", "2.0.0"];
    expect(expectOk(await execute({ code, dependencies, input })).result).toBe("1.5.0");
  });

  it("gives CommonJS code `require` of Node built-ins with Node's semantics", async () => {
    const code = `import ring from "dwl-cjs-builtins";\nexport default () => ring();`;
    expect(expectOk(await execute({ code, dependencies: { "dwl-cjs-builtins": "1" } })).result).toBe(
      "64696e67 cjs feature",
    );
  });

  it("serves CommonJS that uses `exports` only unbound, and a module-level `this`, through esbuild's interop", async () => {
    const defined = `import * as m from "dwl-cjs-define";\nexport default () => m.default.answer;`;
    expect(expectOk(await execute({ code: defined, dependencies: { "dwl-cjs-define": "1" } })).result).toBe(42);
    const umd = `import { ok } from "dwl-umd-this";\nexport default () => ok;`;
    expect(expectOk(await execute({ code: umd, dependencies: { "dwl-umd-this": "1" } })).result).toBe(1);
  });

  it("lets two versions of one package coexist, and links peers to the program's choice", async () => {
    const code = `import v from "dwl-versions";\nimport nested from "dwl-nested";\nimport peer from "dwl-peer-user";\nexport default () => [v, nested, peer];`;
    const res = expectOk(
      await execute({ code, dependencies: { "dwl-versions": "1.0.0", "dwl-nested": "^1", "dwl-peer-user": "*" } }),
    );
    expect(res.result).toEqual(["1.0.0", "nested sees 2.0.0", "peer sees 1.0.0"]);
  });

  it("leaves an optional peer absent, for the package to cope with at run time", async () => {
    const code = `import status from "dwl-optional-peer";\nexport default () => status;`;
    expect(expectOk(await execute({ code, dependencies: { "dwl-optional-peer": "1" } })).result).toBe(
      "optional peer absent",
    );
  });

  it("runs a script that imports a package (imports hoisted out of the wrapper)", async () => {
    const code = `import { z } from "zod";\nconsole.log(z.string().parse("checked"));`;
    const res = expectOk(await execute({ code, dependencies: { zod: "4.6.6" } }));
    expect(res.result).toBeNull();
    expect(res.logs.map((l) => l.message)).toEqual(["checked"]);
  });

  it("maps a stack through the package's file to the user's line", async () => {
    const code = `import { explode } from "dwl-throws";\n\nexport default () => {\n  explode("no");\n};`;
    const res = expectFailure(await execute({ code, dependencies: { "dwl-throws": "1" } }));
    expect(res.error).toMatchObject({ type: "runtime", message: "package says no" });
    expect(res.error.stack).toMatch(/at explode \(node_modules\/dwl-throws\/index\.js:2:\d+\)/);
    expect(res.error.stack).toMatch(/index\.ts:4:\d+/);
  });

  it("runs packages that import each other, a function of one called before its module's body ran", async () => {
    const code = `import answer from "dwl-cycle-a";\nexport default () => answer();`;
    const res = expectOk(await execute({ code, dependencies: { "dwl-cycle-a": "1" } }));
    expect(res.result).toBe(42);
  });

  it("runs a package of as many files as are linked one module each, and one more through esbuild", async () => {
    const code = `import n from "dwl-linked-files";\nexport default () => n;`;
    // 1 + 299 files (each exports 1), then 1 + 300: the limit's two sides (package-files.test.ts).
    expect(expectOk(await execute({ code, dependencies: { "dwl-linked-files": "1.0.0" } })).result).toBe(299);
    expect(expectOk(await execute({ code, dependencies: { "dwl-linked-files": "2.0.0" } })).result).toBe(300);
  });

  it("meters loops inside dependencies", async () => {
    const code = `import { spin } from "dwl-spin";\nexport default () => spin();`;
    const res = expectFailure(await execute({ code, dependencies: { "dwl-spin": "1" }, limits: { cpuMs: 20 } }));
    expect(res.error.type).toBe("cpu_limit");
  });

  it("does not touch the registry for a program that imports none of its dependencies", async () => {
    const res = expectOk(
      await execute({ code: "export default () => 1", dependencies: { "dwl-no-such-package": "1" } }),
    );
    expect(res.result).toBe(1);
  });
});
