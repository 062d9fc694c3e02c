/**
 * @module child-globals
 * The globals through which code the loader writes into a program (bundle/) reaches the harness
 * (sandbox/harness/). A module with no imports, so the bundler's modules and the harness can
 * both take the names from here without an import circle.
 */

/** The fuel check metered code calls (bundle/rewrite.ts), a non-writable global the harness installs. */
export const REFUEL_GLOBAL = "__dwlRefuel";
/** What the `cloudflare:sockets` shim's connect() calls (bundle/virtual-files.ts) to be refused. */
export const REFUSE_SOCKET_GLOBAL = "__dwlRefuseSocket";
