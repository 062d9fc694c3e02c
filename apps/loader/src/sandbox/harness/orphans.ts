/**
 * @module orphans
 * Callbacks the runtime calls without any run's context are charged (see state.ts orphanRun) to
 * the run that registered them, when it can be known: a FinalizationRegistry's cleanup and an
 * event listener (WebSocket and WebSocketPair messages, EventSource, AbortSignal…). Called from
 * inside a run, they keep that run's context as before. Code that gets around these wrappers
 * still pays through orphanRun(); they only pick the fairer payer.
 */
import { reflectApply } from "./intrinsics.ts";
import { currentRun, runWith, type RunState } from "./state.ts";

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

const inRunOf = (registrant: RunState | undefined, fn: AnyFunction, self: unknown, args: unknown[]): unknown => {
  const run = currentRun() ?? registrant;
  return run === undefined ? reflectApply(fn, self, args) : runWith(run, reflectApply, fn, self, args);
};

/** FinalizationRegistry, whose cleanup callbacks run as the run that made the registry. */
function wrapFinalizationRegistry(): void {
  const OriginalRegistry = globalThis.FinalizationRegistry;
  if (typeof OriginalRegistry !== "function") return;
  // A function, not a class: it must construct the original (native) registry, and stay
  // callable only with `new`, as the original is.
  const FinalizationRegistry = function FinalizationRegistry(this: unknown, cleanup: unknown) {
    if (new.target === undefined) throw new TypeError("Constructor FinalizationRegistry requires 'new'");
    const registrant = currentRun();
    const wrapped =
      typeof cleanup === "function"
        ? (held: unknown) => inRunOf(registrant, cleanup as AnyFunction, undefined, [held])
        : cleanup;
    return Reflect.construct(
      OriginalRegistry,
      [wrapped],
      new.target === FinalizationRegistry ? OriginalRegistry : new.target,
    );
  } as unknown as FinalizationRegistryConstructor;
  (FinalizationRegistry as { prototype: unknown }).prototype = OriginalRegistry.prototype;
  Object.defineProperty(OriginalRegistry.prototype, "constructor", {
    value: FinalizationRegistry,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  globalThis.FinalizationRegistry = FinalizationRegistry;
}

/** addEventListener / removeEventListener, whose listeners run as the run that added them. */
function wrapEventTarget(): void {
  if (typeof EventTarget !== "function") return;
  const add = EventTarget.prototype.addEventListener;
  const remove = EventTarget.prototype.removeEventListener;
  const wrappers = new WeakMap<object, AnyFunction>();
  const weakGet = Function.prototype.call.bind(WeakMap.prototype.get) as (
    map: WeakMap<object, AnyFunction>,
    key: object,
  ) => AnyFunction | undefined;
  const weakSet = Function.prototype.call.bind(WeakMap.prototype.set) as (
    map: WeakMap<object, AnyFunction>,
    key: object,
    value: AnyFunction,
  ) => WeakMap<object, AnyFunction>;
  const wrapperOf = (listener: unknown): unknown => {
    if (listener === null || (typeof listener !== "function" && typeof listener !== "object")) return listener;
    let wrapper = weakGet(wrappers, listener);
    if (wrapper === undefined) {
      const registrant = currentRun();
      wrapper = function (this: unknown, event: unknown) {
        return typeof listener === "function"
          ? inRunOf(registrant, listener as AnyFunction, this, [event])
          : inRunOf(registrant, (listener as { handleEvent: AnyFunction }).handleEvent, listener, [event]);
      };
      weakSet(wrappers, listener, wrapper);
    }
    return wrapper;
  };
  EventTarget.prototype.addEventListener = function addEventListener(
    this: EventTarget,
    type: string,
    listener: unknown,
    options?: unknown,
  ) {
    return reflectApply(add, this, [type, wrapperOf(listener), options]);
  } as EventTarget["addEventListener"];
  EventTarget.prototype.removeEventListener = function removeEventListener(
    this: EventTarget,
    type: string,
    listener: unknown,
    options?: unknown,
  ) {
    const wrapper =
      listener !== null && (typeof listener === "function" || typeof listener === "object")
        ? weakGet(wrappers, listener)
        : undefined;
    return reflectApply(remove, this, [type, wrapper ?? listener, options]);
  } as EventTarget["removeEventListener"];
}

/** Installs both wrappers (index.ts: before any other hook, as the harness always has). */
export function installOrphanPayers(): void {
  wrapFinalizationRegistry();
  wrapEventTarget();
}
