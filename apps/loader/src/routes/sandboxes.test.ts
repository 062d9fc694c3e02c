import { describe, expect, it } from "vitest";
import { programPath } from "./sandboxes.ts";

// The test client's Request constructor resolves `%2e%2e` before the loader sees it, so the raw
// URLs a real HTTP request carries are checked here; whole requests: test/e2e/sandboxes.test.ts.
describe("programPath", () => {
  it.each([
    ["/sandboxes/sb_1/http/", "/"],
    ["/sandboxes/sb_1/http/hello?x=1", "/hello?x=1"],
    ["/sandboxes/sb_1/http//evil.com/x", "//evil.com/x"],
    ["/sandboxes/sb_1/http/%2e%2e/x", "/%2e%2e/x"],
    ["/sandboxes/sb_1/http/%2E%2e/%2e%2e/x?y=/../z", "/%2E%2e/%2e%2e/x?y=/../z"],
    ["/sandboxes/sb%5F1/http/a/b", "/a/b"],
    ["/sandboxes/sb_1/http/a#frag", "/a"],
  ])("reads %s as the program's %s", (path, expected) => {
    expect(programPath(`http://loader.test${path}`)).toBe(expected);
  });
});
