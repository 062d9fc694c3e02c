/**
 * Fault injection for the loader's storage. Two ways in, because bindings reach code two ways:
 * - `callWithEnv`: the loader's own request path (routes, sandbox service, credential store)
 *   uses the `env` of the request, so a test hands the app an env whose bindings are wrapped.
 * - `failBindingMethod`: a program's `env.KV` / `env.FILES` are served by loopback entrypoints
 *   (ScopedKv, ScopedFiles) that get their env from the runtime, not from the request. The
 *   binding classes are shared by every instance in this isolate (the test runs in the
 *   loader's isolate), so their prototype is patched instead; `vi.restoreAllMocks` undoes it.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import app from "../src/index.ts";
import { DEV_KEY } from "./helpers.ts";

/** Words that must never reach a client: they only exist inside the injected errors. */
export const INTERNAL_DETAIL = "injected-fault-detail";

export function fault(kind: "Error" | "TypeError" = "Error"): Error {
  const message = `${INTERNAL_DETAIL}: storage unavailable at t/local/secret-prefix (code 10001)`;
  return kind === "TypeError" ? new TypeError(message) : new Error(message);
}

type Method = (...args: never[]) => unknown;

/**
 * `target` with the `overrides` methods replaced; every other method is called on the real
 * target (binding methods refuse another `this`, and an RPC stub would take `.bind` for a
 * remote method, so calls are forwarded rather than bound).
 */
export function withOverrides<T extends object>(target: T, overrides: Record<string, Method>): T {
  return new Proxy(target, {
    get(real, prop) {
      if (typeof prop === "string" && Object.hasOwn(overrides, prop)) return overrides[prop];
      const value: unknown = Reflect.get(real, prop, real);
      if (typeof value !== "function" || prop === "then") return value;
      return (...args: unknown[]) => (real as Record<string | symbol, (...a: unknown[]) => unknown>)[prop]?.(...args);
    },
  });
}

/** A Durable Object namespace whose stubs have `overrides` (given the real stub). */
export function namespaceWithStubOverrides<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  overrides: (real: DurableObjectStub<T>) => Record<string, Method>,
): DurableObjectNamespace<T> {
  return withOverrides(namespace, {
    get: (id: DurableObjectId) => {
      const real = namespace.get(id);
      return withOverrides(real, overrides(real));
    },
  });
}

/** The runtime's env with some bindings replaced. */
export function envWith(replaced: Partial<Env>): Env {
  return new Proxy(env, {
    get: (real, prop) =>
      typeof prop === "string" && Object.hasOwn(replaced, prop) ? replaced[prop as keyof Env] : Reflect.get(real, prop),
  });
}

/** One request through the loader's app with `faultyEnv` as its env, as the dev tenant. */
export async function callWithEnv(faultyEnv: Env, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${DEV_KEY}`);
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(`http://loader.test${path}`, { ...init, headers }), faultyEnv, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** Makes every call of `method` on the `binding`'s class reject with a fresh `fault()`. */
export function failBindingMethod(
  binding: KVNamespace | R2Bucket,
  method: string,
  kind: "Error" | "TypeError" = "Error",
): void {
  const prototype = Object.getPrototypeOf(binding) as Record<string, Method>;
  vi.spyOn(prototype, method).mockImplementation(() => Promise.reject(fault(kind)));
}
