/**
 * @module tools/tool-entrypoint
 * The base class of every operator tool. Tools answer through `toolCall`, which is where the
 * rules every tool shares live, so a new tool cannot forget them:
 * - results are values, never exceptions across RPC (bindings/rpc-result.ts);
 * - every call counts as a side effect for the local supervisor (supervision/effects.ts), read
 *   or not: a tool is operator code the loader cannot see into, so it is treated as effectful.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { asRpcResult, type RpcResult } from "../bindings/rpc-result.ts";
import { beforeSideEffect } from "../supervision/effects.ts";
import type { ToolProps } from "./tool-props.ts";

export abstract class ToolEntrypoint extends WorkerEntrypoint<Env, ToolProps> {
  protected toolCall<T>(work: () => Promise<T>): Promise<RpcResult<T>> {
    return asRpcResult(async () => {
      await beforeSideEffect(this.env, this.ctx.props.tenant);
      return work();
    });
  }
}
