/**
 * @module compile-error
 * The one error that preparing a program throws (bundling, npm resolution and download, Python
 * compilation); the pipeline turns it into `{ type: "compile" }`. It lives outside bundle/ and
 * npm/ because both throw it.
 */
import type { SourceLocation } from "@dwl/protocol";

/** The part of an esbuild message this error reads (esbuild's `Message`). */
interface BuildMessage {
  text: string;
  location: { file: string; line: number; column: number; lineText: string } | null;
}

export class CompileError extends Error {
  constructor(
    message: string,
    readonly location?: SourceLocation,
  ) {
    super(message);
    this.name = "CompileError";
  }

  /**
   * esbuild reports columns 0-based; DWL uses 1-based columns everywhere, like stack traces.
   * `namespace` is the bundler's namespace for the program's own files, cut from file names.
   */
  static fromEsbuild(messages: BuildMessage[], namespace: string): CompileError {
    const first = messages[0];
    if (!first) return new CompileError("bundling failed");
    const loc = first.location;
    if (!loc) return new CompileError(first.text);
    const file = loc.file.startsWith(`${namespace}:`) ? loc.file.slice(namespace.length + 1) : loc.file;
    const where = `${file}:${loc.line}:${loc.column + 1}`;
    const more = messages.length > 1 ? ` (and ${messages.length - 1} more error${messages.length > 2 ? "s" : ""})` : "";
    // esbuild names the program's other files by namespace in its text too ("No matching export in \"dwl:a.ts\"").
    const text = first.text.replaceAll(`"${namespace}:`, '"');
    return new CompileError(`${where}: ${text}${jsxHint(file, loc.lineText)}${more}`, {
      file,
      line: loc.line,
      column: loc.column + 1,
      lineText: loc.lineText,
    });
  }
}

/** A closing or self-closing JSX tag (an opening one alone reads like a TypeScript type argument). */
const JSX_TAG = /<\/[A-Za-z][\w.:-]*>|<[A-Za-z][\w.:-]*(\s[^<>]*)?\/>/;

/**
 * JSX in a .ts or .js file (what `code` is compiled as: index.ts) fails as a regular expression
 * or an unexpected "<", which says nothing of the file's name being the cause.
 */
function jsxHint(file: string, lineText: string): string {
  if (!/\.(ts|js|mjs)$/.test(file) || !JSX_TAG.test(lineText)) return "";
  return ` (JSX is compiled only in .tsx and .jsx files; \`code\` is compiled as index.ts: send files: { "index.tsx": … } instead)`;
}
