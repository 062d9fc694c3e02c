/**
 * @module python/program
 * A Python program as the pipeline carries it. Python is not bundled: every Python child runs
 * the same program module (python-child.child.js) and receives the program's files with each
 * run, so one booted child per tenant scope serves all of that scope's Python programs (a boot
 * costs ~1.6 s; a warm run ~10 ms).
 */
import { defaultEntry, type ExecuteRequest, PYTHON_DEFAULT_ENTRY } from "@dwl/protocol";
import type { Bundle, PythonProgram } from "../bundle/bundle.ts";
import { sha256Hex } from "../hash.ts";
import PYTHON_CHILD_SOURCE from "./python-child.child.js";

/** Part of every Python child's isolate id: a new runtime or runner gets new children. */
const PYTHON_RUNTIME_VERSION = "pyodide-314.0.8/runner-7";

export function pythonProgram(body: Pick<ExecuteRequest, "code" | "files" | "entry">): PythonProgram {
  const files = body.code !== undefined ? { [PYTHON_DEFAULT_ENTRY]: body.code } : (body.files ?? {});
  // The request check has refused a program without one (run/request-check.ts), by the same rule.
  const entry = body.entry ?? defaultEntry(files);
  if (entry === undefined) throw new Error("a Python program without an entry file passed the request check");
  return { files, entry };
}

/** The "bundle" of a Python program: the shared child module, with the program riding along. */
export function pythonBundle(program: PythonProgram): Bundle & { python: PythonProgram } {
  return { code: PYTHON_CHILD_SOURCE, map: "", shape: "module", python: program };
}

/** The content key of every Python child (the program is not part of it: see the module comment). */
export const PYTHON_CHILD_KEY = `python/${PYTHON_RUNTIME_VERSION}`;

/** The content key of one Python program (where a sandbox's definition is stored). */
export function pythonProgramKey(program: PythonProgram): Promise<string> {
  const files = Object.keys(program.files)
    .sort()
    .map((path) => [path, program.files[path]]);
  return sha256Hex(JSON.stringify([PYTHON_CHILD_KEY, program.entry, files]));
}
