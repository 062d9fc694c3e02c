/**
 * @module errors
 * The failures the harness raises inside a run. Their `type` is the ExecutionError type the
 * loader reports (result.ts describeError maps them); their `name` is what the program sees.
 */
import type { ExecutionErrorType, SourceLocation } from "@dwl/protocol";

/** A failure that ends the run with this `type`, whatever the program does afterwards. */
export class LimitError extends Error {
  // `declare`: no class field, so own properties keep the order of the assignments below.
  declare readonly type: ExecutionErrorType;
  constructor(type: ExecutionErrorType, name: string, message: string) {
    super(message);
    this.name = name;
    this.type = type;
  }
}

/** Why a run of `timeoutMs` ended as a timeout: `what` did not happen in time. */
export const timeoutMessage = (what: string, timeoutMs: number): string =>
  `${what} within ${timeoutMs} ms (limits.timeoutMs)`;

/** Thrown in the program when the gateway refuses a request; the run goes on if it is caught. */
export class EgressDeniedError extends Error {
  declare readonly type: "egress_denied";
  constructor(message: string) {
    super(message);
    this.name = "EgressDeniedError";
    this.type = "egress_denied";
  }
}

/**
 * A program that does not compile, found inside the child (Python parses its files there):
 * reported as `compile` with the location, like a bundling error of the loader.
 */
export class ProgramCompileError extends Error {
  declare readonly location: SourceLocation | undefined;
  /** `name`: the language's own (Python's IndentationError, TabError), SyntaxError by default. */
  constructor(message: string, location: SourceLocation | undefined, name = "SyntaxError") {
    super(message);
    this.name = name;
    this.location = location;
  }
}

/**
 * The child itself can serve no further run (a Python child whose Pyodide failed fatally): the run
 * fails as `runtime` and the loader replaces the child (python/generations.ts).
 */
export class ChildLostError extends LimitError {
  constructor(name: string, message: string) {
    super("runtime", name, message);
  }
}
