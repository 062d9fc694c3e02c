/**
 * @module supervision/run-budget
 * Tells the local supervisor the CPU budget of a sandbox's runs (RUN_CPU_BUDGET_HEADER), which
 * it needs to admit the sandbox's next requests fairly and cannot read from them. Deployed,
 * there is no supervisor and the answer is left as it is.
 */
import { DEFINED_SANDBOX_HEADER, RUN_CPU_BUDGET_HEADER } from "@dwl/protocol";

/** Sets (replacing any value a program set) the budget header on an answer the supervisor relays. */
export function tellRunBudget(headers: Headers, cpuMs: number, env: Pick<Env, "DWL_SUPERVISOR_URL">): void {
  if (env.DWL_SUPERVISOR_URL) headers.set(RUN_CPU_BUDGET_HEADER, String(cpuMs));
}

/** Tells the supervisor the budget of the runs of sandbox `id`, which the answer's request defined. */
export function tellDefinedSandbox(
  headers: Headers,
  id: string,
  cpuMs: number,
  env: Pick<Env, "DWL_SUPERVISOR_URL">,
): void {
  if (!env.DWL_SUPERVISOR_URL) return;
  headers.set(RUN_CPU_BUDGET_HEADER, String(cpuMs));
  headers.set(DEFINED_SANDBOX_HEADER, id);
}
