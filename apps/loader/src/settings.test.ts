import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import app from "./index.ts";
import { readServerLimits } from "./limits.ts";
import { call } from "../test/helpers.ts";
import {
  checkSettings,
  SettingError,
  SETTINGS,
  settingsFromEnvironment,
  testSettingsInEnvironment,
} from "./settings.ts";

describe("loader settings", () => {
  it.each([
    ["DWL_MAX_SANDBOXES", "abc", 'DWL_MAX_SANDBOXES="abc" is not a whole number ≥ 0 (default 100)'],
    ["DWL_MAX_SANDBOXES", "-1", 'DWL_MAX_SANDBOXES="-1" is not a whole number ≥ 0 (default 100)'],
    ["DWL_MAX_CPU_MS", "1.5", 'DWL_MAX_CPU_MS="1.5" is not a whole number ≥ 1 (default 30000)'],
    ["DWL_RATE_PER_MINUTE", "0", 'DWL_RATE_PER_MINUTE="0" is not a whole number ≥ 1 (default 1200)'],
    ["DWL_MAX_CODE_BYTES", "1e6", 'DWL_MAX_CODE_BYTES="1e6" is not a whole number ≥ 1 (default 1048576)'],
    [
      "DWL_CPU_ENFORCEMENT",
      "fast",
      'DWL_CPU_ENFORCEMENT="fast" is not one of instrument, platform, both (default instrument)',
    ],
    ["DWL_CPU_CLOCK_PERCENT", "99", 'DWL_CPU_CLOCK_PERCENT="99" is not a whole number ≥ 100 (default 200)'],
    ["DWL_ADMISSION", "global", 'DWL_ADMISSION="global" is not one of isolate, durable-object'],
    ["DWL_MODE", "locl", 'DWL_MODE="locl" is not one of local, production'],
    ["DWL_EGRESS_ALLOW_LOOPBACK", "yes", 'DWL_EGRESS_ALLOW_LOOPBACK="yes" is not one of true, false'],
    ["DWL_NPM_REGISTRY", "registry.npmjs.org", 'DWL_NPM_REGISTRY must be an http(s) URL; got "registry.npmjs.org"'],
    [
      "DWL_PUBLIC_ORIGIN",
      "http://127.0.0.1:8787/app",
      'DWL_PUBLIC_ORIGIN must be an http(s) origin without a path, like "http://127.0.0.1:8787"; got "http://127.0.0.1:8787/app"',
    ],
    [
      "DWL_SUPERVISOR_URL",
      "http://example.com:1",
      'DWL_SUPERVISOR_URL must be an http://127.0.0.1:<port> or http://localhost:<port> URL; got "http://example.com:1"',
    ],
    ["DWL_API_KEYS", "[1]", 'DWL_API_KEYS is not valid JSON: expected { "<sha256 hex of key>": "<tenant>" }'],
  ])("refuses %s=%s by name, never as 'no limit'", (name, value, message) => {
    expect(() => checkSettings({ [name]: value })).toThrow(SettingError);
    expect(() => checkSettings({ [name]: value })).toThrow(message);
    expect(() => readServerLimits({ [name]: value })).toThrow(message);
  });

  it("never echoes a secret's value", () => {
    expect(() => checkSettings({ DWL_API_KEYS: "not json, secret-ish" })).toThrow(
      /^DWL_API_KEYS is not valid JSON: expected \{ "<sha256 hex of key>": "<tenant>" \}$/,
    );
  });

  it("takes numbers from [vars] as written, and empty values as unset", () => {
    expect(readServerLimits({ DWL_MAX_SANDBOXES: 7, DWL_MAX_CPU_MS: "" })).toMatchObject({
      maxSandboxes: 7,
      maxCpuMs: 30_000,
    });
  });

  it("takes from npm run dev's environment every loader setting but the supervisor's and the tests' own", () => {
    const vars = settingsFromEnvironment({
      DWL_MAX_SANDBOXES: "5",
      DWL_MODE: "production",
      DWL_PUBLIC_ORIGIN: "http://x.test",
      DWL_TEST_UPSTREAM: "http://127.0.0.1:1",
      DWL_HEAP_MB: "512",
      HOME: "/root",
    });
    expect(vars).toEqual({ DWL_MAX_SANDBOXES: "5" });
    // Not taken, but not in silence either.
    expect(testSettingsInEnvironment({ DWL_EGRESS_ALLOW_LOOPBACK: "true", DWL_MAX_SANDBOXES: "5" })).toEqual([
      { name: "DWL_EGRESS_ALLOW_LOOPBACK", value: "true" },
    ]);
    expect(
      SETTINGS.filter((s) => s.setBySupervisor)
        .map((s) => s.name)
        .sort(),
    ).toEqual(["DWL_MODE", "DWL_PUBLIC_ORIGIN", "DWL_SUPERVISOR_URL"]);
  });

  it("states each limit's real default (docs/configuration.md shows the same text)", () => {
    for (const mode of ["local", "production"] as const) {
      const defaults = readServerLimits({ DWL_MODE: mode });
      for (const s of SETTINGS) {
        if ((s.kind !== "integer" && s.kind !== "choice") || s.name === "DWL_MODE" || s.scope === "tests") continue;
        // "100 local, 0 deployed" or one value for both.
        const parts = s.defaultText.split(", ").map((part) => part.split(" ")[0] as string);
        const value = parts.length === 2 ? parts[mode === "local" ? 0 : 1] : parts[0];
        if (value === "`DWL_MAX_TIMEOUT_MS`") {
          expect(readServerLimits({ DWL_MODE: mode, DWL_MAX_TIMEOUT_MS: "1234" }).admissionMaxWaitMs, s.name).toBe(
            1234,
          );
          continue;
        }
        expect(readServerLimits({ DWL_MODE: mode, [s.name]: value }), `${s.name}=${value} (${mode})`).toEqual(defaults);
      }
    }
  });

  it("the test configuration itself is valid: /healthz answers", async () => {
    expect((await call("/healthz")).status).toBe(200);
  });

  it("answers every request, /healthz included, with 500 not_configured naming a bad var", async () => {
    const bad = { ...env, DWL_MAX_SANDBOXES: "abc" };
    for (const path of ["/healthz", "/sandboxes"]) {
      const res = await app.fetch(
        new Request(`http://loader.test${path}`, { headers: { authorization: "Bearer dwl_local_dev" } }),
        bad,
      );
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({
        error: {
          type: "not_configured",
          message: 'the loader is misconfigured: DWL_MAX_SANDBOXES="abc" is not a whole number ≥ 0 (default 100)',
        },
      });
    }
  });
});
