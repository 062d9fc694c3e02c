/**
 * @module flights
 * The requests the runtime holds right now, and what each may have done there: what the
 * supervisor needs to decide, when the runtime goes down under them, which ones it may send
 * again without anyone being able to tell.
 */
import { randomBytes } from "node:crypto";
import type { LoaderReport } from "./forward.ts";
import type { Route } from "./routes.ts";

export interface Flight {
  /** Names the request to the loader (SUPERVISED_REQUEST_HEADER) and in its effect notices. */
  token: string;
  method: string;
  route: Route;
  /** Its admission group (main.ts groupOf): the key it came with, resent round robin by it. */
  group: string;
  /** The body kept for a resend; undefined when there is none, "streamed" when it was not kept. */
  body: Buffer | "streamed" | undefined;
  /** The runtime generation this attempt was sent to. */
  generation: number;
  /**
   * The runtime generations it was in flight for when they went down. Attempts the runtime
   * refused (it was not listening yet) do not count: a request first sent after a crash was not
   * in it.
   */
  crashedIn: number[];
  /** The loader reported a side effect of this request (or one of its tenant's, conservatively). */
  effectful: boolean;
  /** The runtime's answer began: the client has seen part of it. */
  answered: boolean;
  /** A WebSocket, open: its handshake was answered 101. */
  tunneled?: boolean;
  /** What the loader reported on its answer's head (empty until it began). */
  report: LoaderReport;
  startedAt: number;
}

export class Flights {
  private readonly byToken = new Map<string, Flight>();
  /**
   * Tokens need to be unique, not secret: a client's own token is always replaced, and only the
   * loader can reach the endpoint that takes them (control.ts).
   */
  private readonly prefix = randomBytes(6).toString("base64url");
  private sequence = 0;

  open(fields: Pick<Flight, "method" | "route" | "group" | "body" | "generation">): Flight {
    const flight: Flight = {
      ...fields,
      token: `${this.prefix}${(this.sequence++).toString(36)}`,
      crashedIn: [],
      effectful: false,
      answered: false,
      report: {},
      startedAt: Date.now(),
    };
    this.byToken.set(flight.token, flight);
    return flight;
  }

  close(flight: Flight): void {
    this.byToken.delete(flight.token);
  }

  /** The loader is about to cause a side effect for these requests (unknown tokens: already gone). */
  markEffectful(tokens: readonly string[]): void {
    for (const token of tokens) {
      const flight = this.byToken.get(token);
      if (flight) flight.effectful = true;
    }
  }

  /** Requests sent to runtime generation `generation` and not finished. */
  inGeneration(generation: number): Flight[] {
    return [...this.byToken.values()].filter((flight) => flight.generation === generation);
  }

  get size(): number {
    return this.byToken.size;
  }
}

/**
 * Whether `flight` can be sent again without anyone being able to tell it was sent twice: no
 * byte of its answer was seen, the loader reported no side effect, its body was kept, and either
 * it only reads (GET/HEAD) or it runs a program whose effects the loader reports.
 */
export function resendable(flight: Flight): boolean {
  if (flight.answered || flight.effectful || flight.body === "streamed") return false;
  return flight.method === "GET" || flight.method === "HEAD" || flight.route.reportsEffects;
}
