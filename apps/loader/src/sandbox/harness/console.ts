/**
 * @module console
 * The console the program sees: every line goes to the current run's LogBuffer (logs.ts), none
 * anywhere outside a run.
 */
import type { LogLevel } from "./logs.ts";
import { currentRun } from "./state.ts";

const LOG_LEVELS: readonly LogLevel[] = ["log", "info", "warn", "error", "debug"];

/** Replaces the console methods: every line goes to the current run's LogBuffer (none outside a run). */
export function installConsole(): void {
  for (const level of LOG_LEVELS) {
    console[level] = (...args: unknown[]) => currentRun()?.logs.add(level, args);
  }
  console.trace = (...args: unknown[]) => currentRun()?.logs.add("debug", args);
  console.dir = (value: unknown) => currentRun()?.logs.add("log", [value]);
  console.table = (value: unknown) => currentRun()?.logs.add("log", [value]);
}
