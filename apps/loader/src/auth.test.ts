import { describe, expect, it } from "vitest";
import { authenticate, DEV_API_KEY } from "./auth.ts";
import type { DwlHttpError } from "./errors.ts";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as DwlHttpError,
  );

describe("authenticate", () => {
  it("accepts the dev key in local mode only", async () => {
    expect(await authenticate(`Bearer ${DEV_API_KEY}`, { DWL_MODE: "local" })).toBe("local");
    const keys = JSON.stringify({ [await sha256Hex("real-key")]: "acme" });
    expect(
      await failure(authenticate(`Bearer ${DEV_API_KEY}`, { DWL_MODE: "production", DWL_API_KEYS: keys })),
    ).toMatchObject({ status: 401 });
  });

  it("refuses every request of a deployed loader without keys, saying what to configure", async () => {
    const err = await failure(authenticate(`Bearer ${DEV_API_KEY}`, { DWL_MODE: "production" }));
    expect(err).toMatchObject({ status: 503, type: "not_configured" });
    expect(err?.message).toContain("DWL_API_KEYS");
  });

  it("maps configured keys (stored as SHA-256 hashes) to their tenants", async () => {
    const keys = JSON.stringify({ [await sha256Hex("key-a")]: "tenant-a", [await sha256Hex("key-b")]: "tenant-b" });
    expect(await authenticate("Bearer key-b", { DWL_MODE: "production", DWL_API_KEYS: keys })).toBe("tenant-b");
    expect(await failure(authenticate("Bearer key-c", { DWL_MODE: "production", DWL_API_KEYS: keys }))).toMatchObject({
      status: 401,
    });
    expect(await failure(authenticate(undefined, { DWL_MODE: "production", DWL_API_KEYS: keys }))).toMatchObject({
      status: 401,
    });
  });

  it("reads hashes in either case, skips entries of another shape, and refuses a configuration that is not JSON", async () => {
    const upper = JSON.stringify({
      [(await sha256Hex("key-a")).toUpperCase()]: "tenant-a",
      short: "x",
      [await sha256Hex("key-b")]: 7,
    });
    expect(await authenticate("Bearer key-a", { DWL_MODE: "production", DWL_API_KEYS: upper })).toBe("tenant-a");
    expect(await failure(authenticate("Bearer key-b", { DWL_MODE: "production", DWL_API_KEYS: upper }))).toMatchObject({
      status: 401,
    });
    expect(await failure(authenticate("Bearer key-a", { DWL_MODE: "production", DWL_API_KEYS: "null" }))).toMatchObject(
      {
        status: 503,
      },
    );
    expect(await failure(authenticate("Bearer key-a", { DWL_MODE: "production", DWL_API_KEYS: "{" }))).toMatchObject({
      type: "not_configured",
    });
  });
});
