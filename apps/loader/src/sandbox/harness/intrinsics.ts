/**
 * @module intrinsics
 * The built-ins the harness's guards (metering, counting, log capture) call, captured when the
 * harness is evaluated: before the user's program (imported lazily, inside a run) can replace
 * them, and before the harness installs its own hooks over some of them (fetch, setTimeout). index.ts
 * imports this module first; nothing here may touch a global the harness patches later. (The
 * run store's own methods are bound in state.ts.)
 */
/** Bound Function.prototype.call: `uncurry(Array.prototype.slice)(array, …args)`. */
const uncurry = <T, A extends unknown[], R>(method: (this: T, ...args: A) => R): ((self: T, ...args: A) => R) =>
  Function.prototype.call.bind(method as (...args: unknown[]) => unknown) as (self: T, ...args: A) => R;

export const stringify = JSON.stringify;
export const mathRound = Math.round;
export const mathMax = Math.max;
export const mathMin = Math.min;
export const mathCeil = Math.ceil;
export const mathFloor = Math.floor;
export const arraySlice = uncurry(Array.prototype.slice) as <T>(array: T[], start?: number, end?: number) => T[];
export const arrayPush = uncurry(Array.prototype.push) as <T>(array: T[], item: T) => number;
export const roundMs = (ms: number): number => mathRound(ms * 100) / 100;
export const stringIncludes = uncurry(String.prototype.includes);
export const stringSlice = uncurry(String.prototype.slice);
export const stringIndexOf = uncurry(String.prototype.indexOf);
export const stringCharCodeAt = uncurry(String.prototype.charCodeAt);
export const decodeBase64 = atob;
export const objectIs = Object.is;
export const setAdd = uncurry(Set.prototype.add) as <T>(set: Set<T>, value: T) => Set<T>;
export const setDelete = uncurry(Set.prototype.delete) as <T>(set: Set<T>, value: T) => boolean;
export const setClear = uncurry(Set.prototype.clear) as <T>(set: Set<T>) => void;
export const toText = String;

export const now = performance.now.bind(performance);
/** The runtime's own console.log (console.ts gives the program another). */
export const runtimeLog = console.log.bind(console);
export const originalFetch = globalThis.fetch.bind(globalThis);
export const startTimer = setTimeout;
export const stopTimer = clearTimeout;
const encoder = new TextEncoder();
// The methods themselves, not `encoder.encode(…)`: a program may replace TextEncoder.prototype's
// (or a typed array's `length`) to make its logs and results look small.
const encode = uncurry(TextEncoder.prototype.encode) as (self: TextEncoder, text: string) => Uint8Array;
const encodeInto = uncurry(TextEncoder.prototype.encodeInto) as (
  self: TextEncoder,
  text: string,
  into: Uint8Array,
) => TextEncoderEncodeIntoResult;
const typedArrayLength = uncurry(
  (Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "length") as PropertyDescriptor)
    .get as (this: Uint8Array) => number,
);
const Bytes = Uint8Array;
export const reflectApply = Reflect.apply;
export const queueTask = queueMicrotask;
export const promiseThen = uncurry(Promise.prototype.then) as <T, R1 = T, R2 = never>(
  promise: Promise<T>,
  onFulfilled: (value: T) => R1 | PromiseLike<R1>,
  onRejected?: (reason: unknown) => R2 | PromiseLike<R2>,
) => Promise<R1 | R2>;
export const resolvePromise = Promise.resolve.bind(Promise) as <T>(value: T) => Promise<Awaited<T>>;
export const parseJson = JSON.parse;
export const functionSource = uncurry(Function.prototype.toString) as (fn: unknown) => string;
export const objectKeys = Object.keys;
export const ownPropertyDescriptor = Object.getOwnPropertyDescriptor;
/**
 * The current call's place, as a new Error: V8 records its frames now and formats them only when
 * `.stack` is read, so taking one costs little until it is used.
 */
const OriginalError = Error;
export const callSite = (): Error => new OriginalError();

const OriginalWeakMap = WeakMap;
const weakMapGet = uncurry(WeakMap.prototype.get);
const weakMapSet = uncurry(WeakMap.prototype.set);
/** A WeakMap whose methods stay the built-ins whatever a program does to WeakMap.prototype. */
export class SafeWeakMap<K extends object, V> {
  readonly #map = new OriginalWeakMap<K, V>();
  get(key: K): V | undefined {
    return weakMapGet(this.#map, key) as V | undefined;
  }
  set(key: K, value: V): void {
    weakMapSet(this.#map, key, value);
  }
}

/** UTF-8 bytes of `text`; up to 1 KiB an upper bound (3 per UTF-16 unit), which costs nothing. */
export function byteLength(text: string): number {
  // Cheap bound first: UTF-16 length * 3 is an upper bound of the UTF-8 length.
  return text.length * 3 <= 1024 ? text.length * 3 : typedArrayLength(encode(encoder, text));
}

/**
 * The longest start of `text` whose UTF-8 form fits in `maxBytes`, cut between code points
 * (never inside a surrogate pair): its length in UTF-16 units (`chars`) and in bytes. Exact, and
 * never encodes more than `maxBytes` of a longer text.
 */
export function utf8Prefix(text: string, maxBytes: number): { chars: number; bytes: number } {
  const size = mathMin(maxBytes, text.length * 3);
  if (size <= 0) return { chars: 0, bytes: 0 };
  const { read, written } = encodeInto(encoder, text, new Bytes(size));
  return { chars: read, bytes: written };
}
