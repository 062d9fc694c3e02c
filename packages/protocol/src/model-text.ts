/**
 * @module model-text
 * How a run's result reads for a model (the MCP `execute` tool, the SDK's Code Mode tool): the
 * same text and the same cut on both, so a model sees one format whichever way it calls DWL.
 */

/** Result text longer than this is cut in what the model reads. */
export const MAX_MODEL_RESULT_CHARS = 50_000;

/**
 * `result:` and the value as JSON: indented when that fits MAX_MODEL_RESULT_CHARS, else compact
 * (indentation alone took ~45 % of a large result's room), cut at MAX_MODEL_RESULT_CHARS with a
 * count of the rest and what to do instead.
 */
export function resultForModel(value: unknown): string {
  const indented = JSON.stringify(value, null, 2) ?? "null";
  if (indented.length <= MAX_MODEL_RESULT_CHARS) return `result:\n${indented}`;
  const json = JSON.stringify(value) ?? "null";
  if (json.length <= MAX_MODEL_RESULT_CHARS) return `result:\n${json}`;
  const more = json.length - MAX_MODEL_RESULT_CHARS;
  return `result:\n${json.slice(0, MAX_MODEL_RESULT_CHARS)}\n… (${more} more characters: return a summary, or write the whole to env.FILES and return its key)`;
}
