/**
 * @module async-hooks
 * The part of `node:async_hooks` the loader uses (nodejs_compat provides it; the project does
 * not pull in all of @types/node for one class).
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
    exit<R>(fn: () => R): R;
  }
}
