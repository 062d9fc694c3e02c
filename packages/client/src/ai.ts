/**
 * @module @dwl/client/ai
 * Code Mode for the Vercel AI SDK (`ai` ≥ 5, an optional peer dependency: only this entry point
 * imports it). One `tool()` whose description lists the TypeScript API a program can use and whose
 * `execute` runs the model's program on the loader, answering result, logs or error.
 */
import { jsonSchema, tool, type Tool } from "ai";
// Only from the SDK's entry point: the build keeps it an import of dist/index.js, so `DwlClient`
// and `DwlRequestError` are the user's own classes here, not a second bundled copy.
import {
  apiDeclarations,
  codeModeParameters,
  describeCodeMode,
  runCodeMode,
  type CodeModeInput,
  type CodeModeOptions,
  type CodeModeResult,
  type DwlClient,
  type RequestOptions,
} from "./index.ts";

/**
 * A Code Mode tool for `generateText`, `streamText` or an `Agent`. Async: it reads the API
 * declarations from the loader once, when built (pass `tools` to include operator tools').
 *
 * @example
 * import { codeModeTool } from "@dwl/client/ai";
 * const result = await generateText({
 *   model,
 *   tools: { execute_program: await codeModeTool(dwl, { egress: { allow: ["api.github.com"] } }) },
 *   stopWhen: stepCountIs(5),
 *   prompt: "How many stars do the three newest cloudflare repositories have?",
 * });
 */
export async function codeModeTool(
  dwl: DwlClient,
  options: CodeModeOptions = {},
  request: RequestOptions = {},
): Promise<Tool<CodeModeInput, CodeModeResult>> {
  const sections = await apiDeclarations(dwl, { tools: options.tools ?? [], ...request });
  return tool({
    description: describeCodeMode(sections, options),
    inputSchema: jsonSchema<CodeModeInput>(codeModeParameters() as Parameters<typeof jsonSchema>[0]),
    // The generation's abort signal stops the run's HTTP call too.
    execute: (input, { abortSignal }) =>
      runCodeMode(dwl, input, options, { ...request, ...(abortSignal ? { signal: abortSignal } : {}) }),
  });
}

export { CODE_MODE_TOOL_NAME } from "./index.ts";
export type { CodeModeInput, CodeModeOptions, CodeModeResult } from "./index.ts";
