import { describe, expect, it } from "vitest";
import { MAX_MODEL_RESULT_CHARS, resultForModel } from "./model-text.ts";

describe("resultForModel", () => {
  it("indents a result that fits", () => {
    expect(resultForModel({ a: [1, 2] })).toBe('result:\n{\n  "a": [\n    1,\n    2\n  ]\n}');
  });

  it("gives a large result compact when only that fits, whole", () => {
    // ~36,000 characters compact, over 50,000 indented.
    const rows = Array.from({ length: 1_500 }, (_, i) => ({ id: i, name: `n${i}` }));
    const text = resultForModel(rows);
    expect(text).toBe(`result:\n${JSON.stringify(rows)}`);
  });

  it("cuts a result too large either way, saying how much is left and what to do instead", () => {
    const rows = Array.from({ length: 3_000 }, (_, i) => ({ id: i, name: `name-${i}` }));
    const compact = JSON.stringify(rows);
    const text = resultForModel(rows);
    expect(text.startsWith(`result:\n${compact.slice(0, MAX_MODEL_RESULT_CHARS)}\n… (`)).toBe(true);
    expect(text).toContain(
      `(${compact.length - MAX_MODEL_RESULT_CHARS} more characters: return a summary, or write the whole to env.FILES and return its key)`,
    );
  });
});
