import { describe, expect, it } from "vitest";
import { integrityProblem } from "./integrity.ts";

const data = new TextEncoder().encode("tarball bytes");

async function digest(algorithm: string, encoding: "base64" | "hex"): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest(algorithm, data));
  return encoding === "hex"
    ? Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
    : btoa(String.fromCharCode(...bytes));
}

describe("integrityProblem", () => {
  it("accepts a matching sha512 integrity", async () => {
    expect(await integrityProblem(data, { integrity: `sha512-${await digest("SHA-512", "base64")}` })).toBeUndefined();
  });

  it("rejects a mismatching one, even with a matching weaker hash beside it", async () => {
    const integrity = `sha1-${await digest("SHA-1", "base64")} sha512-${btoa("not the digest")}`;
    expect(await integrityProblem(data, { integrity })).toMatch(/sha512 digest does not match/);
  });

  it("falls back to the hex SHA-1 shasum of old packages", async () => {
    expect(await integrityProblem(data, { shasum: await digest("SHA-1", "hex") })).toBeUndefined();
    expect(await integrityProblem(data, { shasum: "0".repeat(40) })).toMatch(/SHA-1 does not match/);
  });

  it("refuses a tarball the registry gives no hash for", async () => {
    expect(await integrityProblem(data, {})).toMatch(/no integrity/);
  });
});
