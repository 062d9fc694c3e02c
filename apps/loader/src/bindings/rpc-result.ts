/**
 * @module rpc-result
 * Capabilities answer children with values, never by throwing across RPC: a thrown error would
 * be logged by the runtime as an uncaught exception of the loader and lose its name on the way.
 * The harness's facades turn `{ error }` back into an exception inside the program.
 */
export type RpcResult<T> = { value: T } | { error: { name: string; message: string } };

export async function asRpcResult<T>(work: () => Promise<T>): Promise<RpcResult<T>> {
  try {
    return { value: await work() };
  } catch (err) {
    if (err instanceof Error) return { error: { name: err.name, message: err.message } };
    return { error: { name: "Error", message: String(err) } };
  }
}
