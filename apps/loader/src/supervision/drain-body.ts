/**
 * @module supervision/drain-body
 * Reads what is left of a supervised request's body once its answer is ready. workerd (its HTTP
 * server) discards at most 1 MiB of a body the Worker did not read and then closes the
 * connection, and Node's HTTP client, still writing the body, fails with EPIPE without reading
 * the answer that had already arrived: an early answer (a 401, a 404, a program's fetch handler
 * that ignores an upload) to a body over 1 MiB reached the client as a lost connection. The local
 * supervisor caps the body (DWL_MAX_BODY_BYTES), so this reads a bounded amount; deployed there is
 * no supervisor, and Cloudflare's front line answers such requests itself.
 */
import { SUPERVISED_REQUEST_HEADER } from "@dwl/protocol";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";

export const drainUnreadBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const body = c.req.raw.body;
  // A locked body is being read by whoever took it (a program's fetch handler streaming it).
  if (body === null || body.locked || c.req.header(SUPERVISED_REQUEST_HEADER) === undefined) return;
  // Before the answer goes out: read in the background, it raced workerd's own discarding and
  // lost about half the time.
  await body.pipeTo(new WritableStream()).catch(() => {});
};
