/** Every way installing `dependencies` can fail, as the client sees it: `{ ok: false, error: { type: "compile" } }`. */
import type { ExecuteRequest } from "@dwl/protocol";
import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk } from "../helpers.ts";

/** Runs a program importing `name` with `range`; returns the compile error's message. */
async function compileError(name: string, range = "*", extra: Partial<ExecuteRequest> = {}): Promise<string> {
  const res = expectFailure(
    await execute({
      code: `import x from "${name}";\nexport default () => x;`,
      dependencies: { [name]: range },
      ...extra,
    }),
  );
  expect(res.error).toMatchObject({ type: "compile", name: "CompileError" });
  return res.error.message;
}

describe("npm dependency errors", () => {
  it("names an unknown package", async () => {
    expect(await compileError("dwl-no-such-package")).toMatch(/unknown npm package "dwl-no-such-package"/);
  });

  it("names a range that no version satisfies", async () => {
    expect(await compileError("dwl-versions", "^7")).toBe(
      'no version of "dwl-versions" matches "^7" (latest is 1.2.0)',
    );
  });

  it("shows the dependencies line to add for an unlisted import", async () => {
    const code = `import { z } from "zod";\nimport { Hono } from "hono";\nexport default () => [typeof z, typeof Hono];`;
    const res = expectFailure(await execute({ code, dependencies: { zod: "^4" } }));
    expect(res.error.message).toContain(
      'Cannot import "hono": npm packages must be listed in `dependencies` (for example "dependencies": { "hono": "*" })',
    );
    expect(res.error).toMatchObject({ type: "compile", location: { file: "index.ts", line: 2 } });
  });

  it.each([
    [
      "https://esm.sh/lodash@4.17.21",
      'URL imports are not supported; if it is the npm package "lodash", list it in `dependencies` and import it by name (for example "dependencies": { "lodash": "4.17.21" } and `import … from "lodash"`)',
    ],
    [
      "https://cdn.jsdelivr.net/npm/@scope/pkg@1.2/x.js",
      'if it is the npm package "@scope/pkg", list it in `dependencies` and import it by name (for example "dependencies": { "@scope/pkg": "1.2" }',
    ],
    ["https://example.com/a.js", 'Cannot import "https://example.com/a.js": URL imports are not supported'],
    [
      "npm:lodash@4",
      '`npm:` specifiers are not supported; list it in `dependencies` and import it by name (for example "dependencies": { "lodash": "4" }',
    ],
    ["jsr:@std/path", "JSR packages are not supported, only npm packages listed in `dependencies`"],
  ])("says what to do instead of importing %s", async (spec, advice) => {
    const res = expectFailure(await execute({ code: `import x from "${spec}";\nexport default () => x;` }));
    expect(res.error.type).toBe("compile");
    expect(res.error.message).toContain(advice);
    if (spec.startsWith("https://example.com")) expect(res.error.message).not.toContain("npm package");
  });

  it("names a subpath a package does not export", async () => {
    expect(await compileError("hono/no-such-subpath", "^4", { dependencies: { hono: "^4" } })).toMatch(
      /"hono\/no-such-subpath" is not exported by hono@4\.\d+\.\d+/,
    );
  });

  it("refuses a dependency graph over the package limit", async () => {
    expect(await compileError("dwl-fanout")).toMatch(/the dependencies need more than 200 packages, the limit/);
  });

  it("refuses a package over the unpacked size limit", async () => {
    expect(await compileError("dwl-declared-huge")).toMatch(
      /dwl-declared-huge@1\.0\.0 is 31457280 bytes unpacked, over the 20971520-byte limit; another major version of it may be smaller/,
    );
  });

  it("refuses a tarball over the download limit", async () => {
    expect(await compileError("dwl-huge-tarball")).toMatch(
      /the tarball of dwl-huge-tarball@1\.0\.0 is larger than 10485760 bytes, the limit/,
    );
  });

  it("refuses a bundle over the size limit", async () => {
    expect(await compileError("dwl-big-bundle")).toMatch(
      /the bundled program is \d+ bytes, over the 5242880-byte limit \(dependencies included\)/,
    );
  });

  it("reports an unreachable registry after a bounded retry", async () => {
    expect(await compileError("dwl-down")).toMatch(
      /npm registry http:\/\/127\.0\.0\.1:\d+ is unreachable: fetching the metadata of "dwl-down" failed 3 times \(HTTP 503\)/,
    );
  });

  it("names the package and the Node built-in the runtime lacks", async () => {
    const message = await compileError("dwl-needs-sea");
    expect(message).toMatch(
      /^node_modules\/dwl-needs-sea\/index\.js:1:\d+: dwl-needs-sea@1\.0\.0 imports "node:sea", a Node built-in that the runtime lacks/,
    );
  });

  it("refuses hostile tarballs and keeps serving", async () => {
    expect(await compileError("dwl-traversal")).toMatch(
      /refusing the tarball of dwl-traversal@1\.0\.0: its entry ".*" points outside the package/,
    );
    expect(await compileError("dwl-gzip-bomb")).toMatch(
      /refusing the tarball of dwl-gzip-bomb@1\.0\.0: it unpacks to more than 20971520 bytes; another major version of it may be smaller/,
    );
    expect(await compileError("dwl-many-files")).toMatch(
      /refusing the tarball of dwl-many-files@1\.0\.0: it has more than 20000 entries/,
    );
    expect(await compileError("dwl-bad-integrity")).toMatch(
      /refusing the tarball of dwl-bad-integrity@1\.0\.0: its sha512 digest does not match/,
    );
    expect(await compileError("dwl-traversal")).not.toContain("major version");
    expect(expectOk(await execute({ code: "export default () => 'still serving'" })).result).toBe("still serving");
  });

  it("refuses specifiers it cannot install", async () => {
    expect(await compileError("hono", "git+https://github.com/honojs/hono.git")).toMatch(
      /"hono": "git\+https:\/\/github\.com\/honojs\/hono\.git" is not a version range DWL can install/,
    );
  });

  it("refuses a listed dependency it could not install even when the program does not import it", async () => {
    for (const [name, range, why] of [
      ["left-pad", "not a range", /"left-pad": "not a range" is not a version range DWL can install/],
      ["../etc", "1", /"\.\.\/etc" is not a valid npm package name/],
    ] as const) {
      const res = expectFailure(await execute({ code: "export default () => 1", dependencies: { [name]: range } }));
      expect(res.error).toMatchObject({ type: "compile", name: "CompileError" });
      expect(res.error.message).toMatch(why);
    }
  });
});
