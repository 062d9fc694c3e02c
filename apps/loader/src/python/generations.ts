/**
 * @module python/generations
 * A Python child whose Pyodide failed fatally (a C stack overflow, `os._exit`) can serve no
 * further run: python-child.child.js answers every run it had in progress, and any later one, with
 * `PythonFatalError` and asks to be replaced. Its tenant scope's runs then go to a new child,
 * whose isolate id carries how many times the scope's child was replaced.
 */
import { MAX_REPLACED_PYTHON_SCOPES } from "../limits.ts";

/** Scope's first child id → children replaced; oldest first. */
const replaced = new Map<string, number>();

/** The id of the child that serves the scope whose first child id is `firstId`. */
export function pythonChildId(firstId: string): string {
  const count = replaced.get(firstId);
  return count === undefined ? firstId : `${firstId}-${count}`;
}

/** Moves the scope of child `isolateId` to a new child, unless another run did already. */
export function replacePythonChild(isolateId: string): void {
  // First ids end in a SHA-256 (sandbox/load.ts isolateIdFor), replacements in `-<count>` after it.
  const firstId = isolateId.replace(/(?<=[0-9a-f]{64})-\d+$/, "");
  if (pythonChildId(firstId) !== isolateId) return;
  const count = (replaced.get(firstId) ?? 0) + 1;
  replaced.delete(firstId);
  replaced.set(firstId, count);
  if (replaced.size > MAX_REPLACED_PYTHON_SCOPES) {
    const oldest = replaced.keys().next().value;
    if (oldest !== undefined) replaced.delete(oldest);
  }
}
