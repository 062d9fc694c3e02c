/** `npm run dev` refuses a malformed setting at once, naming it, instead of running with NaN. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSettings, v8FlagsOf } from "./settings.ts";

const root = new URL("../../../", import.meta.url).pathname;

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ["scripts/serve.mjs"], {
    cwd: root,
    env: { ...process.env, PORT: "0", ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
}

describe("supervisor settings", () => {
  it.each([
    ["DWL_QUEUE_MAX_WAIT_MS", "abc", "≥ 1 (default 30000)"],
    ["DWL_KEY_CONCURRENCY", "0", "≥ 1 (default 16)"],
    ["DWL_KEY_CPU_MS", "-5", "≥ 1 (default DWL_MAX_CPU_MS)"],
    ["DWL_RECYCLE_RSS_MB", "1.5", "≥ 1 (default 320)"],
    ["DWL_WEBSOCKET_LAG_BYTES", "0", "≥ 1 (default 16777216)"],
  ])("stops on %s=%s", (name, value, range) => {
    const run = start({ [name]: value });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`[dwl] ${name}=${JSON.stringify(value)} is not a whole number ${range}`);
  });

  it("stops on a loader setting the loader would refuse, from the environment or --var, before starting it", () => {
    const fromEnv = start({ DWL_MAX_SANDBOXES: "abc" });
    expect(fromEnv.status).toBe(2);
    expect(fromEnv.stderr).toContain('[dwl] DWL_MAX_SANDBOXES="abc" is not a whole number ≥ 0 (default 100)');
    const fromVar = spawnSync(process.execPath, ["scripts/serve.mjs", "--var", "DWL_CPU_ENFORCEMENT:fast"], {
      cwd: root,
      env: { ...process.env, PORT: "0" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(fromVar.status).toBe(2);
    expect(fromVar.stderr).toContain('[dwl] DWL_CPU_ENFORCEMENT="fast" is not one of instrument, platform, both');
  });

  it("names a setting that no longer exists instead of ignoring it", () => {
    const run = start({ DWL_KEY_QUEUE: "34" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("[dwl] DWL_KEY_QUEUE is no longer used");
  });

  it("serves the build DWL_LOADER_BUILD names, as it is, and stops when it names no build", () => {
    const dir = mkdtempSync(join(tmpdir(), "dwl-build-"));
    try {
      const missing = start({ DWL_LOADER_BUILD: dir });
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain(`[dwl] DWL_LOADER_BUILD: ${dir} holds no loader build`);
      // A value wrangler.toml does not hold: only this build's options can have brought it.
      writeFileSync(join(dir, "index.js"), "export default {};\n");
      writeFileSync(join(dir, "worker-options.json"), JSON.stringify({ bindings: { DWL_MAX_SANDBOXES: "lots" } }));
      const served = start({ DWL_LOADER_BUILD: dir });
      expect(served.status).toBe(2);
      expect(served.stderr).toContain('[dwl] DWL_MAX_SANDBOXES="lots" is not a whole number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an argument it does not know", () => {
    const run = spawnSync(process.execPath, ["scripts/serve.mjs", "--persist-to", "x"], {
      cwd: root,
      env: { ...process.env, PORT: "0" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown argument "--persist-to"');
  });

  it("drains below the cap: ¾ of DWL_MAX_RSS_MB by default, a threshold just below it, never one at it (0: off)", () => {
    const drain = (env: Record<string, string>) => readSettings({ PORT: "0", ...env }).drainResidentMb;
    expect(drain({})).toBe(1536);
    expect(drain({ DWL_MAX_RSS_MB: "1000" })).toBe(750);
    expect(drain({ DWL_DRAIN_RSS_MB: "2047" })).toBe(2047);
    expect(drain({ DWL_DRAIN_RSS_MB: "0" })).toBe(0);
    expect(() => drain({ DWL_DRAIN_RSS_MB: "2048" })).toThrow(
      "DWL_DRAIN_RSS_MB (2048) is not below DWL_MAX_RSS_MB (2048): the runtime would meet the cap before it drains (0: never drain)",
    );
  });

  it("sets the regular-expression fallback flags from DWL_REGEXP_BACKTRACKS, none at 0", () => {
    const flags = (env: Record<string, string>) => v8FlagsOf(readSettings({ PORT: "0", ...env }));
    expect(flags({})).toEqual([
      "--enable-experimental-regexp-engine-on-excessive-backtracks",
      "--regexp-backtracks-before-fallback=10000",
      "--max-old-space-size=256",
    ]);
    expect(flags({ DWL_REGEXP_BACKTRACKS: "1", DWL_HEAP_MB: "128" })).toEqual([
      "--enable-experimental-regexp-engine-on-excessive-backtracks",
      "--regexp-backtracks-before-fallback=1",
      "--max-old-space-size=128",
    ]);
    expect(flags({ DWL_REGEXP_BACKTRACKS: "0" })).toEqual(["--max-old-space-size=256"]);
    expect(() => flags({ DWL_REGEXP_BACKTRACKS: "-1" })).toThrow(
      'DWL_REGEXP_BACKTRACKS="-1" is not a whole number ≥ 0 (default 10000)',
    );
  });
});
