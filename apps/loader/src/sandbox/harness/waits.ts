/**
 * @module waits
 * Timers and body reads are waits the harness mediates too (see clock.ts waitStarts): scheduling
 * a timer closes the clock's slice, its callback reopens it; `scheduler.wait` is a wait like a
 * call; a body read (a fetch response's, an R2 object's, a sandbox request's) closes it until the
 * body is there. `json()` parses after the wait, on the clock, since a giant body's parse is work.
 */
import { awaited, openSlice, waitStarts } from "./clock.ts";
import { parseJson, promiseThen, reflectApply } from "./intrinsics.ts";
import { reportTimerThrow } from "./rejections.ts";
import { currentRun } from "./state.ts";

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

export function installWaits(): void {
  const global = globalThis as unknown as Record<string, unknown>;
  for (const name of ["setTimeout", "setInterval"]) {
    const original = global[name];
    if (typeof original !== "function") continue;
    // A computed method name: the wrapper's `name` stays the original's.
    global[name] = {
      [name](callback: unknown, ...rest: unknown[]) {
        const run = currentRun();
        if (run === undefined || !run.clockAtWaits || typeof callback !== "function")
          return reflectApply(original, globalThis, [callback, ...rest]);
        waitStarts(run, false);
        // The callback's slice ends when it returns (in a microtask, as at any wait): left open
        // until the backstop's macrotask, an interval's slices also took in the time the thread
        // spent elsewhere between ticks, and a busy machine's 1 ms interval read as computing.
        const wrapped = function (this: unknown, ...args: unknown[]) {
          if (!run.cpuError) openSlice(run);
          try {
            return reflectApply(callback as AnyFunction, this, args);
          } catch (thrown) {
            reportTimerThrow(run, name, thrown);
            throw thrown;
          } finally {
            waitStarts(run, false);
          }
        };
        return reflectApply(original, globalThis, [wrapped, ...rest]);
      },
    }[name];
  }
  const scheduler = (globalThis as unknown as { scheduler?: { wait?: AnyFunction } }).scheduler;
  if (typeof scheduler?.wait === "function") {
    const wait = scheduler.wait;
    try {
      scheduler.wait = function (...args: unknown[]) {
        return awaited(reflectApply(wait, scheduler, args));
      };
    } catch {
      // not writable here: its waits are closed by the macrotask backstop instead
    }
  }
  for (const Body of [Request, Response]) {
    const prototype = Body.prototype as unknown as Record<string, unknown>;
    const text = prototype.text as AnyFunction;
    for (const method of ["arrayBuffer", "bytes", "text", "blob", "formData"]) {
      const original = prototype[method];
      if (typeof original !== "function") continue;
      prototype[method] = {
        [method](this: unknown) {
          return awaited(reflectApply(original, this, arguments));
        },
      }[method];
    }
    prototype.json = function json(this: unknown) {
      return promiseThen(awaited(reflectApply(text, this, [])), parseJson as (text: unknown) => unknown);
    };
  }
}
