import { describe, expect, it } from "vitest";
import { execute, expectOk } from "../../test/helpers.ts";
import { nodeBuiltin, RUNTIME_PREFIXED_NODE_BUILTINS } from "./node-builtins.ts";

describe("nodeBuiltin", () => {
  it("maps built-ins, with or without the prefix, to their node: specifier", () => {
    expect(nodeBuiltin("events")).toEqual({ available: "node:events" });
    expect(nodeBuiltin("node:fs/promises")).toEqual({ available: "node:fs/promises" });
  });

  it("tells built-ins the runtime lacks, and prefix-only built-ins, from npm package names", () => {
    expect(nodeBuiltin("node:sea")).toEqual({ missing: "node:sea" });
    expect(nodeBuiltin("node:sqlite")).toEqual({ available: "node:sqlite" });
    expect(nodeBuiltin("sqlite")).toBeUndefined();
    expect(nodeBuiltin("hono")).toBeUndefined();
  });

  it("lists only modules a child isolate can import (pins the list to the runtime)", async () => {
    const names = JSON.stringify([...RUNTIME_PREFIXED_NODE_BUILTINS, "sea", "test/reporters"]);
    const code = `export default async () => {
  const missing = [];
  for (const name of ${names}) {
    try { await import("node:" + name); } catch { missing.push(name); }
  }
  return missing;
};`;
    expect(expectOk(await execute({ code, limits: { cpuMs: 2_000 } })).result).toEqual(["sea", "test/reporters"]);
  });
});
