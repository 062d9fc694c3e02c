/**
 * @module demand
 * What a program request will take inside the runtime, for admission (admission.ts): the runs it
 * starts, their CPU budgets together, and how long they may take by the wall clock (a request
 * waits no longer than that for its turn). A request says its budget itself (`limits.cpuMs` of
 * POST /execute, of each MCP `tools/call`); a stored sandbox's budget is stored with it, so the
 * loader reports it on each answer (RUN_CPU_BUDGET_HEADER) and the sandbox's next requests are
 * weighed by what it said last, until a request that may redefine the sandbox makes it unknown
 * again (unknown, a sandbox's request takes its key's whole share).
 */
import { createHash } from "node:crypto";
import type { Demand } from "./admission.ts";
import type { Route } from "./routes.ts";

/** The loader's limits that a request's demand is read with (as the loader applies them). */
export interface RunLimits {
  /** The loader's budget for a run that asks for none (DWL_DEFAULT_CPU_MS). */
  defaultCpuMs: number;
  /** The loader's largest budget (DWL_MAX_CPU_MS): a larger request is capped to it. */
  maxCpuMs: number;
  /** A sandbox's budget before the loader reported it: taken as this (the key's whole share). */
  unknownSandboxCpuMs: number;
  /** The loader's wall-clock timeout for a run that asks for none (DWL_DEFAULT_TIMEOUT_MS)… */
  defaultTimeoutMs: number;
  /** …and its largest (DWL_MAX_TIMEOUT_MS): a larger request is capped to it. */
  maxTimeoutMs: number;
}

/**
 * Sandboxes whose budget is remembered, the ones answered last. Each entry is a key hash and an
 * id (~150 bytes); past this a sandbox not answered for long is weighed as unknown again.
 */
const SANDBOX_BUDGETS_MAX = 10_000;

export class Demands {
  private readonly sandboxBudgets = new Map<string, number>();
  private readonly budgets: RunLimits;
  /** Counts the arrivals and answers of requests that may redefine a sandbox (`Route.redefines`). */
  private redefinitions = 0;
  /** For each sandbox id, the count when a request that may redefine it last arrived or was answered. */
  private readonly redefinedAt = new Map<string, number>();
  /** The latest count dropped from `redefinedAt`: a sandbox not there may have been redefined then. */
  private forgottenAt = 0;

  constructor(budgets: RunLimits) {
    this.budgets = budgets;
  }

  /** The demand of a request with API key `keyHash` on `route` with `body` (buffered, if it was). */
  of(route: Route, keyHash: string | undefined, body: Buffer | undefined): Demand {
    if (route.sandbox !== undefined) {
      const known = keyHash === undefined ? undefined : this.sandboxBudgets.get(sandboxKey(keyHash, route.sandbox));
      return { runs: 1, cpuMs: known ?? this.budgets.unknownSandboxCpuMs, program: route.sandbox };
    }
    if (!body || !route.buffersBody) return this.ofLimits(undefined);
    // Parsed once: to name its program (a body up to PROGRAM_NAME_BYTES), or when it may set a
    // limit; a larger body that sets none costs no parse here.
    const message = body.length <= PROGRAM_NAME_BYTES || mentionsLimits(body) ? parsed(body) : undefined;
    const demand = route.jsonRpc ? this.ofJsonRpc(message) : this.ofLimits(limitsOf(message));
    return { ...demand, program: programOf(body, message), ...(route.reportsEffects ? {} : { definition: true }) };
  }

  /** Where a request stands among redefinitions: taken before its demand, passed to `redefinedSince` and `learn`. */
  stamp(): number {
    return this.redefinitions;
  }

  /**
   * A request that may change or delete a sandbox's definition (`Route.redefines`), called when
   * it arrives and again once answered: the sandbox's budget is forgotten under every key (its
   * limits may change, and another key of the same tenant may change them), and what runs
   * begun before reported is not learned, since they may have read the old definition.
   */
  redefining(route: Route): void {
    const id = route.redefines;
    if (id === undefined) return;
    this.redefinedAt.delete(id);
    if (this.redefinedAt.size >= SANDBOX_BUDGETS_MAX) {
      const [oldest, at] = this.redefinedAt.entries().next().value as [string, number];
      this.redefinedAt.delete(oldest);
      this.forgottenAt = at;
    }
    this.redefinedAt.set(id, ++this.redefinitions);
    const suffix = `\n${id}`;
    for (const key of this.sandboxBudgets.keys()) if (key.endsWith(suffix)) this.sandboxBudgets.delete(key);
  }

  /** Whether the sandbox `route` runs may have been redefined since `stamp`: its demand then may be stale. */
  redefinedSince(route: Route, stamp: number): boolean {
    if (route.sandbox === undefined) return false;
    return (this.redefinedAt.get(route.sandbox) ?? this.forgottenAt) > stamp;
  }

  /**
   * What the loader reported of a sandbox's runs on its answer to a request with API key
   * `keyHash`, which arrived at `stamp`: not learned if the sandbox may have been redefined since
   * (a run that read the old definition would report its old budget after the new one is stored).
   */
  learn(route: Route, keyHash: string | undefined, runCpuMs: number | undefined, stamp: number): void {
    if (route.sandbox === undefined || keyHash === undefined || runCpuMs === undefined) return;
    if (this.redefinedSince(route, stamp)) return;
    this.remember(sandboxKey(keyHash, route.sandbox), runCpuMs);
  }

  /**
   * What the loader reported on its answer to a request of API key `keyHash` that created or
   * updated sandbox `id`: the budget of its runs, known before the first of them answers (unknown,
   * each of the sandbox's requests would take the key's whole share, so a new sandbox's
   * concurrent requests ran one at a time). Called after the answer, once `redefining` forgot
   * the old budget.
   */
  learnDefinition(keyHash: string | undefined, id: string | undefined, runCpuMs: number | undefined): void {
    if (keyHash === undefined || id === undefined || runCpuMs === undefined) return;
    this.remember(sandboxKey(keyHash, id), runCpuMs);
  }

  /** Remembers a sandbox's budget, the oldest answered forgotten first past SANDBOX_BUDGETS_MAX. */
  private remember(key: string, runCpuMs: number): void {
    // Re-inserted, so that the oldest answered is the first forgotten.
    this.sandboxBudgets.delete(key);
    if (this.sandboxBudgets.size >= SANDBOX_BUDGETS_MAX)
      this.sandboxBudgets.delete(this.sandboxBudgets.keys().next().value as string);
    this.sandboxBudgets.set(key, runCpuMs);
  }

  /**
   * One run however many `tools/call` a batch has (the loader runs them one after another), with
   * the largest `arguments.limits.cpuMs` among them, and the largest timeout (`message`: the
   * body parsed, or undefined when it sets no limit).
   */
  private ofJsonRpc(message: unknown): Demand {
    const calls = (Array.isArray(message) ? message : [message]).filter(
      (m: unknown) => (m as { method?: unknown } | null)?.method === "tools/call",
    ) as { params?: { arguments?: unknown } }[];
    if (calls.length === 0) return this.ofLimits(undefined);
    const demand: Required<Pick<Demand, "runs" | "cpuMs" | "timeoutMs">> = { runs: 1, cpuMs: 0, timeoutMs: 0 };
    for (const call of calls) {
      const { cpuMs, timeoutMs } = this.ofLimits(limitsOf(call.params?.arguments));
      demand.cpuMs = Math.max(demand.cpuMs, cpuMs);
      demand.timeoutMs = Math.max(demand.timeoutMs, timeoutMs ?? 0);
    }
    return demand;
  }

  /** The demand of one run asking for `limits` (or nothing usable): its budget and timeout as the loader gives them. */
  private ofLimits(limits: unknown): Demand {
    const { cpuMs, timeoutMs } = (limits ?? {}) as { cpuMs?: unknown; timeoutMs?: unknown };
    return {
      runs: 1,
      cpuMs: Math.min(wholeAtLeastOne(cpuMs) ?? this.budgets.defaultCpuMs, this.budgets.maxCpuMs),
      timeoutMs: Math.min(wholeAtLeastOne(timeoutMs) ?? this.budgets.defaultTimeoutMs, this.budgets.maxTimeoutMs),
    };
  }
}

/**
 * Bodies up to this size are read to name their program without their input; a larger one is
 * named by its first bytes and its length (another input, another name: its predictions then
 * come from the key's runs, or wait for its own).
 */
const PROGRAM_NAME_BYTES = 64 * 1024;

/**
 * A name for what a program request runs: admission predicts its thread time and its wait from
 * earlier runs of the same. Its input is not part of it (a batch evaluation, one program with a
 * thousand inputs, is one program), nor a JSON-RPC id.
 */
function programOf(body: Buffer, message: unknown): string {
  const hash = createHash("sha1");
  if (body.length <= PROGRAM_NAME_BYTES && message !== undefined)
    return hash.update(JSON.stringify(withoutInputs(message)) ?? "").digest("base64url");
  return hash.update(body.subarray(0, PROGRAM_NAME_BYTES)).update(String(body.length)).digest("base64url");
}

/** A request (or JSON-RPC message, or batch) without its `input`s and JSON-RPC ids. */
function withoutInputs(message: unknown): unknown {
  if (Array.isArray(message)) return message.map(withoutInputs);
  if (typeof message !== "object" || message === null) return message;
  const { input: _input, id: _id, params, ...rest } = message as Record<string, unknown>;
  if (typeof params !== "object" || params === null) return params === undefined ? rest : { ...rest, params };
  const { arguments: args, ...otherParams } = params as Record<string, unknown>;
  return { ...rest, params: { ...otherParams, arguments: withoutInputs(args) } };
}

/** Sandbox ids are the tenant's: the same id under another key is another sandbox, or none. */
const sandboxKey = (keyHash: string, sandbox: string) => `${keyHash}\n${sandbox}`;

/** A limit as the loader's request check takes it: anything but a whole number ≥ 1 is refused there, and never runs. */
function wholeAtLeastOne(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 ? value : undefined;
}

/**
 * Whether a JSON text may set `cpuMs` or `timeoutMs`: a key written out, or any `\u` escape (JSON
 * has no other way to spell the keys' letters). Without one no parse is needed: the defaults hold.
 */
function mentionsLimits(body: Buffer): boolean {
  return body.includes("cpuMs") || body.includes("timeoutMs") || body.includes("\\u");
}

/** The UTF-8 byte order mark, which the loader's decoding drops (`Request.json()` decodes as `TextDecoder` does). */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The body as the loader reads it: a leading byte order mark is not part of its JSON. */
function withoutBom(body: Buffer): Buffer {
  return body.subarray(0, 3).equals(BOM) ? body.subarray(3) : body;
}

function parsed(body: Buffer): unknown {
  try {
    return JSON.parse(withoutBom(body).toString("utf8"));
  } catch {
    return undefined;
  }
}

function limitsOf(request: unknown): unknown {
  return (request as { limits?: unknown } | null | undefined)?.limits;
}
