import { describe, expect, it } from "vitest";
import { hex, randomHex, rememberedChars, sha256Hex } from "./hash.ts";
import { MAX_HASH_MEMO_CHARS } from "./limits.ts";

const ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The reference digest, computed without the module under test. */
async function reference(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("sha256Hex", () => {
  it("gives the standard digests, the same on a repeat as on the first call", async () => {
    expect(await sha256Hex("abc")).toBe(ABC);
    expect(await sha256Hex("abc")).toBe(ABC);
    expect(await sha256Hex("")).toBe(EMPTY);
    for (const text of ["é ü 漢字 🙂", "\u0000", "a".repeat(70_000)]) {
      expect(await sha256Hex(text)).toBe(await reference(text));
      expect(await sha256Hex(text)).toBe(await reference(text));
    }
  });

  it("keeps the texts it remembers within MAX_HASH_MEMO_CHARS, and stays right past the bound", async () => {
    const size = MAX_HASH_MEMO_CHARS / 16;
    const texts = Array.from({ length: 40 }, (_, i) => `${i}:`.padEnd(size, "x"));
    for (const text of texts) {
      await sha256Hex(text);
      expect(rememberedChars()).toBeLessThanOrEqual(MAX_HASH_MEMO_CHARS);
    }
    expect(rememberedChars()).toBeGreaterThan(MAX_HASH_MEMO_CHARS / 2);
    // The first texts have been let go, the last are remembered: both answer the same.
    for (const text of [texts[0], texts[39]] as string[]) expect(await sha256Hex(text)).toBe(await reference(text));
    const tooLong = "y".repeat(size + 1);
    const before = rememberedChars();
    expect(await sha256Hex(tooLong)).toBe(await reference(tooLong));
    expect(rememberedChars()).toBe(before);
  });
});

describe("hex and randomHex", () => {
  it("write every byte as two lowercase digits", () => {
    expect(hex(new Uint8Array([0, 1, 15, 16, 171, 255]))).toBe("00010f10abff");
    expect(randomHex(10)).toMatch(/^[0-9a-f]{20}$/);
    expect(randomHex(10)).not.toBe(randomHex(10));
  });
});
