/**
 * @module rewrite
 * Post-bundle source edits, done on one acorn AST with magic-string and a composed source map so
 * stack traces still land on the user's lines:
 * - metering: a fuel check at the top of every loop body and every function body (README
 *   "Security model"), covering the user's code and every bundled dependency; a declaration
 *   only ever called by name has none at its entry, its calls pay instead (direct-calls.ts);
 * - scripts (no default export) become the body of `export default async function`, so they run
 *   on every call (a module body runs once per isolate, and workerd forbids I/O in module scope;
 *   top-level await keeps working).
 * All insertions stay on their original lines, so line numbers never shift. When the edits only
 * insert (a metered module: no script wrapper), the map is esbuild's with columns shifted
 * (`shiftMap`) rather than composed with a hires map of the edits: Hono bundle ~11 → ~4 ms.
 */
import remapping from "@jridgewell/remapping";
import { decode, encode } from "@jridgewell/sourcemap-codec";
import { parse, type Node } from "acorn";
import MagicString from "magic-string";
import { REFUEL_GLOBAL } from "../sandbox/child-globals.ts";
import { randomHex } from "../hash.ts";
import { CallCounter, directCalls, type StatementParts } from "./direct-calls.ts";

export interface RewriteOptions {
  wrapScript: boolean;
  meter: boolean;
  /** Offset of a lone function to turn into the default export (the direct path's bare function). */
  exportDefaultAt?: number;
  /**
   * Replacement text for an import declaration (bundle.ts: imports of the packages' pre-built
   * module become reads of its namespace objects); undefined keeps the declaration.
   */
  replaceImport?: (node: ImportDeclaration) => string | undefined;
  /** A package's file: a bare import may lead back to it too (see `importsOthers`). */
  bareImportsMayCycle?: boolean;
  /**
   * Map line and word starts only (stack columns point at words), not every character (`wordMap`):
   * a package's files, whose maps per character are ~5× their size and slow to make.
   */
  mapWordsOnly?: boolean;
}

export type ImportDeclaration = Node & {
  source: { value: string };
  specifiers: (Node & { local: { name: string }; imported?: { name?: string; value?: string } })[];
};

export interface Rewritten {
  code: string;
  map: string;
}

type Loop = Node & { body: Node };
const FUNCTION_TYPES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
type FunctionNode = Node & { body: Node & { body?: (Node & { directive?: string })[] }; expression?: boolean };

function randomSuffix(): string {
  return randomHex(6);
}

/**
 * Inserts a fuel check at the top of every loop body and every function body. The names are
 * random per bundle so a program cannot name (and reset) its own counter; `refuel(counter)` throws
 * once the run's budget is spent (sandbox/harness/fuel.ts) and otherwise hands out the counter's
 * next batch.
 *
 * The counter is the field `f` of a module-level object (`F.f`), not a module-level number: V8
 * treats a binding assigned once as a constant in optimized code, so a check is one decrement of
 * a field at a known address plus a branch, where a number in the module's context costs a load,
 * a store and the slot's bookkeeping (fib(32) in workerd: +8–13 % over unmetered code against
 * +21–25 %, docs/performance.md).
 * The object literal defines `f` as an own data property, so no getter or setter a program puts
 * on Object.prototype can reach it.
 *
 * A module-level function declaration exists before its module's first line runs, and a cyclic
 * import can call an exported one then, while `F` is still undefined. In a module that imports
 * another of the program's modules, the entry checks of its exported function declarations read
 * `(F ?? init())` instead, which creates the object (and reads refuel) on such an early call.
 * That guard costs about what a number counter does (fib: +25 %), so it goes only there:
 * nothing else of the module can run before its first line or before one of those entry checks.
 * `mayRunEarly` says whether the module imports another of the program's modules
 * (`importsOthers`); the packages' module of vendor.ts never does.
 *
 * Recursion pays a check per call, fib(32) 7 million of them. A function declaration only ever
 * called by name, with no loops in its body, has no check at its entry: each call of it pays
 * (direct-calls.ts). A call from the body of a function without loops is paid by that body's
 * check, which counts the most calls any path from it can make (`F.f -= n`); inside such a
 * declaration the check goes before the first call of each path, so a path that calls nothing
 * (fib's leaves, half its calls) runs none; any other call gets a check of its own. A run is
 * charged what it was before, one unit per call and per iteration, at about half the checks for
 * fib (in-isolate and loader A/B figures: docs/performance.md, "Metering overhead").
 */
export function meter(
  s: MagicString,
  program: Node,
  code: string,
  inserted: Insertion[] | undefined,
  mayRunEarly: boolean,
  exportDefaultAt?: number,
): string {
  // Every metering edit inserts text before one character of `code` (appendLeft and prependRight
  // differ only in which chunk owns the text); `shiftMap` needs where and how much.
  const left = (at: number, text: string) => {
    inserted?.push([at, text.length]);
    s.appendLeft(at, text);
  };
  const right = (at: number, text: string) => {
    inserted?.push([at, text.length]);
    s.prependRight(at, text);
  };
  const suffix = randomSuffix();
  if (code.includes(`_${suffix}`)) throw new Error("fuel counter name collision");
  const fuel = `__dwl_f_${suffix}`;
  const refuel = `__dwl_r_${suffix}`;
  const init = `__dwl_i_${suffix}`;
  const check = `(--${fuel}.f < 0 && (${fuel}.f = ${refuel}(${fuel})))`;
  const earlyCheck = `(--(${fuel} ?? ${init}()).f < 0 && (${fuel}.f = ${refuel}(${fuel})))`;
  /** A check that counts `units` invocations at once (its own and the direct calls it pays for). */
  const checkOf = (units: number, early = false) => {
    const counter = early ? `(${fuel} ?? ${init}())` : fuel;
    if (units === 1) return early ? earlyCheck : check;
    return `((${counter}.f -= ${units}) < 0 && (${fuel}.f = ${refuel}(${fuel})))`;
  };
  const exported = exportedFunctionDeclarations(program as Program);
  const early = mayRunEarly ? exported : new Set<Node>();
  const direct = directCalls(program, (node) => exported.has(node) || node.start === exportDefaultAt);
  /** Counts the direct calls of the function being metered (set by functionBody). */
  let counter = new CallCounter([]);
  /** `(check, expr)`: only where a `(` cannot continue what comes before (after `return`, `=`, `?`, …). */
  const wrap = (expression: Node, units: number) => {
    left(expression.start, `(${checkOf(units)}, `);
    right(expression.end, ")");
  };
  /** A check before statement `node`, which counts `units`. */
  const before = (node: Node, units: number, inList: boolean) => {
    if (inList) left(node.start, `;${checkOf(units)};`);
    else {
      left(node.start, `{${checkOf(units)};`);
      right(node.end, "}");
    }
  };
  // A paid-for body (direct-calls.ts): the first statement with a direct call on each path gets
  // a check counting every direct call from there to the return; paths without one run none.
  const payList = (list: Node[], after: number) => {
    const k = list.findIndex((node) => counter.sites(node) > 0);
    if (k !== -1) payStatement(list[k]!, counter.listMax(list, k + 1, after), true);
  };
  const payStatement = (node: Node, after: number, inList: boolean) => {
    const n = node as StatementParts;
    if (counter.sites(node) === 0) return;
    if (node.type === "BlockStatement") payList(n.body ?? [], after);
    else if (node.type === "IfStatement") {
      if (after === 0 && counter.sites(n.test!) === 0) {
        payStatement(n.consequent!, 0, false);
        if (n.alternate) payStatement(n.alternate, 0, false);
      } else wrap(n.test!, counter.statementMax(node, after));
    } else if (node.type === "ReturnStatement") payReturned(n.argument!);
    else if (node.type === "ThrowStatement") wrap(n.argument!, counter.maxCalls(n.argument!));
    else if (node.type === "VariableDeclaration") {
      // The initializer runs before its declarator's pattern (and its defaults).
      const declarations = n.declarations ?? [];
      const k = declarations.findIndex((d) => counter.sites(d) > 0);
      const from = declarations.slice(k).reduce((sum, d) => sum + counter.maxCalls(d), 0);
      const init = declarations[k]!.init;
      if (init) wrap(init, from + after);
      else before(node, from + after, inList);
    } else before(node, counter.statementMax(node, after), inList);
  };
  /** A returned expression: nothing runs after it, so each branch of `?:` and `&&` pays for itself. */
  const payReturned = (node: Node) => {
    if (counter.sites(node) === 0) return;
    const n = node as Node & { test?: Node; consequent?: Node; alternate?: Node; left?: Node; right?: Node };
    if (node.type === "ConditionalExpression" && counter.sites(n.test!) === 0) {
      payReturned(n.consequent!);
      payReturned(n.alternate!);
    } else if (node.type === "LogicalExpression" && counter.sites(n.left!) === 0) payReturned(n.right!);
    else wrap(node, counter.maxCalls(node));
  };

  const loopBody = (node: Loop) => {
    const body = node.body;
    if (body.type === "BlockStatement") left(body.start + 1, `${check};`);
    else {
      left(body.start, `{${check};`);
      right(body.end, "}");
    }
  };
  const functionBody = (node: FunctionNode) => {
    const body = node.body;
    // The entry check of a body without loops also pays for its direct calls (direct-calls.ts).
    const calls = direct.callsIn.get(node);
    const covers = calls !== undefined;
    if (covers) counter = new CallCounter(calls);
    if (body.type !== "BlockStatement") {
      // Expression-bodied arrow: `x => expr` becomes `x => (check, expr)`.
      left(body.start, `(${checkOf(covers ? 1 + counter.maxCalls(body) : 1)}, `);
      right(body.end, ")");
      return;
    }
    if (direct.paid.has(node)) {
      if (covers) payList(body.body ?? [], 0);
      return;
    }
    const units = covers ? 1 + counter.listMax(body.body ?? [], 0, 0) : 1;
    // After any directive prologue ("use strict" must stay first to stay a directive), and after
    // a semicolon of its own: a directive without one would take the check as its call's arguments.
    let at = body.start + 1;
    let separator = "";
    for (const statement of body.body ?? []) {
      if (statement.type !== "ExpressionStatement" || typeof statement.directive !== "string") break;
      at = statement.end;
      separator = code[at - 1] === ";" ? "" : ";";
    }
    left(at, `${separator}${checkOf(units, early.has(node))};`);
  };
  for (const node of direct.metered) {
    if (FUNCTION_TYPES.has(node.type)) functionBody(node as FunctionNode);
    else loopBody(node as Loop);
  }
  // Direct calls outside paid-for bodies pay for their callee, after the checks above (an
  // insertion at the same offset lands after theirs, inside a loop body's new braces).
  for (const site of direct.sites) {
    const units = site.inParamsOf !== undefined && early.has(site.inParamsOf) ? earlyCheck : check;
    const start = site.startsStatement;
    if (start?.inList) left(site.call.start, ";");
    else if (start) left(start.statement.start, "{");
    left(site.call.start, `(${units}, `);
    // At one offset a later prependRight lands first: the brace before the parenthesis would close too early.
    if (start && !start.inList) right(start.statement.end, "}");
    right(site.call.end, ")");
  }
  const declaration = `var ${fuel} = { f: 0 }, ${refuel} = "".${REFUEL_GLOBAL};`;
  if (early.size === 0) return declaration;
  return `${declaration}function ${init}() { ${refuel} = "".${REFUEL_GLOBAL}; return ${fuel} = { f: 0 }; }`;
}

/**
 * The module-level function declarations another module can call before this one's first line
 * ran: the exported ones (a function declaration exists from the start; exports are the only way
 * in). The module's other functions run after one of these or after its first line.
 */
function exportedFunctionDeclarations(program: Program): Set<Node> {
  type Named = Node & { id?: { name: string } | null };
  const exportedNames = new Set<string>();
  const found = new Set<Node>();
  for (const node of program.body) {
    const withDeclaration = node as Node & {
      declaration?: Node | null;
      source?: unknown;
      specifiers?: { local: { name?: string } }[];
    };
    if (node.type === "ExportNamedDeclaration" || node.type === "ExportDefaultDeclaration") {
      if (withDeclaration.declaration?.type === "FunctionDeclaration") found.add(withDeclaration.declaration);
      if (node.type === "ExportNamedDeclaration" && !withDeclaration.source)
        for (const specifier of withDeclaration.specifiers ?? [])
          if (specifier.local.name) exportedNames.add(specifier.local.name);
    }
  }
  for (const node of program.body) {
    const name = (node as Named).id?.name;
    if (node.type === "FunctionDeclaration" && name !== undefined && exportedNames.has(name)) found.add(node);
  }
  return found;
}

/**
 * Whether the module imports another of the program's modules, so may be in an import cycle: a
 * relative specifier (another user file, another chunk of the packages). A bare one (a package,
 * `node:`, `cloudflare:`) names a module that imports no user module back, but one package may
 * import another that imports it (`bare`: count those too, all but the runtime's own); `except`:
 * imports that become reads of the packages' module.
 */
function importsOthers(program: Program, except: Set<Node>, bare = false): boolean {
  return program.body.some((node) => {
    if (
      node.type !== "ImportDeclaration" &&
      node.type !== "ExportAllDeclaration" &&
      node.type !== "ExportNamedDeclaration"
    )
      return false;
    const source = (node as Node & { source?: { value?: unknown } | null }).source?.value;
    if (typeof source !== "string" || except.has(node)) return false;
    return bare ? !/^(?:node|cloudflare):/.test(source) : /^\.{0,2}\//.test(source);
  });
}

interface ScriptWrapper {
  /** The module's imports, hoisted out of the function (imports must stay at module level). */
  imports: string;
  head: string;
  tail: string;
}

function wrapScript(
  s: MagicString,
  program: Node & { body: Node[] },
  code: string,
  replaced: Set<Node>,
): ScriptWrapper {
  const hoisted: string[] = [];
  const exported: string[] = [];
  for (const node of program.body) {
    if (node.type === "ImportDeclaration" && !replaced.has(node)) {
      hoisted.push(code.slice(node.start, node.end).replace(/\s*\n\s*/g, " "));
      s.remove(node.start, node.end);
    } else if (node.type === "ExportNamedDeclaration") {
      const declaration = (node as Node & { declaration?: Node | null }).declaration;
      exported.push(...exportedNames(node));
      if (declaration) s.remove(node.start, declaration.start);
      else s.remove(node.start, node.end);
    } else if (node.type === "ExportAllDeclaration") {
      exported.push(`everything of ${String((node as Node & { source: { value: unknown } }).source.value)}`);
      s.remove(node.start, node.end);
    }
  }
  // The warning is bound at module level: inside the function, a `console` the script declares
  // would shadow the global (and throw, before its declaration).
  const warning = exportsWarning(exported);
  return {
    imports: hoisted.join(" ") + (warning ? `const __dwlExportsWarning = () => console.warn(${warning});` : ""),
    head: `export default async function __dwlScript() {${warning ? "__dwlExportsWarning();" : ""}`,
    tail: "\n}\n",
  };
}

/** Names a named export declares (`export const a = 1, b = 2`, `export function f`, `export { x as y }`). */
function exportedNames(node: Node): string[] {
  const { declaration, specifiers } = node as Node & {
    declaration?: (Node & { id?: { name?: string }; declarations?: { id: { name?: string } }[] }) | null;
    specifiers: { exported: { name?: string; value?: string } }[];
  };
  if (!declaration) return specifiers.map((sp) => String(sp.exported.name ?? sp.exported.value));
  const ids = declaration.declarations?.map((d) => d.id) ?? [declaration.id ?? {}];
  return ids.map((id) => id.name ?? "(a destructured binding)");
}

/**
 * A program whose entry exports names but no default runs as a script, and nothing calls its
 * exports: a model that wrote `export function run(input, env)` would read `ok` with a null
 * result as success. The run says so in its logs, first.
 */
function exportsWarning(exported: string[]): string {
  if (exported.length === 0) return "";
  const names = exported.map((name) => `\`${name}\``).join(", ");
  return JSON.stringify(
    `[dwl] this program exports ${names} but nothing as default, so it ran as a script, top to bottom, and nothing called its exports; to have a function called with (input, env), put \`export default\` before it`,
  );
}

export type Program = Node & { body: Node[] };

export function parseModule(code: string): Program {
  return parse(code, { ecmaVersion: "latest", sourceType: "module" }) as Program;
}

export interface RewriteInput {
  code: string;
  /** Module name of the output inside the child (the `file` of the map). */
  fileName: string;
  /** The map of `code` to the user's sources (esbuild's), or the user's file name when `code` is that file. */
  source: { map: string } | { name: string };
  /** `code` already parsed, when the caller had to parse it anyway. */
  program?: Program;
}

/** Text of `length` UTF-16 units inserted before `code[offset]`. */
export type Insertion = [offset: number, length: number];

/**
 * The map of `code` with `inserted` applied, from the map of `code` itself, when the edits only
 * insert: each segment keeps its source, line, column and name and only its generated column
 * moves right by the text inserted on its line at or before it, so a position inside inserted
 * text maps where the character before it did. Gives the same lookups as composing a hires
 * magic-string map with the original one (remapping), in a fraction of the time.
 */
export function shiftMap(code: string, map: string, inserted: Insertion[], fileName: string): string {
  const parsed = JSON.parse(map) as { mappings: string; [key: string]: unknown };
  const lines = decode(parsed.mappings);
  inserted.sort((a, b) => a[0] - b[0]);
  let line = 0;
  let lineStart = 0;
  // Walks the insertions in offset order, line by line, shifting each line's segments once.
  for (let k = 0; k < inserted.length; ) {
    for (
      let nl = code.indexOf("\n", lineStart);
      nl !== -1 && nl < inserted[k]![0];
      nl = code.indexOf("\n", lineStart)
    ) {
      line++;
      lineStart = nl + 1;
    }
    const onLine: Insertion[] = [];
    const nextLine = code.indexOf("\n", lineStart);
    while (k < inserted.length && (nextLine === -1 || inserted[k]![0] <= nextLine)) {
      const [offset, length] = inserted[k++]!;
      onLine.push([offset - lineStart, length]);
    }
    let shift = 0;
    let next = 0;
    for (const segment of lines[line] ?? []) {
      while (next < onLine.length && onLine[next]![0] <= segment[0]) shift += onLine[next++]![1];
      segment[0] += shift;
    }
  }
  return JSON.stringify({ ...parsed, file: fileName, mappings: encode(lines) });
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** One source map VLQ field. */
function vlq(value: number): string {
  let rest = value < 0 ? (-value << 1) | 1 : value << 1;
  let out = "";
  do {
    const digit = rest & 31;
    rest >>>= 5;
    out += BASE64[rest > 0 ? digit | 32 : digit];
  } while (rest > 0);
  return out;
}

const WORD = /[\w$]+/g;

/**
 * The map of `code` with `inserted` applied, for a file that is its own source: a segment at each
 * line's start and at the start of each word (identifier, keyword, number), where stack columns
 * point, each moved right by the text inserted on its line at or before it. Written straight
 * to VLQ: magic-string's word-boundary map, then `shiftMap`, took most of zod's transform
 * (its 95 files: 1 MB of code, 2.3 MB of maps) in garbage and segment arrays.
 */
export function wordMap(code: string, inserted: Insertion[], sourceName: string, fileName: string): string {
  inserted.sort((a, b) => a[0] - b[0]);
  const lines: string[] = [];
  let k = 0;
  let sourceLine = 0;
  let sourceColumn = 0;
  for (let line = 0, lineStart = 0; ; line++) {
    const newline = code.indexOf("\n", lineStart);
    const lineEnd = newline === -1 ? code.length : newline;
    let out = "";
    let shift = 0;
    let generated = 0;
    const segment = (offset: number) => {
      while (k < inserted.length && inserted[k]![0] <= offset) shift += inserted[k++]![1];
      const column = offset - lineStart;
      out += `${out === "" ? "" : ","}${vlq(column + shift - generated)}A${vlq(line - sourceLine)}${vlq(column - sourceColumn)}`;
      generated = column + shift;
      sourceLine = line;
      sourceColumn = column;
    };
    segment(lineStart);
    WORD.lastIndex = lineStart;
    for (let word = WORD.exec(code); word !== null && word.index < lineEnd; word = WORD.exec(code))
      if (word.index > lineStart) segment(word.index);
    // What is inserted at the line's end belongs to it, not to the next line's start.
    while (k < inserted.length && inserted[k]![0] <= lineEnd) k++;
    lines.push(out);
    if (newline === -1) break;
    lineStart = newline + 1;
  }
  return JSON.stringify({ version: 3, file: fileName, sources: [sourceName], names: [], mappings: lines.join(";") });
}

/**
 * Blanks each import `replaceImport` replaces (same length: no column moves) and returns the
 * replacements, which go on line 1: the build put those imports first in the module anyway.
 */
function replaceImports(
  s: MagicString,
  program: Program,
  code: string,
  replace: RewriteOptions["replaceImport"],
  replaced: Set<Node>,
): string {
  if (!replace) return "";
  let text = "";
  for (const node of program.body) {
    const replacement = node.type === "ImportDeclaration" ? replace(node as ImportDeclaration) : undefined;
    if (replacement === undefined) continue;
    s.overwrite(node.start, node.end, code.slice(node.start, node.end).replace(/[^\n]/g, " "));
    replaced.add(node);
    text += replacement;
  }
  return text;
}

/**
 * A hashbang (`#!…`, which esbuild keeps) is only valid as the module's first characters, where
 * the edits below put their text: it becomes a comment of the same length, so nothing moves.
 */
function hashbangAsComment(s: MagicString, code: string): void {
  if (code.startsWith("#!")) s.overwrite(0, 2, "//");
}

export function rewriteBundle(input: RewriteInput, options: RewriteOptions): Rewritten {
  const { code, fileName, source } = input;
  const replaced = new Set<Node>();
  const insertionsOnly = !options.wrapScript && options.exportDefaultAt === undefined;
  if (insertionsOnly && ("map" in source ? options.meter : options.mapWordsOnly)) {
    // Insertions only (the common case for a bundle and a package's file): shift the map of
    // `code` (esbuild's, or a word map of `code` itself) instead of composing.
    const s = new MagicString(code);
    hashbangAsComment(s, code);
    const program = input.program ?? parseModule(code);
    const inserted: Insertion[] = [];
    const imports = replaceImports(s, program, code, options.replaceImport, replaced);
    const fuelDeclaration = options.meter
      ? meter(s, program, code, inserted, importsOthers(program, replaced, options.bareImportsMayCycle))
      : "";
    const head = `${fuelDeclaration}${imports}`;
    s.prepend(head);
    inserted.push([0, head.length]);
    const map =
      "map" in source ? shiftMap(code, source.map, inserted, fileName) : wordMap(code, inserted, source.name, fileName);
    return { code: s.toString(), map };
  }
  const sourceName = "name" in source ? source.name : fileName;
  const s = new MagicString(code);
  if (options.wrapScript || options.meter || options.exportDefaultAt !== undefined || options.replaceImport) {
    const program = input.program ?? parseModule(code);
    hashbangAsComment(s, code);
    if (options.exportDefaultAt !== undefined) s.appendLeft(options.exportDefaultAt, "export default ");
    const imports = replaceImports(s, program, code, options.replaceImport, replaced);
    // Metering first: it only inserts, so the script wrapper's removals stay valid.
    const fuelDeclaration = options.meter
      ? meter(
          s,
          program,
          code,
          undefined,
          importsOthers(program, replaced, options.bareImportsMayCycle),
          options.exportDefaultAt,
        )
      : "";
    const wrapper = options.wrapScript ? wrapScript(s, program, code, replaced) : { imports: "", head: "", tail: "" };
    // Everything added lands on line 1 (or after the last line): the bundle's line numbers hold.
    s.prepend(`${wrapper.imports}${fuelDeclaration}${imports}${wrapper.head}`);
    if (wrapper.tail) s.append(wrapper.tail);
  } else if ("map" in source) {
    return { code, map: source.map };
  }
  const generated = s.generateMap({ hires: true, source: sourceName, file: fileName, includeContent: false });
  // magic-string writes the source relative to `file` (`user/lib/x.js` → `../../lib/x.js`); stacks name it as given.
  generated.sources = [sourceName];
  const edits = generated.toString();
  const map = "map" in source ? remapping([edits, source.map], () => null).toString() : edits;
  return { code: s.toString(), map };
}
