import { describe, expect, it } from "vitest";
import { MAX_LIST_CURSOR_CHARS } from "../limits.ts";
import { ListCursorError, unwrapCursor, wrapCursor } from "./list-cursor.ts";

const LISTING = ["FILES", "t/acme/default/notes/", "/"];

describe("list cursors", () => {
  it("gives back the storage's cursor for the listing it was handed out for", () => {
    for (const raw of ["AAEC", "opaque-cursör/with=signs+", "x".repeat(900)])
      expect(unwrapCursor("FILES", LISTING, wrapCursor(LISTING, raw))).toBe(raw);
  });

  it("refuses any other cursor with a ListCursorError naming cursor", () => {
    const handedOut = wrapCursor(LISTING, "AAEC");
    const others = [
      "garbage",
      "",
      "%%%",
      btoa("[1,2]"),
      wrapCursor(["FILES", "t/acme/default/other/", "/"], "AAEC"),
      wrapCursor(["FILES", "t/acme/default/notes/", ""], "AAEC"),
      wrapCursor(["KV", "t/acme/default/notes/", "/"], "AAEC"),
      wrapCursor(LISTING, ""),
      handedOut.slice(1),
    ];
    for (const cursor of others) {
      let caught: unknown;
      try {
        unwrapCursor("FILES", LISTING, cursor);
      } catch (err) {
        caught = err;
      }
      expect(caught, cursor).toBeInstanceOf(ListCursorError);
      expect((caught as ListCursorError).field).toBe("cursor");
      expect((caught as Error).name).toBe("RangeError");
    }
  });

  it("refuses a cursor longer than MAX_LIST_CURSOR_CHARS before decoding it", () => {
    const longest = wrapCursor(LISTING, "y".repeat(3000));
    expect(longest.length).toBeLessThanOrEqual(MAX_LIST_CURSOR_CHARS);
    expect(unwrapCursor("FILES", LISTING, longest)).toBe("y".repeat(3000));
    const over = wrapCursor(LISTING, "y".repeat(3100));
    expect(over.length).toBeGreaterThan(MAX_LIST_CURSOR_CHARS);
    expect(() => unwrapCursor("FILES", LISTING, over)).toThrow(ListCursorError);
    expect(() => unwrapCursor("FILES", LISTING, "A".repeat(5_000_000))).toThrow(ListCursorError);
  });
});
