import { describe, expect, it } from "vitest";
import { closeFrame, FrameBoundaries, SERVICE_RESTART } from "./ws-frames.ts";

/** A frame as a server sends it (unmasked), or masked as a client's, with `length` payload bytes. */
function frame(opcode: number, length: number, masked = false): Buffer {
  const lengthBytes =
    length < 126
      ? [length]
      : length < 65_536
        ? [126, length >> 8, length & 0xff]
        : [127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
  if (masked) lengthBytes[0] = (lengthBytes[0] as number) | 0x80;
  return Buffer.concat([
    Buffer.from([0x80 | opcode, ...lengthBytes]),
    masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0),
    Buffer.alloc(length, 7),
  ]);
}

describe("FrameBoundaries", () => {
  const parts = [frame(1, 5), frame(2, 0), frame(2, 300), frame(1, 70_000), frame(1, 9, true)];
  const stream = Buffer.concat(parts);
  /** Where each frame ends in `stream`. */
  const ends = new Set(parts.map((_, i) => Buffer.concat(parts.slice(0, i + 1)).length));

  it("knows a frame boundary after every length form, however the bytes are split", () => {
    for (const size of [1, 2, 3, 7, 1_000, stream.length]) {
      const frames = new FrameBoundaries();
      for (let at = 0; at < stream.length; at += size) {
        const chunk = stream.subarray(at, Math.min(at + size, stream.length));
        frames.feed(chunk);
        expect(frames.atBoundary, `split ${size}, at ${at + chunk.length}`).toBe(ends.has(at + chunk.length));
      }
      expect(frames.closeSeen).toBe(false);
    }
  });

  it("notes a close frame among the frames", () => {
    const frames = new FrameBoundaries();
    frames.feed(Buffer.concat([frame(1, 3), closeFrame(1000, "bye")]));
    expect(frames.closeSeen).toBe(true);
    expect(frames.atBoundary).toBe(true);
  });

  it("builds a close frame with its code and reason", () => {
    expect([...closeFrame(SERVICE_RESTART, "ab")]).toEqual([0x88, 4, 0x03, 0xf4, 97, 98]);
  });
});
