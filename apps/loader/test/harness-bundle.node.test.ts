/**
 * The child harness ships as one text module: apps/loader/build-harness.mjs bundles
 * src/sandbox/harness/ into harness.min.child.js, which sandbox/load.ts hands to every child as
 * `harness.js`. The child has no other module of the harness to import, and the loader swaps the
 * caller key in with one `replace`.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";

const built = () => readFileSync(new URL("../src/sandbox/harness.min.child.js", import.meta.url), "utf8");

describe("the bundled child harness", () => {
  // Rebuilt if any input changed (a few ms otherwise), as the workerd tests' global setup does.
  beforeAll(() => {
    execFileSync(process.execPath, ["build-harness.mjs"], { cwd: new URL("../", import.meta.url), stdio: "inherit" });
  });

  it("imports only what every child has: workerd's modules and, inside a run, the program", () => {
    const code = built();
    const statics = [...code.matchAll(/\bimport\s*\{[^}]*\}\s*from\s*"([^"]+)"/g)].map((m) => m[1]).sort();
    const dynamic = [...code.matchAll(/\bimport\(([^)]*)\)/g)].map((m) => m[1]);
    expect(statics).toEqual(["cloudflare:workers", "node:async_hooks"]);
    expect(new Set(dynamic)).toEqual(new Set(['"./user.js"']));
  });

  it("holds the caller-key placeholder once, as a module-scope constant, not in a method's text", () => {
    const code = built();
    expect(code.split('"__DWL_CALLER_KEY__"')).toHaveLength(2);
    expect(code).toMatch(/(^|[;}\n])var [\w$]+="__DWL_CALLER_KEY__"[;,\n]/);
  });

  it("exports the Run entrypoint and a default handler", () => {
    expect(built()).toMatch(/export\{(Run,[\w$]+ as default|[\w$]+ as default,Run)\}/);
  });
});
