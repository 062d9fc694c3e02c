/**
 * @module tools/tool-entrypoint
 * The base class of every operator tool. The child harness calls a tool only through
 * `invokeTool`, and tools answer through `toolCall`, which is where the rules every tool shares
 * live, so a new tool cannot forget them:
 * - results are values, never exceptions across RPC (bindings/rpc-result.ts);
 * - every call counts as a side effect for the local supervisor (supervision/effects.ts), read
 *   or not: a tool is operator code the loader cannot see into, so it is treated as effectful;
 * - a tool reaches the network only through `egressFetch`, which sends the request back into
 *   the calling run's isolate and out through the harness's own fetch: it is counted against
 *   the run's `limits.subRequests` (a run over it ends with `subrequest_limit`), recorded in
 *   the run's `egress` audit, and passes the same egress gateway and policy as the program's
 *   fetch. There is no other path: a tool has no gateway or run state of its own to misuse.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { WorkerEntrypoint } from "cloudflare:workers";
import { asRpcResult, type RpcResult } from "../bindings/rpc-result.ts";
import { beforeSideEffect } from "../supervision/effects.ts";
import type { ToolProps } from "./tool-props.ts";

/** What the harness's network function answers (sandbox/harness/network.ts `toolNetwork`). */
export type ToolNetworkResult = { response: Response } | { denied: string } | { limit: string } | { failed: string };
/** The calling run's fetch, handed over by the harness with every tool call. */
export type ToolNetwork = (request: Request) => Promise<ToolNetworkResult>;

/** Thrown in a tool (and so in the program) when the gateway refuses a request. */
export class EgressDeniedByGateway extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EgressDeniedError";
  }
}

/** Thrown in a tool when the run is over `limits.subRequests`; the run has already failed with it. */
export class ToolSubrequestLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SubrequestLimitError";
  }
}

// Per call, not per instance: nothing promises one entrypoint instance per RPC call.
const networks = new AsyncLocalStorage<ToolNetwork>();

/** Methods a program may call: a subclass's own prototype methods, never the base classes'. */
function isToolMethod(tool: ToolEntrypoint, method: string): boolean {
  if (method === "constructor") return false;
  for (
    let proto = Object.getPrototypeOf(tool);
    proto && proto !== ToolEntrypoint.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, method);
    if (descriptor) return typeof descriptor.value === "function";
  }
  return false;
}

export abstract class ToolEntrypoint extends WorkerEntrypoint<Env, ToolProps> {
  /** The one entry the harness uses: a method call made by the run that hands over `network`. */
  async invokeTool(method: string, args: unknown[], network: ToolNetwork): Promise<RpcResult<unknown>> {
    if (typeof method !== "string" || !isToolMethod(this, method) || !Array.isArray(args) || !network) {
      return { error: { name: "TypeError", message: `this tool has no method "${String(method)}"` } };
    }
    const fn = (this as unknown as Record<string, (...a: unknown[]) => Promise<RpcResult<unknown>>>)[method]!;
    return networks.run(network, () => fn.apply(this, args));
  }

  protected toolCall<T>(work: () => Promise<T>): Promise<RpcResult<T>> {
    return asRpcResult(async () => {
      await beforeSideEffect(this.env, this.ctx.props.tenant, this.ctx);
      return work();
    });
  }

  /** The only way a tool reaches the network: as the calling run, through its accounting. */
  protected async egressFetch(request: Request): Promise<Response> {
    const network = networks.getStore();
    if (!network) throw new EgressDeniedByGateway("egress refused: this tool call did not come from a run");
    const result = await network(request);
    if ("denied" in result) throw new EgressDeniedByGateway(result.denied);
    if ("limit" in result) throw new ToolSubrequestLimitError(result.limit);
    // As fetch fails: no answer came (the message says why).
    if ("failed" in result) throw new TypeError(result.failed);
    return result.response;
  }
}
