/**
 * One home for each rule (docs/architecture.md): a header name or a limit is written once, and
 * every other module imports it. These tests read the source tree.
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../../", import.meta.url);

/** Product source files (tests, generated and built files left out). */
function sourceFiles(): string[] {
  const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "apps", "packages"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return listed
    .split("\n")
    .filter((path) => /\.(ts|js|mjs)$/.test(path))
    .filter((path) => /\/src\//.test(path) && !/\/dist\//.test(path))
    .filter((path) => !/\.test\.ts$|\.d\.ts$|\.generated\.ts$|\.min\.child\.js$/.test(path));
}

function read(path: string): string {
  try {
    return readFileSync(new URL(path, ROOT), "utf8");
  } catch {
    return ""; // listed but deleted in the working tree
  }
}

/** `name → files` for every match of `pattern`'s first group. */
function definitions(pattern: RegExp): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const path of sourceFiles()) {
    for (const match of read(path).matchAll(pattern)) {
      const name = match[1]!;
      if (!found.has(name)) found.set(name, new Set());
      found.get(name)!.add(path);
    }
  }
  return found;
}

/** Same name, different rules: each has its own home. */
const DIFFERENT_RULES: Record<string, string> = {
  DEFAULT_TIMEOUT_MS: "the SDK's deadline of an HTTP call (public API) vs the loader's default run timeout",
};

/**
 * Named like limits, but facts of a format or tuning of a loop, which no request can reach and no
 * operator would set: they stay beside the code they describe.
 */
const NOT_LIMITS: Record<string, string> = {
  IV_BYTES: "AES-GCM's IV length",
  TAG_BYTES: "AES-GCM's tag length",
  BLOCK_BYTES: "the tar format's block",
  MAX_PORT: "TCP's largest port",
  MAX_DOMAIN_CHARS: "DNS's longest name (RFC 1035)",
  GUNZIP_SLICE_BYTES: "how the tar reader feeds the decompressor",
  POLL_MS: "the admission ledger's polling step",
  MAX_POLL_MS: "the admission ledger's polling step",
  MAX_URL_CHARS_IN_MESSAGE: "how much of a URL an egress error message quotes",
  MAX_RULES_IN_MESSAGE: "how many rules an egress error message lists",
  HEARTBEAT_INTERVAL_MS: "how often a supervised computing run prints its heartbeat",
  MAX_FUEL_BATCH: "the meter's largest batch of fuel checks between two charges",
  BATCH_CLOCK_MS: "how often, by the clock, the meter aims to charge a run",
};

/**
 * limits.ts, and the transport bounds of the child protocol, which the harness bundles and so
 * cannot take from limits.ts (it would pull the loader's settings into every child).
 */
const LIMIT_HOMES = ["apps/loader/src/limits.ts", "apps/loader/src/sandbox/child-protocol.ts"];

const twice = (found: Map<string, Set<string>>) =>
  [...found]
    .filter(([name, files]) => files.size > 1 && !(name in DIFFERENT_RULES))
    .map(([name, files]) => `${name}: ${[...files].join(", ")}`);

/** A constant named like a limit, given a number: `const MAX_X = 64 * 1024;`. */
const LIMIT_CONSTANT =
  /^\s*(?:export )?const ((?:MAX|MIN|DEFAULT)_[A-Z0-9_]+|[A-Z0-9_]+_(?:BYTES|MS|CHARS|LIMIT|SECONDS)) = [\d_]+(?: \* [\d_]+)*;/gm;

describe("one home for each rule", () => {
  it("writes each x-dwl-* header name in one source file", () => {
    expect(twice(definitions(/["'](x-dwl-[a-z0-9-]*)["']/g))).toEqual([]);
  });

  it("defines each limit constant once across the apps and packages", () => {
    expect(twice(definitions(LIMIT_CONSTANT))).toEqual([]);
  });

  it("keeps the loader's limits in apps/loader/src/limits.ts", () => {
    const elsewhere = [...definitions(LIMIT_CONSTANT)]
      .flatMap(([name, files]) => [...files].map((file) => ({ name, file })))
      .filter(({ name }) => !(name in NOT_LIMITS))
      .filter(({ file }) => file.startsWith("apps/loader/src/") && !LIMIT_HOMES.includes(file))
      .map(({ name, file }) => `${name} in ${file}`);
    expect(elsewhere).toEqual([]);
  });

  it("finds what it looks for (the patterns match the limits file itself)", () => {
    const limits = read("apps/loader/src/limits.ts");
    expect([...limits.matchAll(LIMIT_CONSTANT)].map((m) => m[1])).toContain("MAX_CODE_BYTES");
  });
});
