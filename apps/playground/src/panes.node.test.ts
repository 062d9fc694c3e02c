import { describe, expect, it } from "vitest";
import { locate } from "./panes.ts";

describe("locate", () => {
  it("marks a compile error's location, a JS stack's first frame in the program, a Python traceback's last", () => {
    expect(
      locate({ type: "compile", name: "CompileError", message: "m", location: { file: "a.ts", line: 2, column: 3 } }, [
        "a.ts",
      ]),
    ).toMatchObject({ file: "a.ts", line: 2, column: 3 });
    expect(
      locate({ name: "TypeError", message: "m", stack: "TypeError: m\n    at f (lib.ts:4:5)\n    at index.ts:9:1" }, [
        "index.ts",
        "lib.ts",
      ]),
    ).toMatchObject({ file: "lib.ts", line: 4, column: 5 });
    const traceback =
      'Traceback (most recent call last):\n  File "main.py", line 7, in main\n    helper()\n  File "util.py", line 3, in helper\n    return d["k"]\nKeyError: \'k\'';
    expect(locate({ name: "KeyError", message: "'k'", stack: traceback }, ["main.py", "util.py"])).toMatchObject({
      file: "util.py",
      line: 3,
      column: 1,
    });
    expect(locate({ name: "KeyError", message: "'k'", stack: traceback }, ["other.py"])).toBeNull();
  });
});
