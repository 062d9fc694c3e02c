/**
 * @module demand
 * What a program request will take inside the runtime, for admission (admission.ts): the runs it
 * starts and their CPU budgets together. A request says its budget itself (`limits.cpuMs` of
 * POST /execute, of each MCP `tools/call`); a stored sandbox's budget is stored with it, so the
 * loader reports it on each answer (RUN_CPU_BUDGET_HEADER) and the sandbox's next requests are
 * weighed by what it said last.
 */
import type { Demand } from "./admission.ts";
import type { Route } from "./routes.ts";

export interface CpuBudgets {
  /** The loader's budget for a run that asks for none (DWL_DEFAULT_CPU_MS). */
  defaultCpuMs: number;
  /** The loader's largest budget (DWL_MAX_CPU_MS): a larger request is capped to it. */
  maxCpuMs: number;
  /** A sandbox's budget before the loader reported it: taken as this (the key's whole share). */
  unknownSandboxCpuMs: number;
}

/**
 * Sandboxes whose budget is remembered, the ones answered last. Each entry is a key hash and an
 * id (~150 bytes); past this a sandbox not answered for long is weighed as unknown again.
 */
const SANDBOX_BUDGETS_MAX = 10_000;

const BRACKET = 0x5b;
const isJsonSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

export class Demands {
  private readonly sandboxBudgets = new Map<string, number>();
  private readonly budgets: CpuBudgets;

  constructor(budgets: CpuBudgets) {
    this.budgets = budgets;
  }

  /** The demand of a request with API key `keyHash` on `route` with `body` (buffered, if it was). */
  of(route: Route, keyHash: string | undefined, body: Buffer | undefined): Demand {
    if (route.sandbox !== undefined) {
      const known = keyHash === undefined ? undefined : this.sandboxBudgets.get(sandboxKey(keyHash, route.sandbox));
      return { runs: 1, cpuMs: known ?? this.budgets.unknownSandboxCpuMs };
    }
    if (!body || !route.buffersBody) return { runs: 1, cpuMs: this.budgets.defaultCpuMs };
    if (route.jsonRpc) return this.ofJsonRpc(body);
    return { runs: 1, cpuMs: this.requested(mentionsCpuMs(body) ? limitsOf(parsed(body)) : undefined) };
  }

  /** What the loader reported of a sandbox's runs on its answer to a request with API key `keyHash`. */
  learn(route: Route, keyHash: string | undefined, runCpuMs: number | undefined): void {
    if (route.sandbox === undefined || keyHash === undefined || runCpuMs === undefined) return;
    const key = sandboxKey(keyHash, route.sandbox);
    // Re-inserted, so that the oldest answered is the first forgotten.
    this.sandboxBudgets.delete(key);
    if (this.sandboxBudgets.size >= SANDBOX_BUDGETS_MAX)
      this.sandboxBudgets.delete(this.sandboxBudgets.keys().next().value as string);
    this.sandboxBudgets.set(key, runCpuMs);
  }

  /**
   * One run per `tools/call` of a batch (at least one), each with its `arguments.limits.cpuMs`.
   * Parsed only when it is a batch or mentions a budget: a plain call costs no parse here.
   */
  private ofJsonRpc(body: Buffer): Demand {
    const batch = firstByte(body) === BRACKET;
    if (!batch && !mentionsCpuMs(body)) return { runs: 1, cpuMs: this.budgets.defaultCpuMs };
    const message = parsed(body);
    const calls = (Array.isArray(message) ? message : [message]).filter(
      (m: unknown) => (m as { method?: unknown } | null)?.method === "tools/call",
    ) as { params?: { arguments?: unknown } }[];
    if (calls.length === 0) return { runs: 1, cpuMs: this.budgets.defaultCpuMs };
    let cpuMs = 0;
    for (const call of calls) cpuMs += this.requested(limitsOf(call.params?.arguments));
    return { runs: calls.length, cpuMs };
  }

  /** The budget the loader gives a run asking for `limits.cpuMs` (or nothing usable). */
  private requested(limits: unknown): number {
    const cpuMs = (limits as { cpuMs?: unknown } | undefined)?.cpuMs;
    // Anything but a whole number ≥ 1 is refused by the loader's request check: it never runs.
    if (typeof cpuMs !== "number" || !Number.isInteger(cpuMs) || cpuMs < 1) return this.budgets.defaultCpuMs;
    return Math.min(cpuMs, this.budgets.maxCpuMs);
  }
}

/** Sandbox ids are the tenant's: the same id under another key is another sandbox, or none. */
const sandboxKey = (keyHash: string, sandbox: string) => `${keyHash}\n${sandbox}`;

/**
 * Whether a JSON text may set `cpuMs`: the key written out, or any `\u` escape (JSON has no other
 * way to spell the key's letters). Without either no parse is needed: the budget is the default.
 */
function mentionsCpuMs(body: Buffer): boolean {
  return body.includes("cpuMs") || body.includes("\\u");
}

function firstByte(body: Buffer): number | undefined {
  for (const byte of body) if (!isJsonSpace(byte)) return byte;
  return undefined;
}

function parsed(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

function limitsOf(request: unknown): unknown {
  return (request as { limits?: unknown } | null | undefined)?.limits;
}
