import { describe, expect, it } from "vitest";
import { scrubStream } from "./scrub.ts";

/** The text `chunks` become once scrubbed, fed to the stream one chunk at a time. */
async function scrubbed(chunks: string[], scrubs: { value: string; replacement: string }[]): Promise<string> {
  const encoder = new TextEncoder();
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(source.pipeThrough(scrubStream(scrubs))).text();
}

describe("scrubStream", () => {
  const secret = [{ value: "s3cr3t-value", replacement: "PLACEHOLDER" }];

  it("replaces a value split across chunks at every point", async () => {
    const text = "before s3cr3t-value middle s3cr3t-value after";
    for (let cut = 0; cut <= text.length; cut++) {
      expect(await scrubbed([text.slice(0, cut), text.slice(cut)], secret)).toBe(
        "before PLACEHOLDER middle PLACEHOLDER after",
      );
    }
    expect(await scrubbed([...text], secret)).toBe("before PLACEHOLDER middle PLACEHOLDER after");
  });

  it("passes bodies without the value through unchanged, a trailing prefix of it included", async () => {
    expect(await scrubbed(["hello ", "world s3cr3t-val"], secret)).toBe("hello world s3cr3t-val");
    expect(await scrubbed([], secret)).toBe("");
  });

  it("replaces the longer of two overlapping values whole, and each value where it starts first", async () => {
    const scrubs = [
      { value: "abc", replacement: "<short>" },
      { value: "abcdef", replacement: "<long>" },
    ];
    expect(await scrubbed(["xabcdefx", "abcx"], scrubs)).toBe("x<long>x<short>x");
    expect(await scrubbed(["zzabc"], [...scrubs, { value: "zabcdef", replacement: "<z>" }])).toBe("zz<short>");
  });
});
