import { describe, expect, it } from "vitest";
import { MIN_ENCRYPTION_KEY_CHARS } from "../limits.ts";
import { DEV_ENCRYPTION_KEY, openSecret, sealSecret, SecretError } from "./secrets.ts";

const KEY = "test-encryption-key-0123456789abcdef";
const OTHER_KEY = "another-encryption-key-0123456789abcdef";
const GITHUB = { tenant: "acme", name: "github" };
const TOKEN = "ghp_example-token-value";

/** Resolves to the SecretError an operation fails with, or fails the test. */
async function secretError(promise: Promise<unknown>): Promise<SecretError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SecretError);
  return error as SecretError;
}

/** Flips one bit of the byte at `index` in a base64url field, keeping the encoding valid. */
function flipBit(field: string, index: number): string {
  const binary = atob(field.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (field.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

describe("sealSecret / openSecret", () => {
  it("round-trips a value for the same key, tenant and name", async () => {
    const sealed = await sealSecret(KEY, TOKEN, GITHUB);
    await expect(openSecret(KEY, sealed, GITHUB)).resolves.toBe(TOKEN);
  });

  it("round-trips empty, long and non-ASCII values", async () => {
    for (const value of ["", "x".repeat(64 * 1024), "pässwörd 🔑 \u0000 end", "\ufeffstarts with a BOM"]) {
      await expect(openSecret(KEY, await sealSecret(KEY, value, GITHUB), GITHUB)).resolves.toBe(value);
    }
  });

  it("produces a versioned base64url value with a 12-byte IV that never contains the plaintext", async () => {
    const sealed = await sealSecret(KEY, TOKEN, GITHUB);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(TOKEN);
    // 23 bytes of plaintext + a 16-byte tag.
    expect(sealed.split(".")[2]).toHaveLength(Math.ceil(((TOKEN.length + 16) * 4) / 3));
  });

  it("uses a different IV, hence a different ciphertext, every time", async () => {
    const sealed = await Promise.all(Array.from({ length: 20 }, () => sealSecret(KEY, TOKEN, GITHUB)));
    expect(new Set(sealed.map((s) => s.split(".")[1])).size).toBe(20);
    expect(new Set(sealed).size).toBe(20);
  });

  it("refuses a value copied to another tenant", async () => {
    const sealed = await sealSecret(KEY, TOKEN, GITHUB);
    const error = await secretError(openSecret(KEY, sealed, { tenant: "other", name: "github" }));
    expect(error.code).toBe("undecryptable");
  });

  it("refuses a value copied to another name", async () => {
    const sealed = await sealSecret(KEY, TOKEN, GITHUB);
    expect((await secretError(openSecret(KEY, sealed, { tenant: "acme", name: "stripe" }))).code).toBe("undecryptable");
    expect((await secretError(openSecret(KEY, sealed, { tenant: "acme", name: "GitHub" }))).code).toBe("undecryptable");
  });

  it("binds tenant and name unambiguously, so shifting a separator between them does not decrypt", async () => {
    const sealed = await sealSecret(KEY, TOKEN, { tenant: "a.b", name: "c" });
    await secretError(openSecret(KEY, sealed, { tenant: "a", name: "b.c" }));
    const quoted = await sealSecret(KEY, TOKEN, { tenant: 'a","b', name: "c" });
    await secretError(openSecret(KEY, quoted, { tenant: "a", name: 'b","c' }));
  });

  it("refuses a value sealed under another key", async () => {
    const sealed = await sealSecret(OTHER_KEY, TOKEN, GITHUB);
    expect((await secretError(openSecret(KEY, sealed, GITHUB))).code).toBe("undecryptable");
  });

  it("refuses a value whose ciphertext, tag or IV was altered", async () => {
    const sealed = await sealSecret(KEY, TOKEN, GITHUB);
    const [version, iv = "", data = ""] = sealed.split(".");
    const tamperedBody = `${version}.${iv}.${flipBit(data, 0)}`;
    const tamperedTag = `${version}.${iv}.${flipBit(data, TOKEN.length + 15)}`;
    const tamperedIv = `${version}.${flipBit(iv, 11)}.${data}`;
    for (const bad of [tamperedBody, tamperedTag, tamperedIv]) {
      expect((await secretError(openSecret(KEY, bad, GITHUB))).code).toBe("undecryptable");
    }
  });

  it("refuses a value swapped with another credential's IV", async () => {
    const [, ivA] = (await sealSecret(KEY, TOKEN, GITHUB)).split(".");
    const [version, , dataB] = (await sealSecret(KEY, TOKEN, GITHUB)).split(".");
    await secretError(openSecret(KEY, `${version}.${ivA}.${dataB}`, GITHUB));
  });

  it.each([
    ["an empty string", ""],
    ["plain text", "ghp_notsealed"],
    ["an unknown version", "v2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"],
    ["a missing part", "v1.AAAAAAAAAAAAAAAA"],
    ["an extra part", "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AA"],
    ["standard base64 characters", "v1.AAAAAAAAAAAAAAA+.AAAAAAAAAAAAAAAAAAAAAA"],
    ["padding", "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA=="],
    ["a short IV", "v1.AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"],
    ["a ciphertext shorter than the tag", "v1.AAAAAAAAAAAAAAAA.AAAA"],
    ["an impossible base64 length", "v1.AAAAAAAAAAAAAAAA.AAAAA"],
    ["non-canonical trailing bits", "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAB"],
  ])("refuses %s as malformed, without decrypting", async (_, sealed) => {
    const error = await secretError(openSecret(KEY, sealed, GITHUB));
    expect(error.code).toBe("malformed");
    expect(error.name).toBe("SecretError");
  });

  it("never puts the plaintext or the key in an error message", async () => {
    const sealed = await sealSecret(KEY, TOKEN, GITHUB);
    const errors = [
      await secretError(openSecret(KEY, sealed, { tenant: "x", name: "y" })),
      await secretError(openSecret(OTHER_KEY, sealed, GITHUB)),
      await secretError(openSecret(KEY, `${sealed}x`, GITHUB)),
      await secretError(sealSecret("short", TOKEN, GITHUB)),
    ];
    for (const error of errors) {
      for (const secret of [TOKEN, KEY, OTHER_KEY, "short"]) expect(error.message).not.toContain(secret);
    }
  });

  it("refuses an encryption key shorter than the minimum, for sealing and opening", async () => {
    const short = "k".repeat(MIN_ENCRYPTION_KEY_CHARS - 1);
    expect((await secretError(sealSecret(short, TOKEN, GITHUB))).code).toBe("bad_key");
    expect((await secretError(openSecret(short, "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", GITHUB))).code).toBe(
      "bad_key",
    );
    expect((await secretError(sealSecret("", TOKEN, GITHUB))).code).toBe("bad_key");
  });

  it("works with the documented dev key", async () => {
    expect(DEV_ENCRYPTION_KEY.length).toBeGreaterThanOrEqual(MIN_ENCRYPTION_KEY_CHARS);
    const sealed = await sealSecret(DEV_ENCRYPTION_KEY, TOKEN, { tenant: "local", name: "github" });
    await expect(openSecret(DEV_ENCRYPTION_KEY, sealed, { tenant: "local", name: "github" })).resolves.toBe(TOKEN);
  });

  it("derives the same key across calls, so values sealed earlier still open", async () => {
    const sealed = await Promise.all([sealSecret(KEY, "a", GITHUB), sealSecret(KEY, "b", GITHUB)]);
    await expect(Promise.all(sealed.map((s) => openSecret(KEY, s, GITHUB)))).resolves.toEqual(["a", "b"]);
  });
});
