import { describe, expect, it } from "vitest";
import { DwlHttpError } from "../errors.ts";
import { assertNoDotSegments } from "./files.ts";

// The test client's Request constructor resolves dot segments before the loader sees them, so
// the raw URLs a real HTTP request carries are checked here (issue 20).
describe("/files dot segments", () => {
  it.each([
    "/files/ns/%2e%2e/other/key",
    "/files/ns/%2E%2e/other/key",
    "/files/ns/.%2e/other/key",
    "/files/ns/../other/key",
    "/files/ns/./key",
    "/files/%2e",
    "/files/ns/a/%2e?x=1",
  ])("refuses %s with a 400", (path) => {
    let caught: unknown;
    try {
      assertNoDotSegments(`http://loader.test${path}`);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DwlHttpError);
    expect((caught as DwlHttpError).status).toBe(400);
  });

  it.each(["/files/ns/a.b/key", "/files/ns/...", "/files/ns/%2e%2e%2e", "/files/ns/key?prefix=../x", "/files/ns/k#.."])(
    "lets %s through",
    (path) => {
      expect(() => assertNoDotSegments(`http://loader.test${path}`)).not.toThrow();
    },
  );
});
