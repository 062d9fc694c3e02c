/**
 * @module run/compile
 * The bundle step: a program's files become one bundle (cached by content key, across requests
 * and tenants), or for Python the program handed to the shared Python child. The program's own
 * mistakes throw CompileError, which the run answers as a `compile` failure (run/respond.ts) and
 * a sandbox write as a 400.
 */
import { isPythonProgram, type ExecuteRequest, type ExecutionError } from "@dwl/protocol";
import { bundleProgram, type Bundle } from "../bundle/bundle.ts";
import { BundleCache } from "../bundle/cache.ts";
import type { CompileError } from "../compile-error.ts";
import type { ServerLimits } from "../limits.ts";
import { programSource } from "../program-source.ts";
import { countThreadUse } from "../supervision/thread-use.ts";
import { pythonBundle, pythonProgram, pythonProgramKey } from "../python/program.ts";

/** One per loader isolate: bundles are reused across requests and tenants (same code, same bundle). */
const bundles = new BundleCache();

/** A program ready to run: its bundle and the content key that addresses it. */
export interface CompiledProgram {
  bundle: Bundle;
  key: string;
  cached: boolean;
  /** A stored sandbox: always kept warm, whatever the warm-isolate bound (sandbox/load.ts). */
  pinned?: boolean;
}

/** Whether bundles get fuel checks: every CPU enforcement but the platform's alone. */
export function isMetered(server: ServerLimits): boolean {
  return server.cpuEnforcement !== "platform";
}

/** Bundles (or finds in the cache) a program. Throws CompileError for the program's mistakes. */
export async function compileProgram(
  body: Pick<ExecuteRequest, "code" | "files" | "entry" | "dependencies" | "language">,
  server: ServerLimits,
): Promise<CompiledProgram> {
  if (isPythonProgram(body)) {
    const program = pythonProgram(body);
    return { bundle: pythonBundle(program), key: await pythonProgramKey(program), cached: true };
  }
  const source = await programSource(body, isMetered(server));
  const started = performance.now();
  let built = false;
  try {
    const { bundle, cached } = await bundles.getOrBuild(source.key, () => {
      built = true;
      return bundleProgram(source);
    });
    return { bundle, key: source.key, cached };
  } finally {
    if (built) countThreadUse(performance.now() - started);
  }
}

/** A CompileError as the run's `error`. */
export function compileFailure(err: CompileError): ExecutionError {
  return {
    type: "compile",
    name: "CompileError",
    message: err.message,
    ...(err.location ? { location: err.location } : {}),
  };
}
