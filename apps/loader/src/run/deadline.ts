/**
 * @module run/deadline
 * The one parent-side deadline of a run, for the RPC run (run/invoke.ts) and the sandbox HTTP
 * request (run/serve.ts) alike. The child enforces `timeoutMs` with its own timer and answers
 * with a `timeout`; this backstop, `PARENT_TIMEOUT_GRACE_MS` later, is for a child that cannot
 * answer at all.
 */
import { PARENT_TIMEOUT_GRACE_MS } from "../limits.ts";

/** When the parent stops waiting for a child given `timeoutMs`. */
export function parentDeadlineMs(timeoutMs: number): number {
  return timeoutMs + PARENT_TIMEOUT_GRACE_MS;
}

/**
 * `work`'s value, or `onTimeout()`'s once `ms` have passed first. The timer is cleared either
 * way; a rejection of `work` before the deadline rejects.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** `work` under the parent-side deadline of a child with `timeoutMs`. */
export function withParentDeadline<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => T): Promise<T> {
  return withDeadline(work, parentDeadlineMs(timeoutMs), onTimeout);
}
