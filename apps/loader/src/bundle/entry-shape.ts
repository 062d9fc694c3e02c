/**
 * @module entry-shape
 * Recognises a program whose entry is a bare function (`async (input, env) => …`, the form Code
 * Mode models write, alone or after the imports and helpers it uses) and makes that function the
 * module's default export. Parsed, not guessed: an IIFE such as `(async () => {…})()` stays a
 * script.
 */
import { parse, type Node } from "acorn";
import { transform } from "sucrase";
import { generatedPositionFor, originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { getEsbuild, type Loader } from "./esbuild.ts";

/** Cheap pre-check so ordinary modules never pay for the parse. */
const MAY_BE_FUNCTION = /^(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:async\b|function\b|\()/;
/** Cheap pre-check for a function anywhere, the last statement included. */
const MAY_END_IN_FUNCTION = /=>|\bfunction\b/;
/** What the function that ends a program is bound to where only its own start is known (stacks name it `default`). */
export const ENTRY_BINDING = "__dwlEntry";
/** A default export (or what may be one): such a module's function is never the one that ends it. */
const MAY_EXPORT_DEFAULT = /\bexport\s+default\b|\bas\s+default\b|\bmodule\.exports\b/;
const FUNCTION_NODES = new Set(["ArrowFunctionExpression", "FunctionExpression", "FunctionDeclaration"]);
const FUNCTION_EXPRESSIONS = new Set(["ArrowFunctionExpression", "FunctionExpression"]);

const expressionOf = (node: Node): Node | undefined =>
  node.type === "ExpressionStatement" ? (node as Node & { expression: Node }).expression : undefined;
/** A prologue directive (`"use strict";`): acorn marks it on its statement. */
const isDirective = (node: Node): boolean => typeof (node as Node & { directive?: unknown }).directive === "string";

/**
 * The statement whose function is the program (a module without a default export):
 * - its only statement, directives aside, when that is a function: a declaration, or an arrow or
 *   function expression;
 * - its last statement when that is an arrow or function expression standing alone after others
 *   (the imports, constants and helpers the function uses): as a statement it does nothing, so it
 *   can only be meant as the program. A declaration written last is not: scripts often call a
 *   hoisted function declared at their end, which would then run twice.
 */
export function entryFunction(body: Node[]): Node | undefined {
  const statements = body.filter((node) => !isDirective(node) && node.type !== "EmptyStatement");
  const [only] = statements;
  if (statements.length === 1 && only) {
    const node = expressionOf(only) ?? only;
    if (FUNCTION_NODES.has(node.type)) return only;
  }
  const last = statements.at(-1);
  const expression = last && expressionOf(last);
  return last && expression && FUNCTION_EXPRESSIONS.has(expression.type) ? last : undefined;
}

/**
 * Returns the source rewritten so its function is the default export: the whole of it wrapped as
 * `export default (<fn>);` when it is one function expression (an anonymous `function` is no
 * statement), else `export default ` put before the statement that ends it (entryFunction, found
 * by trailingStatementStart), or, where only the function's own start is known
 * (mappedFunctionStart), the function bound there and exported after the last line. Undefined
 * when the entry is not such a program. Nothing moves to another line, so stacks keep their lines.
 */
export async function asDefaultExportedFunction(source: string, loader: Loader): Promise<string | undefined> {
  if (!MAY_END_IN_FUNCTION.test(source) || MAY_EXPORT_DEFAULT.test(source)) return undefined;
  const esbuild = await getEsbuild();
  if (MAY_BE_FUNCTION.test(source)) {
    const candidate = `export default (${source.replace(/[\s;]+$/, "")}\n);\n`;
    try {
      const { code } = await esbuild.transform(candidate, { loader, target: "es2022", logLevel: "silent" });
      const [only, ...rest] = parse(code, { ecmaVersion: "latest", sourceType: "module" }).body;
      if (rest.length === 0 && only?.type === "ExportDefaultDeclaration" && FUNCTION_NODES.has(only.declaration.type))
        return candidate;
    } catch {
      // Not one expression: it may still end in one.
    }
  }
  const exported = (at: number) => `${source.slice(0, at)}export default ${source.slice(at)}`;
  const fast = trailingStatementStart(source, loader);
  if (fast !== null) return fast === undefined ? undefined : exported(fast);
  const mapped = await mappedFunctionStart(source, loader);
  if (mapped === undefined) return undefined;
  // The statement's start is not in the map (nor its parentheses, comments or decorators before
  // the function), the function's is: the function is assigned there, in place, and exported
  // after the last line. Lines stay where they were.
  const candidate = `${source.slice(0, mapped)}${ENTRY_BINDING} = ${source.slice(mapped)}\nvar ${ENTRY_BINDING};\nexport default ${ENTRY_BINDING};\n`;
  try {
    await esbuild.transform(candidate, { loader, target: "es2022", logLevel: "silent" });
  } catch {
    return undefined;
  }
  return candidate;
}

/**
 * Where the statement whose function ends `source` starts (entryFunction), parentheses and
 * comments around the function included, found without esbuild (whose transform costs the entry
 * ~4 ms more on a bundle-cache miss): JavaScript parsed as it is, TypeScript as sucrase strips it,
 * which keeps every line where it was, so the statement is at its column of the source's line
 * unless something before it on that line was stripped. Undefined: no such function; null: this
 * cannot tell (JSX, decorators, that line changed before the statement).
 */
function trailingStatementStart(source: string, loader: Loader): number | undefined | null {
  const module = parsedModule(source, loader, true);
  if (!module) return null;
  if (module.body.some((node) => node.type === "ExportDefaultDeclaration")) return undefined;
  const found = entryFunction(module.body);
  if (!found?.loc) return undefined;
  if (module.js === source) return found.start;
  const at = offsetOf(source, found.loc.start.line, found.loc.start.column);
  const token = module.js.slice(found.start, found.start + 8);
  return at >= 0 && source.startsWith(token, at) ? at : null;
}

/**
 * Where the function that ends `source` starts, through esbuild's transform and its map: for JSX,
 * decorators, and what sucrase moved (trailingStatementStart's null).
 */
async function mappedFunctionStart(source: string, loader: Loader): Promise<number | undefined> {
  const esbuild = await getEsbuild();
  let code: string;
  let map: string;
  try {
    ({ code, map } = await esbuild.transform(source, {
      loader,
      target: "es2022",
      logLevel: "silent",
      sourcemap: "external",
    }));
  } catch {
    return undefined;
  }
  let body: Node[];
  try {
    body = parse(code, {
      ecmaVersion: "latest",
      sourceType: "module",
      allowAwaitOutsideFunction: true,
      locations: true,
    }).body;
  } catch {
    return undefined;
  }
  if (body.some((node) => node.type === "ExportDefaultDeclaration")) return undefined;
  const found = entryFunction(body);
  // The function's own first character: esbuild maps no parenthesis put around it.
  const start = found && (expressionOf(found) ?? found).loc?.start;
  if (!start) return undefined;
  const { line, column } = start;
  const traced = new TraceMap(map);
  const at = originalPositionFor(traced, { line, column });
  if (at.source === null) return undefined;
  // Only a mapping of that very character (the map's nearest one could be a statement before).
  const back = generatedPositionFor(traced, { source: at.source, line: at.line, column: at.column });
  if (back.line !== line || back.column !== column) return undefined;
  const offset = offsetOf(source, at.line, at.column);
  return offset < 0 ? undefined : offset;
}

/** The offset of 1-based `line`, 0-based `column` in `text`, or -1 past its end. */
function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let n = 1; n < line; n++) {
    offset = text.indexOf("\n", offset) + 1;
    if (offset === 0) return -1;
  }
  return offset + column <= text.length ? offset + column : -1;
}

/** An entry rewritten into a module: its new text, and the characters put before its line 1. */
export interface Wrapped {
  source: string;
  headLength: number;
}

const FUNCTION_BODY_HEAD = "export default async (input, env) => {";
const COMMONJS_HEAD = "var module = { exports: {} }, exports = module.exports;";

/**
 * Cheap pre-checks: a function body has a `return` somewhere, no line opening with import or
 * export, and does not open like a function expression (asDefaultExportedFunction's case).
 */
const MAY_RETURN = /\breturn\b/;
const MODULE_SYNTAX = /^\s*(?:import|export)\b/m;
const MAY_BE_COMMONJS = /\bexports\b/;

/**
 * The top-level statements of `text` as a module (top-level `await` allowed), its types stripped
 * by sucrase as modules.ts does: inside the Worker, esbuild's transform took 140-170 ms on a body
 * with a top-level return and 9-20 ms on the same body wrapped. Undefined for JSX, or when it
 * does not parse.
 */
function topLevelStatements(text: string, loader: Loader): Node[] | undefined {
  return parsedModule(text, loader, false)?.body;
}

/**
 * `text` as JavaScript (TypeScript stripped by sucrase, lines kept) and its top-level statements;
 * undefined when it does not parse, null for JSX (sucrase is not asked to compile it).
 */
function parsedModule(
  text: string,
  loader: Loader,
  locations: boolean,
): { js: string; body: Node[] } | undefined | null {
  if (loader !== "ts" && loader !== "js") return null;
  try {
    const js = loader === "ts" ? transform(text, { transforms: ["typescript"], disableESTransforms: true }).code : text;
    const program = parse(js, {
      ecmaVersion: "latest",
      sourceType: "module",
      allowAwaitOutsideFunction: true,
      locations,
    });
    return { js, body: program.body as Node[] };
  } catch {
    return undefined;
  }
}

/**
 * Returns the source rewritten as `export default async (input, env) => { <source> };` when it is
 * a function body: top-level statements with a top-level `return` (and `await`), no imports or
 * exports. The form code-writing models often give; as a module its `return` is a syntax error
 * (or, without `await`, makes it a CommonJS file whose default export is no function). The prefix
 * sits on line 1, so line numbers are unchanged; the body sees `input` and `env`. Checked on the
 * wrapped text, which parses where the body alone does not.
 */
export function asFunctionBody(source: string, loader: Loader): Wrapped | undefined {
  if (!MAY_RETURN.test(source) || MODULE_SYNTAX.test(source) || MAY_BE_FUNCTION.test(source)) return undefined;
  const candidate = `${FUNCTION_BODY_HEAD}${source}\n};\n`;
  const [only, ...rest] = topLevelStatements(candidate, loader) ?? [];
  if (rest.length > 0 || only?.type !== "ExportDefaultDeclaration") return undefined;
  const body = (only as Node & { declaration?: Node & { body?: Node & { body?: unknown } } }).declaration?.body?.body;
  return Array.isArray(body) && body.some((node: Node) => node.type === "ReturnStatement")
    ? { source: candidate, headLength: FUNCTION_BODY_HEAD.length }
    : undefined;
}

/** `module.exports`, `module.exports.x` or `exports.x`, as the target of an assignment. */
function isCommonJsTarget(node: Node | undefined): boolean {
  if (node?.type !== "MemberExpression") return false;
  const { object, property } = node as Node & { object: Node & { name?: string }; property: Node & { name?: string } };
  if (object.type === "Identifier")
    return object.name === "exports" || (object.name === "module" && property.name === "exports");
  return isCommonJsTarget(object) && (object as Node & { object: Node & { name?: string } }).object.name === "module";
}

/**
 * Returns the source rewritten as a module whose default export is its `module.exports`, when it
 * is a CommonJS entry: no imports or exports, and a top-level assignment to `module.exports` or
 * `exports.x` (what models trained on Node write). Run as it stands, it ends in "module is not
 * defined". An `__esModule` object (TypeScript's CommonJS output) gives its `default`. The shim
 * sits on line 1 and the export after the last line, so line numbers are unchanged.
 */
export function asCommonJsModule(source: string, loader: Loader): Wrapped | undefined {
  if (!MAY_BE_COMMONJS.test(source) || MODULE_SYNTAX.test(source)) return undefined;
  const assigns = topLevelStatements(source, loader)?.some((node) => {
    const expression = (node as Node & { expression?: Node & { left?: Node } }).expression;
    return (
      node.type === "ExpressionStatement" &&
      expression?.type === "AssignmentExpression" &&
      isCommonJsTarget(expression.left)
    );
  });
  if (!assigns) return undefined;
  return {
    source: `${COMMONJS_HEAD}${source}\nexport default module.exports && module.exports.__esModule ? module.exports.default : module.exports;\n`,
    headLength: COMMONJS_HEAD.length,
  };
}
