/**
 * @module entry-shape
 * Recognises a bare function expression (`async (input, env) => …`, the form Code Mode models
 * write) and turns it into a module whose default export is that function. Parsed, not guessed:
 * an IIFE such as `(async () => {…})()` stays a script.
 */
import { parse, type Node } from "acorn";
import { transform } from "sucrase";
import { getEsbuild, type Loader } from "./esbuild.ts";

/** Cheap pre-check so ordinary modules never pay for the parse. */
const MAY_BE_FUNCTION = /^(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*(?:async\b|function\b|\()/;
const FUNCTION_NODES = new Set(["ArrowFunctionExpression", "FunctionExpression", "FunctionDeclaration"]);

/**
 * The program's only statement when it is a function (a declaration, or an arrow or function
 * expression standing alone): an entry of that shape is the program's default export.
 */
export function loneFunction(body: Node[]): Node | undefined {
  const [only] = body;
  if (body.length !== 1 || !only) return undefined;
  const node = only.type === "ExpressionStatement" ? (only as Node & { expression: Node }).expression : only;
  return FUNCTION_NODES.has(node.type) ? only : undefined;
}

/**
 * Returns the source rewritten as `export default (<fn>);` when it is exactly one function
 * expression, otherwise undefined. The prefix sits on line 1, so line numbers are unchanged.
 */
export async function asDefaultExportedFunction(source: string, loader: Loader): Promise<string | undefined> {
  if (!MAY_BE_FUNCTION.test(source)) return undefined;
  const candidate = `export default (${source.replace(/[\s;]+$/, "")}\n);\n`;
  const esbuild = await getEsbuild();
  let js: string;
  try {
    js = (await esbuild.transform(candidate, { loader, target: "es2022", logLevel: "silent" })).code;
  } catch {
    return undefined;
  }
  const program = parse(js, { ecmaVersion: "latest", sourceType: "module" });
  const [only] = program.body;
  if (program.body.length !== 1 || only?.type !== "ExportDefaultDeclaration") return undefined;
  return FUNCTION_NODES.has(only.declaration.type) ? candidate : undefined;
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
  if (loader !== "ts" && loader !== "js") return undefined;
  try {
    const js = loader === "ts" ? transform(text, { transforms: ["typescript"], disableESTransforms: true }).code : text;
    return (
      parse(js, { ecmaVersion: "latest", sourceType: "module", allowAwaitOutsideFunction: true }) as Node & {
        body: Node[];
      }
    ).body;
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
