/**
 * @module supervision/drain-body
 * Reads what is left of a supervised request's body once its answer is ready. workerd (its HTTP
 * server) discards at most 1 MiB of a body the Worker did not read and then closes the
 * connection, and Node's HTTP client, still writing the body, fails with EPIPE without reading
 * the answer that had already arrived: an early answer (a 401, a 404, a program's fetch handler
 * that ignores an upload or reads part of it) to a body over 1 MiB reached the client as a lost
 * connection. The local supervisor caps the body (DWL_MAX_BODY_BYTES), so this reads a bounded
 * amount; deployed there is no supervisor, and Cloudflare's front line answers such requests itself.
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
  await readRest(body.getReader());
};

/** Reads and drops what is left of a body (one that broke off has nothing left). */
async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    while (!(await reader.read()).done);
  } catch {
    // a body that broke off: there is nothing left to read
  }
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * A sandbox's request body handed to its program through a reader kept here, so that what the
 * program leaves unread is read once its answer has ended (its last byte waits for that): until
 * then the program may still be reading, as an echo does while it answers.
 */
export function drainedAfterAnswer(request: Request): {
  body: ReadableStream<Uint8Array> | null;
  answered: (response: Response) => Promise<Response>;
} {
  const source = request.body;
  if (source === null || request.headers.get(SUPERVISED_REQUEST_HEADER) === null)
    return { body: source, answered: async (response) => response };
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    // The program gave the body up: the rest is read at the answer's end.
  });
  const drain = () => readRest(reader);
  return {
    body,
    async answered(response) {
      // An answer that can carry no body (a 204, a WebSocket's 101) goes once the rest is read.
      if (response.webSocket || NULL_BODY_STATUSES.has(response.status)) {
        await drain();
        return response;
      }
      const drained = new TransformStream<Uint8Array, Uint8Array>({ flush: drain });
      void (response.body ?? new ReadableStream({ start: (c) => c.close() })).pipeTo(drained.writable).catch(() => {});
      return new Response(drained.readable, response);
    },
  };
}
