/**
 * @module npm/node-builtins
 * Node's built-in modules as the child isolates have them (workerd with `nodejs_compat` at
 * CHILD_COMPATIBILITY_DATE). Imports of these stay external, for the runtime to provide. Some are
 * stubs whose functions throw "not implemented" (child_process, cluster, …): importing them works,
 * as it does in Workers, so a package that only touches them on some paths still runs. What the
 * runtime lacks (`node:sea`, `node:test/reporters`) is reported by name at bundle time.
 * node-builtins.test.ts imports every name in a real child, so a runtime change shows up there.
 */

/** Importable in the child, with or without the `node:` prefix. */
export const RUNTIME_NODE_BUILTINS: ReadonlySet<string> = new Set([
  "assert",
  "assert/strict",
  "async_hooks",
  "buffer",
  "child_process",
  "cluster",
  "console",
  "constants",
  "crypto",
  "dgram",
  "diagnostics_channel",
  "dns",
  "dns/promises",
  "domain",
  "events",
  "fs",
  "fs/promises",
  "http",
  "http2",
  "https",
  "inspector",
  "inspector/promises",
  "module",
  "net",
  "os",
  "path",
  "path/posix",
  "path/win32",
  "perf_hooks",
  "process",
  "punycode",
  "querystring",
  "readline",
  "readline/promises",
  "repl",
  "stream",
  "stream/consumers",
  "stream/promises",
  "stream/web",
  "string_decoder",
  "sys",
  "timers",
  "timers/promises",
  "tls",
  "trace_events",
  "tty",
  "url",
  "util",
  "util/types",
  "v8",
  "vm",
  "wasi",
  "worker_threads",
  "zlib",
]);

/** Importable in the child only with the prefix: without it these name npm packages, as in Node. */
const PREFIX_ONLY_NODE_BUILTINS: ReadonlySet<string> = new Set(["sqlite", "test"]);

export type BuiltinLookup =
  /** The canonical `node:` specifier to leave external. */
  | { available: string }
  /** A Node built-in (or `node:` name) the runtime does not have. */
  | { missing: string };

/** Classifies `spec` as a Node built-in (any `node:` specifier is one), or undefined. */
export function nodeBuiltin(spec: string): BuiltinLookup | undefined {
  const prefixed = spec.startsWith("node:");
  const name = prefixed ? spec.slice(5) : spec;
  if (RUNTIME_NODE_BUILTINS.has(name) || (prefixed && PREFIX_ONLY_NODE_BUILTINS.has(name)))
    return { available: `node:${name}` };
  return prefixed ? { missing: spec } : undefined;
}

/** Every name the child can import with the `node:` prefix (node-builtins.test.ts checks them). */
export const RUNTIME_PREFIXED_NODE_BUILTINS: readonly string[] = [
  ...RUNTIME_NODE_BUILTINS,
  ...PREFIX_ONLY_NODE_BUILTINS,
];
