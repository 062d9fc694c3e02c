/**
 * @module runtime/process-tap
 * A handle on the workerd processes miniflare starts in this process.
 *
 * Only the runtime process itself may tell the supervisor that it went down: its exit, seen by
 * its parent (this process). Log text cannot: a program can make the loader log any text it
 * likes. Miniflare keeps its workerd ChildProcess private, so this wraps `child_process.spawn`
 * (the module object miniflare calls through) for the one command it runs, and hands the
 * ChildProcess to a listener. Nothing else changes: miniflare gets the same object.
 */
import childProcess, { type ChildProcess } from "node:child_process";

export type SpawnListener = (child: ChildProcess) => void;

let installed = false;
const listeners = new Set<SpawnListener>();

/** Calls `listener` with every workerd process spawned from now on, until the returned function is called. */
export function tapWorkerdSpawns(listener: SpawnListener): () => void {
  if (!installed) {
    installed = true;
    const spawn = childProcess.spawn;
    childProcess.spawn = function (this: unknown, ...args: unknown[]) {
      const child = (spawn as (...a: unknown[]) => ChildProcess).apply(this, args);
      if (isWorkerd(args[0])) for (const notify of listeners) notify(child);
      return child;
    } as typeof childProcess.spawn;
  }
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function isWorkerd(command: unknown): boolean {
  return typeof command === "string" && /(^|[/\\])workerd(\.exe)?$/.test(command);
}
