/**
 * @module format
 * Console arguments as text, the way Node's util.format renders them.
 */
import { objectIs, stringIncludes, stringify, toText } from "./intrinsics.ts";

/** The part of `process` the harness reads (nodejs_compat); not typed by workers-types. */
interface NodeProcess {
  getBuiltinModule(name: "node:util"): { format(...args: unknown[]): string };
}

/**
 * node:util, loaded on first need. Importing it statically made every new isolate build it:
 * ~1.5 ms of a cold run's ~8 ms (measured with perf on workerd), for a module most runs never
 * use; so does touching `process` early. The price: a program that breaks built-ins (say
 * `Array.prototype.map = null`) before its first object log breaks node:util's initialisation,
 * and its logs fall back to JSON (plainFormat). It only changes how that program's own logs
 * read: the text is still coerced, cut and counted.
 */
let utilFormat: ((...args: unknown[]) => string) | null | undefined; // undefined: not loaded yet; null: loading failed
export function nodeFormat(...args: unknown[]): string {
  if (utilFormat === undefined) {
    try {
      utilFormat = (globalThis as unknown as { process: NodeProcess }).process.getBuiltinModule("node:util").format;
    } catch {
      utilFormat = null;
    }
  }
  if (utilFormat) {
    try {
      return toText(utilFormat(...args));
    } catch {
      // built-ins broken after loading: fall through
    }
  }
  return plainFormat(args);
}

/** Without node:util: primitives as util.format prints them, objects as JSON. */
function plainFormat(args: unknown[]): string {
  let text = "";
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    const part =
      value !== null && typeof value === "object"
        ? (stringify(value) ?? toText(value))
        : typeof value === "function"
          ? "[Function]"
          : primitiveText(value);
    text += i === 0 ? part : ` ${part}`;
  }
  return text;
}

/** util.format's text of a primitive (strings raw, -0 and BigInt as Node prints them). */
function primitiveText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "bigint") return `${toText(value)}n`;
  if (typeof value === "number" && objectIs(value, -0)) return "-0";
  return toText(value);
}

/**
 * Console arguments as Node's util.format renders them. Primitives without format specifiers
 * (most log lines) are joined here; objects and `%` specifiers go to node:util itself.
 */
export function formatLog(args: unknown[]): string {
  if (typeof args[0] === "string" && stringIncludes(args[0], "%")) return nodeFormat(...args);
  let text = "";
  for (let i = 0; i < args.length; i++) {
    const value = args[i];
    if (value !== null && (typeof value === "object" || typeof value === "function")) return nodeFormat(...args);
    text += i === 0 ? primitiveText(value) : ` ${primitiveText(value)}`;
  }
  return text;
}
