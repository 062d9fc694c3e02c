/**
 * @module direct-calls
 * Function declarations whose invocations their callers pay for (bundle/rewrite.ts `meter`).
 *
 * A check at every function entry is what recursion costs most: fib(32) makes 7 million calls,
 * half of them leaves that return at once. A declaration whose name is only ever used as the
 * callee of a direct call (`f(…)`, never read as a value, exported, reassigned or shadowed by
 * another kind of binding) can only run through one of those calls: no native code, getter,
 * Proxy trap, promise or other module can reach it, because its function object never leaves
 * its scope (module code is strict: no `arguments.callee`, no `caller`, and V8's stack API gives
 * no function of strict code). So such a call site can pay for the invocation instead of the
 * callee's entry: each direct call outside the body of such a declaration gets a check of its
 * own, and inside such a body one check placed before its first direct call on each path pays
 * for every direct call the rest of that path can make (`maxCalls`). A path that makes no direct
 * call (fib's leaves) runs no check of its own: its caller paid for it. Every invocation of
 * every function is still counted once, as before (`meter` in rewrite.ts).
 *
 * Only bodies without loops, `switch`, `try`, labels or classes qualify, so each of their
 * direct calls runs at most once per invocation and a path's count is a static bound; generators
 * and async functions keep their entry check (their bodies resume later, outside the caller's
 * call). Any `eval` in the module turns the whole scheme off (a direct eval can read any name).
 */
import type { Node } from "acorn";
import { ancestor, base } from "acorn-walk";

/**
 * acorn-walk's walkers with the children it skips walked too: `import(x, options)` (acorn 8.19
 * parses the options, acorn-walk 8.3.4 visits only the specifier). An unvisited subtree has no
 * fuel checks and its direct calls are not counted: a loop or a recursion there ran unmetered.
 */
export const COMPLETE_BASE: typeof base = {
  ...base,
  ImportExpression(node, state, callback) {
    const { source, options } = node as Node & { source: Node; options?: Node | null };
    // At run time the walker's callback takes the node type to walk it as (its typing omits it).
    const walk = callback as (child: Node, state: unknown, as: string) => void;
    walk(source, state, "Expression");
    if (options) walk(options, state, "Expression");
  },
};

type Named = Node & { name?: string };
type FunctionNode = Node & {
  id?: Named | null;
  params: Node[];
  body: Node & { body?: Node[] };
  async?: boolean;
  generator?: boolean;
};

/** A direct call that must pay for its callee itself (it lies outside a paid-for body). */
export interface CallSite {
  call: Node;
  /** The ExpressionStatement the call starts, if any: a `(` there could continue the line before. */
  startsStatement?: { statement: Node; inList: boolean };
  /** The function whose parameters hold the call (they run before its entry check). */
  inParamsOf?: Node;
}

export interface DirectCalls {
  /** Declarations with no entry check: their callers pay. */
  paid: Set<Node>;
  /** The direct calls each function's checks pay for (in its body, not in a nested function or class), by start. */
  callsIn: Map<Node, Node[]>;
  /** Names of `paid`; a call `name(…)` with one of these names is a direct call. */
  names: Set<string>;
  /** Direct calls outside the bodies of `paid`, each paying for its own callee. */
  sites: CallSite[];
  /** Every loop and every function of the program, in the order acorn-walk's `simple` visits them (children first). */
  metered: Node[];
}

const FUNCTION_TYPES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
const LOOP_TYPES = ["ForStatement", "ForInStatement", "ForOfStatement", "WhileStatement", "DoWhileStatement"];
const LIST_PARENTS = new Set(["BlockStatement", "Program", "StaticBlock", "SwitchCase"]);

/**
 * One walk of the program for `meter`: its loops and functions, and which declarations their
 * callers pay for. `exclude`: declarations callable from outside the module or by the runtime
 * (the exported ones, a lone function about to become the default export).
 */
export function directCalls(program: Node, exclude: (node: Node) => boolean): DirectCalls {
  const escaped = new Set<string>();
  const declarations: FunctionNode[] = [];
  const calls: { name: string; site: CallSite; fn: Node | undefined }[] = [];
  const metered: Node[] = [];
  let hasEval = false;
  const reference = (node: Named, ancestors: Node[]) => {
    const name = node.name ?? "";
    if (name === "eval") hasEval = true;
    const parent = ancestors[ancestors.length - 2] as (Node & { callee?: Node; id?: Node }) | undefined;
    if (parent?.type === "CallExpression" && parent.callee === node) return;
    if (parent?.type === "FunctionDeclaration" && parent.id === node) return;
    escaped.add(name);
  };
  const visit = (node: Node) => {
    metered.push(node);
  };
  ancestor(
    program,
    {
      Identifier: (node: Node, _state: unknown, ancestors: Node[]) => reference(node, ancestors),
      // The walker's name for an identifier a pattern binds or assigns (acorn-walk's `base.Pattern`).
      VariablePattern: (node: Node, _state: unknown, ancestors: Node[]) => reference(node, ancestors),
      FunctionDeclaration(node: Node) {
        declarations.push(node as FunctionNode);
        metered.push(node);
      },
      FunctionExpression: visit,
      ArrowFunctionExpression: visit,
      ...Object.fromEntries(LOOP_TYPES.map((type) => [type, visit])),
      ExportNamedDeclaration(node: Node) {
        // `export { f }` and `export { f as g }`: the walker does not visit specifiers.
        for (const specifier of (node as Node & { specifiers?: { local: Named }[] }).specifiers ?? [])
          escaped.add(specifier.local.name ?? "");
      },
      CallExpression(node: Node, _state: unknown, ancestors: Node[]) {
        const callee = (node as Node & { callee: Named }).callee;
        if (callee.type !== "Identifier") return;
        calls.push({ name: callee.name ?? "", ...siteOf(node, ancestors) });
      },
    } as Parameters<typeof ancestor>[1],
    COMPLETE_BASE,
  );
  // A body whose entry check (or, paid for, whose checks before its calls) can pay for its direct calls.
  const covering = new Set<Node>(hasEval ? [] : metered.filter(coveringFunction));
  // A declaration saves a check only where such a body calls it: called from elsewhere alone,
  // each of its call sites would carry the check its entry had (once per site in the code
  // instead of once), for nothing.
  const calledFromCovering = new Set<string>();
  for (const { name, fn } of calls) if (fn !== undefined && covering.has(fn)) calledFromCovering.add(name);
  const paid = new Set<Node>();
  for (const fn of declarations) {
    const name = fn.id?.name;
    if (name === undefined || escaped.has(name) || !calledFromCovering.has(name) || exclude(fn)) continue;
    if (covering.has(fn)) paid.add(fn);
  }
  const names = new Set([...paid].map((fn) => (fn as FunctionNode).id!.name!));
  const sites: CallSite[] = [];
  const callsIn = new Map<Node, Node[]>();
  for (const { name, fn, site } of calls) {
    if (!names.has(name)) continue;
    if (fn === undefined || !covering.has(fn)) sites.push(site);
    else if (callsIn.has(fn)) callsIn.get(fn)!.push(site.call);
    else callsIn.set(fn, [site.call]);
  }
  for (const list of callsIn.values()) list.sort((a, b) => a.start - b.start);
  return { paid, callsIn, names, sites, metered };
}

/**
 * Where a call lies: `fn`, the function whose body holds it, undefined when it is not in a body
 * its function's checks can cover (module top level, a class body, a function's parameters).
 */
function siteOf(call: Node, ancestors: Node[]): { site: CallSite; fn: Node | undefined } {
  const site: CallSite = { call };
  let fn: Node | undefined;
  let inBody = false;
  for (let k = ancestors.length - 2; k >= 0; k--) {
    const node = ancestors[k]!;
    const child = ancestors[k + 1]!;
    if (node.type === "ExpressionStatement" && node.start === call.start && site.startsStatement === undefined) {
      const parent = ancestors[k - 1];
      site.startsStatement = { statement: node, inList: parent !== undefined && LIST_PARENTS.has(parent.type) };
    }
    if (node.type === "ClassBody") {
      inBody = false;
      fn = undefined;
      // Keep looking for the function, for the parameter case below.
      for (let j = k - 1; j >= 0; j--) {
        const outer = ancestors[j]!;
        if (FUNCTION_TYPES.has(outer.type)) {
          if ((outer as FunctionNode).body !== ancestors[j + 1]) site.inParamsOf = outer;
          break;
        }
      }
      break;
    }
    if (FUNCTION_TYPES.has(node.type)) {
      inBody = (node as FunctionNode).body === child;
      if (inBody) fn = node;
      else site.inParamsOf = node;
      break;
    }
  }
  return { site, fn: inBody ? fn : undefined };
}

/**
 * A function whose body runs each of its direct calls at most once per call, so that a count per
 * path bounds them: an expression body, or a block without loops, `switch`, `try`, labels or
 * classes. Not a generator or async function (they resume later, outside the caller's call).
 */
function coveringFunction(node: Node): boolean {
  const fn = node as FunctionNode & { expression?: boolean };
  if (!FUNCTION_TYPES.has(node.type) || fn.async || fn.generator) return false;
  return fn.body.type !== "BlockStatement" || (fn.body.body ?? []).every(simpleStatement);
}

/** Statement kinds a covering body may hold: no loops, no `switch`, `try`, labels or classes. */
function simpleStatement(node: Node): boolean {
  const n = node as Node & { body?: Node[]; consequent?: Node; alternate?: Node | null };
  switch (node.type) {
    case "BlockStatement":
      return (n.body ?? []).every(simpleStatement);
    case "IfStatement":
      return simpleStatement(n.consequent!) && (!n.alternate || simpleStatement(n.alternate));
    case "ReturnStatement":
    case "ThrowStatement":
    case "ExpressionStatement":
    case "EmptyStatement":
    case "FunctionDeclaration":
      return true;
    case "VariableDeclaration":
      // A declarator with no initializer has nothing to run; the check goes on an initializer.
      return true;
    default:
      return false;
  }
}

/** The child nodes of `node` (acorn nodes: every object-valued field with a `type`). */
function childNodes(node: Node): Node[] {
  const out: Node[] = [];
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) {
      for (const item of value)
        if (item !== null && typeof item === "object" && typeof item.type === "string") out.push(item);
    } else if (value !== null && typeof value === "object" && typeof (value as Node).type === "string") out.push(value);
  }
  return out;
}

/** The parts of a statement the call counting reads, whatever its type. */
export type StatementParts = Node & {
  body?: Node[];
  test?: Node;
  consequent?: Node;
  alternate?: Node | null;
  argument?: Node | null;
  expression?: Node;
  declarations?: (Node & { init?: Node | null })[];
};

/**
 * Counts of the direct calls one function's checks pay for (`DirectCalls.callsIn`): where they
 * lie is known, so a subtree is only looked into when it holds two or more of them.
 */
export class CallCounter {
  private readonly calls: Node[];
  private readonly own: Set<Node>;
  constructor(calls: Node[]) {
    this.calls = calls;
    this.own = new Set(calls);
  }

  /**
   * The function's direct calls inside `node` (the calls are sorted by start; ranges nest, so a
   * call starting in `node` lies in it unless it encloses it: `f(x)` starts where its callee does).
   */
  sites(node: Node): number {
    const calls = this.calls;
    let lo = 0;
    let hi = calls.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (calls[mid]!.start < node.start) lo = mid + 1;
      else hi = mid;
    }
    let n = 0;
    for (let k = lo; k < calls.length && calls[k]!.start < node.end; k++) if (calls[k]!.end <= node.end) n++;
    return n;
  }

  /** The most direct calls one evaluation of expression `node` can make. */
  maxCalls(node: Node): number {
    const sites = this.sites(node);
    if (sites <= 1) return sites;
    if (node.type === "ConditionalExpression") {
      const c = node as Node & { test: Node; consequent: Node; alternate: Node };
      return this.maxCalls(c.test) + Math.max(this.maxCalls(c.consequent), this.maxCalls(c.alternate));
    }
    let n = this.own.has(node) ? 1 : 0;
    for (const child of childNodes(node)) n += this.maxCalls(child);
    return n;
  }

  /** The most direct calls from the start of statement `node` to the function's return, `after` being that bound after it. */
  statementMax(node: Node, after: number): number {
    const n = node as StatementParts;
    switch (node.type) {
      case "BlockStatement":
        return this.listMax(n.body ?? [], 0, after);
      case "IfStatement":
        return (
          this.maxCalls(n.test!) +
          Math.max(this.statementMax(n.consequent!, after), n.alternate ? this.statementMax(n.alternate, after) : after)
        );
      case "ReturnStatement":
      case "ThrowStatement":
        return n.argument ? this.maxCalls(n.argument) : 0;
      case "ExpressionStatement":
        return this.maxCalls(n.expression!) + after;
      case "VariableDeclaration":
        return (n.declarations ?? []).reduce((sum, d) => sum + this.maxCalls(d), 0) + after;
      default:
        // EmptyStatement, FunctionDeclaration (hoisted; runs nothing here).
        return after;
    }
  }

  /** The bound from statement `from` of `list` on. */
  listMax(list: Node[], from: number, after: number): number {
    let n = after;
    for (let k = list.length - 1; k >= from; k--) n = this.statementMax(list[k]!, n);
    return n;
  }
}
