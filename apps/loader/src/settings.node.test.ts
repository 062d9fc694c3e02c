/**
 * docs/configuration.md's table is the code's: every setting the loader (settings.ts) and the
 * local supervisor (apps/supervisor/src/settings.ts) read is a row with the code's default, range,
 * scope and summary, and every row is a setting the code reads. A failure prints the table to paste.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SUPERVISOR_SETTINGS } from "../../supervisor/src/settings.ts";
import { SETTINGS, type SettingSpec } from "./settings.ts";

const root = new URL("../../../", import.meta.url).pathname;

const SCOPES: Record<SettingSpec["scope"], string> = {
  both: "local, deployed",
  local: "local",
  deployed: "deployed",
  tests: "tests only",
};
const TEXT_RANGES: Record<string, string> = {
  url: "http(s) URL",
  origin: "http(s) origin, no path",
  "loopback-url": "loopback http URL",
  "api-keys": "JSON object",
  secret: "text",
};

function loaderRow(spec: SettingSpec): string {
  const range =
    spec.kind === "integer"
      ? `whole number ≥ ${spec.min}`
      : spec.kind === "choice"
        ? spec.values.map((v) => `\`${v}\``).join(", ")
        : TEXT_RANGES[spec.kind];
  return `| \`${spec.name}\` | ${spec.defaultText} | ${range} | ${SCOPES[spec.scope]} | ${spec.summary} |`;
}

/** The table docs/configuration.md must hold, row for row. */
export function expectedTable(): string[] {
  const supervisor = SUPERVISOR_SETTINGS.map(
    (s) =>
      `| \`${s.name}\` | ${s.fallback} | ${s.min === undefined ? "path" : `whole number ≥ ${s.min}`} | local (npm run dev) | ${s.summary} |`,
  );
  return [
    "| setting | default | range | where | what it does |",
    "|---|---|---|---|---|",
    ...SETTINGS.map(loaderRow),
    ...supervisor,
  ];
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|js)$/.test(name) && !name.includes(".test.") ? [path] : [];
  });
}

describe("docs/configuration.md", () => {
  const doc = readFileSync(join(root, "docs/configuration.md"), "utf8");
  const rows = doc.split("\n").filter((line) => line.startsWith("|"));

  it("has one table whose rows are exactly the settings the code defines", () => {
    expect(rows.join("\n"), `paste into docs/configuration.md:\n${expectedTable().join("\n")}\n`).toBe(
      expectedTable().join("\n"),
    );
  });

  it("lists every DWL_* name the loader and the supervisor read, and nothing they do not", () => {
    const documented = new Set([...SETTINGS.map((s) => s.name), ...SUPERVISOR_SETTINGS.map((s) => s.name)]);
    // Retired names are read only to refuse them (supervisor settings.ts RETIRED).
    const retired = new Set(["DWL_KEY_QUEUE"]);
    const read = new Set<string>();
    for (const file of [...sources(join(root, "apps/loader/src")), ...sources(join(root, "apps/supervisor/src"))]) {
      for (const [name] of readFileSync(file, "utf8").matchAll(/(?<![A-Za-z0-9_])DWL_[A-Z0-9_]*[A-Z0-9]/g))
        if (!retired.has(name)) read.add(name);
    }
    expect([...read].filter((name) => !documented.has(name)).sort(), "read by the code but not in the table").toEqual(
      [],
    );
    const env = readFileSync(join(root, "apps/loader/src/env.d.ts"), "utf8");
    const declared = [...env.matchAll(/^\s+(DWL_[A-Z0-9_]+)\?: string;/gm)].map((m) => m[1]).sort();
    expect(declared, "env.d.ts declares exactly the loader's settings").toEqual(SETTINGS.map((s) => s.name).sort());
  });
});
