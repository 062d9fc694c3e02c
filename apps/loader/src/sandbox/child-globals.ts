/**
 * @module child-globals
 * The globals through which code the loader writes into a program (bundle/) reaches the harness
 * (sandbox/harness/). A module with no imports, so the bundler's modules and the harness can
 * both take the names from here without an import circle; the local supervisor takes the
 * heartbeat from here too, without the loader's types.
 */

/** The fuel check metered code calls (bundle/rewrite.ts), a non-writable global the harness installs. */
export const REFUEL_GLOBAL = "__dwlRefuel";
/** What the `cloudflare:sockets` shim's connect() calls (bundle/virtual-files.ts) to be refused. */
export const REFUSE_SOCKET_GLOBAL = "__dwlRefuseSocket";

/**
 * The line the harness prints about every HEARTBEAT_INTERVAL_MS of metered work in a supervised
 * run (harness/fuel.ts), which workerd writes at once, while its thread still computes; the local
 * supervisor's watchdog takes it for a sign of life (apps/supervisor/src/watchdog.ts).
 */
export const HEARTBEAT_LINE = "[dwl] runtime computing";
export const HEARTBEAT_INTERVAL_MS = 1_000;
