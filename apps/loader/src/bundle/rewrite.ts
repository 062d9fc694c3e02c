/**
 * @module rewrite
 * Post-bundle source edits done on one acorn AST with magic-string, composing the source map
 * so stack traces still land on the user's lines: a script (no default export) becomes the body
 * of `export default async function`, so it runs on every call (a module body runs only once
 * per isolate, and workerd forbids I/O in module scope; top-level await keeps working).
 */
import remapping from "@jridgewell/remapping";
import { parse } from "acorn";
import MagicString from "magic-string";

export interface RewriteOptions {
  wrapScript: boolean;
}

export interface Rewritten {
  code: string;
  map: string;
}

export function rewriteBundle(code: string, esbuildMap: string, fileName: string, options: RewriteOptions): Rewritten {
  if (!options.wrapScript) return { code, map: esbuildMap };
  const program = parse(code, { ecmaVersion: "latest", sourceType: "module" });
  const s = new MagicString(code);
  const hoisted: string[] = [];
  for (const node of program.body) {
    if (node.type === "ImportDeclaration") {
      hoisted.push(code.slice(node.start, node.end).replace(/\s*\n\s*/g, " "));
      s.remove(node.start, node.end);
    } else if (node.type === "ExportNamedDeclaration" && node.declaration) {
      s.remove(node.start, node.declaration.start);
    } else if (node.type === "ExportNamedDeclaration" || node.type === "ExportAllDeclaration") {
      s.remove(node.start, node.end);
    }
  }
  // Everything lands on line 1, so the bundle's line numbers are unchanged.
  s.prepend(`${hoisted.join(" ")}export default async function __dwlScript() {`);
  s.append("\n}\n");
  const edits = s.generateMap({ hires: true, source: fileName, file: fileName, includeContent: false });
  const composed = remapping([edits.toString(), esbuildMap], () => null);
  return { code: s.toString(), map: composed.toString() };
}
