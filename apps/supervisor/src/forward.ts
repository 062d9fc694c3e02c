/**
 * @module forward
 * One attempt to hand a request to the runtime and its answer to the client, streaming both
 * ways: the client's body flows to the runtime as it arrives (counted against the cap), the
 * runtime's answer flows back chunk by chunk, and a client that goes away aborts the upstream
 * request at once.
 */
import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import {
  CANCEL_PATH,
  DEFINED_SANDBOX_HEADER,
  RUN_CPU_BUDGET_HEADER,
  SUPERVISOR_SECRET_HEADER,
  THREAD_USE_HEADER,
} from "@dwl/protocol";
import type { BodyCap } from "./answers.ts";
import { HEALTH_PATH } from "./routes.ts";

export type Outcome =
  /** The runtime's answer reached the client whole. */
  | { kind: "answered"; status: number }
  /** The connection to the runtime failed before an answer began. `reached`: the request may have been received. */
  | { kind: "lost"; reached: boolean }
  /** The answer had begun when the connection failed: the client's connection was cut. */
  | { kind: "broken" }
  /** The client went away. `cut`: the connection to the runtime was cut, so what the request started may go on. */
  | { kind: "client_gone"; cut: boolean }
  | { kind: "too_large" }
  /** The runtime answered something this process cannot relay (headers over the size bound). */
  | { kind: "unrelayable"; message: string };

export interface AttemptRequest {
  method: string;
  path: string;
  /** Names and values in turn (Node's raw header form), the Host header not among them. */
  headers: string[];
  /** A buffered body can be sent again; a client's stream only once. */
  body: Buffer | Readable | undefined;
  bodyCap: BodyCap;
  /**
   * Called when the client goes away before the answer begins, for a request whose body was all
   * sent: the connection to the runtime then stays open until the runtime answers (the answer is
   * dropped), so that the request's runs can be stopped (this call) and their end is seen.
   */
  outlivesClient?: () => void;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those this hop sets itself. */
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "host",
]);

/** Headers the loader sets on an answer for this process alone: never relayed to the client. */
export const FOR_SUPERVISOR_ONLY: ReadonlySet<string> = new Set([
  RUN_CPU_BUDGET_HEADER,
  DEFINED_SANDBOX_HEADER,
  THREAD_USE_HEADER,
]);

/** What the loader reported on an answer's head, for this process alone (FOR_SUPERVISOR_ONLY). */
export interface LoaderReport {
  /** The CPU budget of the answer's run (RUN_CPU_BUDGET_HEADER; sandboxes only). */
  runCpuMs?: number;
  /** The sandbox the request created or updated (DEFINED_SANDBOX_HEADER; `runCpuMs` its runs' budget). */
  definedSandbox?: string;
  /** How long the request's work held the runtime's thread before its answer began, ms (THREAD_USE_HEADER). */
  threadMs?: number;
}

/** The loader's report on an answer with `rawHeaders`: what it did not report, or reported unreadably, is absent. */
export function loaderReportOf(rawHeaders: string[]): LoaderReport {
  const report: LoaderReport = {};
  const runCpuMs = Number(rawHeaderValue(rawHeaders, RUN_CPU_BUDGET_HEADER));
  if (Number.isSafeInteger(runCpuMs) && runCpuMs > 0) report.runCpuMs = runCpuMs;
  const definedSandbox = rawHeaderValue(rawHeaders, DEFINED_SANDBOX_HEADER);
  if (definedSandbox) report.definedSandbox = definedSandbox;
  const thread = rawHeaderValue(rawHeaders, THREAD_USE_HEADER);
  const threadMs = thread ? Number(thread) : Number.NaN;
  if (Number.isFinite(threadMs) && threadMs >= 0) report.threadMs = threadMs;
  return report;
}

/** Response headers larger than this are refused by the HTTP parser; the answer says so. */
export const MAX_RESPONSE_HEADER_BYTES = 256 * 1024;

/**
 * `rawHeaders` (names and values in turn) without the hop-by-hop ones and `skip` (lower case),
 * in the same flat form, which Node's `request()` and `writeHead()` take as they are.
 */
export function forwardableHeaders(rawHeaders: string[], skip: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && !skip.has(lower)) out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}

/**
 * The first value of header `lowerName` (lower case), from the raw names: `IncomingMessage.headers`
 * is built on first use, a cost per answer.
 */
function rawHeaderValue(rawHeaders: string[], lowerName: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return rawHeaders[i + 1];
  }
  return undefined;
}

/** Where the runtime listens, and the Host it is sent (workerd builds `request.url` from it). */
export interface RuntimeTarget {
  host: string;
  port: number;
  /** The public one, never the runtime's own port. */
  publicHost: string;
}

/**
 * `resolve`, once: an attempt ends by whichever of its events comes first (an answer's end, an
 * error, the client leaving), and stops listening to the client then.
 */
export function settleOnce(resolve: (outcome: Outcome) => void, stopListening: () => void): (outcome: Outcome) => void {
  let settled = false;
  return (outcome) => {
    if (settled) return;
    settled = true;
    stopListening();
    resolve(outcome);
  };
}

/**
 * How long a connection to the runtime may sit unused and still be used again. workerd closes
 * one idle for 15 s (measured); a request sent on it as it closes fails as a lost connection
 * (a 502 after the wait for a crash that never comes), so this side lets go first.
 */
export const RUNTIME_SOCKET_IDLE_MS = 10_000;

export class RuntimeClient {
  private readonly agent: Agent;
  readonly target: RuntimeTarget;

  constructor(origin: string, publicHost: string, socketIdleMs = RUNTIME_SOCKET_IDLE_MS) {
    // An Agent's `timeout` destroys a free socket idle that long; one in use only gets an event.
    this.agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, timeout: socketIdleMs });
    const url = new URL(origin);
    this.target = { host: url.hostname, port: Number(url.port), publicHost };
  }

  /**
   * Sends `attempt` and relays the answer to `client`. `onHead` runs when the runtime's answer
   * begins, before its first byte is relayed (from then on the request is never sent again),
   * with what the loader reported on it.
   */
  send(attempt: AttemptRequest, client: ServerResponse, onHead: (report: LoaderReport) => void): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const settle = settleOnce(resolve, () => client.off("close", onClientClose));
      const upstream = request({
        host: this.target.host,
        port: this.target.port,
        method: attempt.method,
        path: attempt.path,
        agent: this.agent,
        maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
        headers: ["host", this.target.publicHost, ...attempt.headers] as unknown as OutgoingHttpHeaders,
        setHost: false,
      });
      upstream.maxHeadersCount = 0;
      let answering = false;
      let tooLarge = false;

      // Once this relay has ended the answer it stops listening: a close before that means the
      // client is gone, or was answered elsewhere (a malformed body's 400).
      const bodySent = attempt.body === undefined || Buffer.isBuffer(attempt.body);
      const onClientClose = () => {
        if (attempt.outlivesClient && bodySent && !answering) {
          client.off("close", onClientClose);
          return attempt.outlivesClient();
        }
        upstream.destroy();
        settle({ kind: "client_gone", cut: true });
      };
      client.on("close", onClientClose);

      upstream.on("error", (error: NodeJS.ErrnoException) => {
        if (tooLarge) return settle({ kind: "too_large" });
        if (answering) {
          client.destroy();
          return settle({ kind: "broken" });
        }
        if (error.code === "HPE_HEADER_OVERFLOW")
          return settle({
            kind: "unrelayable",
            message: `the answer's headers are larger than ${MAX_RESPONSE_HEADER_BYTES} bytes`,
          });
        settle({ kind: "lost", reached: error.code !== "ECONNREFUSED" });
      });

      upstream.on("response", (answer: IncomingMessage) => {
        if (client.headersSent || client.destroyed) {
          // The client was answered meanwhile (its body broke off: the malformed-request 400) or
          // is gone: this answer has nowhere to go, and writing its head would throw.
          answer.resume();
          upstream.destroy();
          return settle({ kind: "client_gone", cut: false });
        }
        answering = true;
        onHead(loaderReportOf(answer.rawHeaders));
        client.writeHead(answer.statusCode ?? 502, forwardableHeaders(answer.rawHeaders, FOR_SUPERVISOR_ONLY));
        // A stream's headers go out at once (an SSE client waits for them before any event); an
        // answer of known length sends them with its body, in one write.
        if (rawHeaderValue(answer.rawHeaders, "content-length") === undefined) client.flushHeaders();
        answer.on("data", (chunk: Buffer) => {
          if (!client.write(chunk)) {
            answer.pause();
            client.once("drain", () => answer.resume());
          }
        });
        answer.on("end", () => {
          client.end();
          settle({ kind: "answered", status: answer.statusCode ?? 502 });
        });
        answer.on("error", () => {
          client.destroy();
          settle({ kind: "broken" });
        });
        answer.on("aborted", () => {
          client.destroy();
          settle({ kind: "broken" });
        });
      });

      const { body } = attempt;
      if (body === undefined) upstream.end();
      else if (Buffer.isBuffer(body)) upstream.end(body);
      else {
        let total = 0;
        body.on("data", (chunk: Buffer) => {
          total += chunk.length;
          if (total > attempt.bodyCap.maxBytes && !tooLarge) {
            tooLarge = true;
            body.unpipe(upstream);
            // The rest is read and dropped: left unread, it would be taken for the next request
            // on this keep-alive connection (requestTimeout bounds the drain).
            body.resume();
            upstream.destroy(new Error("request body over the cap"));
          }
        });
        // A body that stops short (its client gone, or its connection refused by the parser) ends
        // the relay: the runtime would otherwise wait for the rest of it.
        body.on("close", () => {
          if (body.readableEnded || answering) return;
          upstream.destroy();
          settle({ kind: "client_gone", cut: true });
        });
        body.pipe(upstream);
      }
    });
  }

  /**
   * Tells the loader that the client of request `token` went away (CANCEL_PATH), so that it stops
   * that request's runs; resolves once it has answered, or cannot (a runtime going down stops
   * them anyway).
   */
  cancel(token: string, secret: string): Promise<boolean> {
    return this.exchange("POST", `${CANCEL_PATH}/${token}`, { [SUPERVISOR_SECRET_HEADER]: secret });
  }

  /**
   * Resolves once the runtime has answered a health probe (true), or cannot (false): workerd runs
   * every isolate on one thread, so an answer means whatever it was computing when this was
   * called has stopped. A hung runtime is the watchdog's to kill, which ends the wait.
   */
  threadFree(): Promise<boolean> {
    return this.exchange("GET", HEALTH_PATH, {});
  }

  /** Sends a request of this process's own, without a body; resolves once it is answered (true, the answer dropped) or failed (false). */
  private exchange(method: string, path: string, headers: OutgoingHttpHeaders): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const own = request(
        { host: this.target.host, port: this.target.port, method, path, headers, agent: this.agent },
        (answer) => {
          answer.resume();
          answer.on("end", () => resolve(true));
          answer.on("error", () => resolve(false));
          answer.on("aborted", () => resolve(false));
        },
      );
      own.on("error", () => resolve(false));
      own.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
