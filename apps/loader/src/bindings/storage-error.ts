/**
 * @module storage-error
 * A KV or R2 call that failed in the storage service itself (not a refused key or an oversized
 * value, which keys.ts reports). What the binding threw can carry the scoped key
 * (`t/<tenant>/<namespace>/…`) and service internals, so it goes to the loader's log and the
 * caller gets one clear message naming the operation and the key as the caller wrote it:
 * a program sees a `StorageError` (a `runtime` failure if uncaught); `/files` answers
 * 500 `internal` with the same message.
 */
import { DwlHttpError } from "../errors.ts";

export class StorageError extends DwlHttpError {
  constructor(message: string) {
    super(500, "internal", message);
    this.name = "StorageError";
  }
}

/**
 * Runs one call of the KV or R2 binding. `subject` is what the caller named (`"visits"`,
 * `3 keys`), already relative to its namespace.
 */
export async function storageCall<T>(store: "KV" | "FILES", op: string, subject: string | undefined, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    console.error(`dwl: storage error in ${store} ${op}`, err);
    const of = subject === undefined ? "" : ` of ${subject}`;
    throw new StorageError(`${store} ${op}${of} failed: the storage service returned an error; retrying may help`);
  }
}
