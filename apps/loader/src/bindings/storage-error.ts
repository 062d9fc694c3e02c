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
 * Runs one storage call (KV, R2, a Durable Object) for the loader. What the storage layer threw
 * can name internal keys, so it goes to the loader's log; the caller gets `message`, as a 500
 * `internal` unless `asError` says otherwise. The one place storage failures are translated:
 * programs' bindings (below), the credential store and sandbox writes.
 */
export async function storageOperation<T>(
  message: string,
  call: () => Promise<T>,
  asError = (text: string): Error => DwlHttpError.of("internal", text),
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    console.error(`dwl: ${message}`, err);
    throw asError(message);
  }
}

/**
 * Runs one call of the KV or R2 binding for a program. `subject` is what the caller named
 * (`"visits"`, `3 keys`), already relative to its namespace.
 */
export function storageCall<T>(
  store: "KV" | "FILES",
  op: string,
  subject: string | undefined,
  call: () => Promise<T>,
): Promise<T> {
  const of = subject === undefined ? "" : ` of ${subject}`;
  return storageOperation(
    `${store} ${op}${of} failed: the storage service returned an error; retrying may help`,
    call,
    (text) => new StorageError(text),
  );
}
