/**
 * @module supervision/thread-use
 * How long a supervised request's work held the runtime's thread before its answer began, told
 * to the local supervisor on that answer (THREAD_USE_HEADER): under workerd every isolate shares
 * one thread, and the supervisor admits a key's runs by what its recent ones took. Counted:
 * building a bundle that was not cached (by the clock from start to end, so a build that waits
 * for the npm registry or for other requests' work is counted long: a key is held back for too
 * much, never for too little), and each run's time by the harness's clock (working, not
 * waiting). Deployed, there is no supervisor and nothing is counted.
 */
import { THREAD_USE_HEADER } from "@dwl/protocol";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { supervisedRequest } from "./cancel.ts";

/** Per supervised request being handled, its thread time so far (ms). */
const used = new Map<string, number>();

/**
 * Adds `ms` to the thread time of the supervised request being handled, if any. A child's report
 * is the program's to spoil: anything but a finite positive number counts nothing.
 */
export function countThreadUse(ms: unknown): void {
  const token = supervisedRequest.getStore();
  if (token === undefined || typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0) return;
  const sofar = used.get(token);
  if (sofar !== undefined) used.set(token, sofar + ms);
}

/**
 * Middleware (inside trackSupervisedRequest, which names the request): counts the request's
 * thread time from zero and sets the header on its answer. An answer whose headers cannot change
 * (one relayed as fetched) goes without: the supervisor then learns nothing from it.
 */
export const reportThreadUse: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = supervisedRequest.getStore();
  if (token === undefined) return next();
  used.set(token, 0);
  try {
    await next();
    const ms = used.get(token) ?? 0;
    try {
      c.res.headers.set(THREAD_USE_HEADER, String(Math.round(ms * 100) / 100));
    } catch {
      // Immutable headers: nothing to tell.
    }
  } finally {
    used.delete(token);
  }
};
