/**
 * @module compile-error
 * The one error a bundling step throws; the execute route turns it into `{ type: "compile" }`.
 */
import type { SourceLocation } from "@dwl/protocol";
import type { Message } from "./esbuild.ts";
import { VIRTUAL_NAMESPACE } from "./virtual-files.ts";

export class CompileError extends Error {
  constructor(
    message: string,
    readonly location?: SourceLocation,
  ) {
    super(message);
    this.name = "CompileError";
  }

  /** esbuild reports columns 0-based; DWL uses 1-based columns everywhere, like stack traces. */
  static fromEsbuild(messages: Message[]): CompileError {
    const first = messages[0];
    if (!first) return new CompileError("bundling failed");
    const loc = first.location;
    if (!loc) return new CompileError(first.text);
    const file = loc.file.startsWith(`${VIRTUAL_NAMESPACE}:`) ? loc.file.slice(VIRTUAL_NAMESPACE.length + 1) : loc.file;
    const where = `${file}:${loc.line}:${loc.column + 1}`;
    const more = messages.length > 1 ? ` (and ${messages.length - 1} more error${messages.length > 2 ? "s" : ""})` : "";
    return new CompileError(`${where}: ${first.text}${more}`, {
      file,
      line: loc.line,
      column: loc.column + 1,
      lineText: loc.lineText,
    });
  }
}
