/**
 * @module files
 * `env.FILES` of a program: R2 confined to one tenant's namespace, as an RPC entrypoint with
 * props `{ tenant, namespace }`. The harness wraps it in an R2-like facade (sync `size`,
 * `text()`, `json()`…) inside the child, since RPC cannot carry R2's own object classes, and
 * turns `{ error }` results back into exceptions.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { readServerLimits } from "../limits.ts";
import { beforeSideEffect } from "../supervision/effects.ts";
import { asRpcResult, type RpcResult } from "./rpc-result.ts";
import type { ScopedStorageProps } from "./scoped-storage-props.ts";
import {
  TenantFiles,
  type FileInfo,
  type FileList,
  type FileListOptions,
  type FilePutOptions,
  type FileValue,
} from "./tenant-files.ts";

export class ScopedFiles extends WorkerEntrypoint<Env, ScopedStorageProps> {
  private get files(): TenantFiles {
    const { tenant, namespace } = this.ctx.props;
    return new TenantFiles(this.env.FILES, tenant, namespace, readServerLimits(this.env).maxFileBytes, () =>
      beforeSideEffect(this.env, tenant, this.ctx),
    );
  }

  head(key: string): Promise<RpcResult<FileInfo | null>> {
    return asRpcResult(() => this.files.head(key));
  }

  get(key: string): Promise<RpcResult<{ info: FileInfo; body: ReadableStream<Uint8Array> } | null>> {
    return asRpcResult(() => this.files.get(key));
  }

  put(key: string, value: FileValue, options?: FilePutOptions): Promise<RpcResult<FileInfo>> {
    return asRpcResult(() => this.files.put(key, value, options));
  }

  delete(keys: string | string[]): Promise<RpcResult<void>> {
    return asRpcResult(() => this.files.delete(keys));
  }

  list(options?: FileListOptions): Promise<RpcResult<FileList>> {
    return asRpcResult(() => this.files.list(options));
  }
}
