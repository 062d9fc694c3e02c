/**
 * @module tools/registry
 * The one place operator tools are registered. To add a tool: write a ToolEntrypoint subclass
 * whose typed methods answer through `this.toolCall` (tools/notes.ts is a template; the base
 * class holds the rules every tool shares), export it from index.ts, and add an entry here with
 * its TypeScript declaration (what MCP `search` shows to models).
 */
import { JSON_API_DECLARATION } from "./json-api.ts";
import { NOTES_DECLARATION } from "./notes.ts";

export interface ToolDefinition {
  /** Name of the binding in the program: `env.<binding>`. */
  binding: string;
  /** The exported entrypoint class (index.ts) that implements it. */
  entrypoint: "NotesTool" | "JsonApiTool";
  summary: string;
  declaration: string;
}

export const TOOLS: Readonly<Record<string, ToolDefinition>> = {
  notes: {
    binding: "NOTES",
    entrypoint: "NotesTool",
    summary: "a searchable notebook in the tenant's storage",
    declaration: NOTES_DECLARATION,
  },
  "json-api": {
    binding: "JSON_API",
    entrypoint: "JsonApiTool",
    summary: "JSON over HTTP through the egress gateway, with stored credentials",
    declaration: JSON_API_DECLARATION,
  },
};

/**
 * The tool of that name, or undefined. An own-property lookup: `constructor`, `__proto__` or
 * `toString` are inherited from Object.prototype, not tools (`name in TOOLS` took them for ones).
 */
export function toolDefinition(name: string): ToolDefinition | undefined {
  return Object.hasOwn(TOOLS, name) ? TOOLS[name] : undefined;
}
