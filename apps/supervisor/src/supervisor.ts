/**
 * @module supervisor
 * Runs each request against the runtime at most once, and decides what happens to the requests
 * in flight when the runtime goes down.
 *
 * workerd runs every isolate in one process: when one program exhausts the heap (or the
 * watchdog kills a runtime frozen in native work), every request in flight dies with it and
 * nothing says which one was to blame. When that happens:
 * - a program run alone in flight took it down: it gets the verdict (memory_limit, cpu_limit);
 * - a request that may have had an effect (the loader reported a storage write, an egress
 *   request or a tool call; part of its answer was sent; its body was streamed, not kept; or it
 *   writes by its very route) is never sent again: it gets `runtime_restarted`;
 * - every other one is sent again as soon as the runtime is back (invisible: it had done
 *   nothing yet): one at a time, round robin by key (resend-turns.ts), until it is alone at a
 *   crash (judged) or has met MAX_CRASHES_RESENT; all at once when every crash it was in has had
 *   its culprit judged. Its last resend goes alone: the runs in flight end first, and new
 *   requests wait until it is answered (or `suspectAloneMs` passed), so that a culprit among
 *   another tenant's steady traffic is judged, not cut short with everyone else.
 * New requests never wait for the other resends, only for the runtime to be back (about a second).
 */
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import {
  type Answer,
  bodyTooLarge,
  requestError,
  type RunShape,
  runtimeRestarted,
  send,
  sendOnSocket,
  verdict,
} from "./answers.ts";
import { resendable, type Flight, type Flights } from "./flights.ts";
import { ResendTurns } from "./resend-turns.ts";
import type { AttemptRequest, Outcome, RuntimeClient } from "./forward.ts";
import type { DownCause, Runtime } from "./runtime/runtime.ts";
import { type LagBounds, tunnel, type UpgradeRequest } from "./tunnel.ts";

export interface SupervisorOptions {
  heapLimitMb: number;
  maxResidentMb: number;
  watchdogMs: number;
  /** How far a WebSocket's client may fall behind before it is cut (tunnel.ts). */
  webSocketLag: LagBounds;
  /** What the loader takes as the supervisor's (control.ts): it signs notices to stop a request's runs. */
  secret: string;
  /** How long a request whose connection failed waits to learn whether the runtime went down. */
  downReportWaitMs?: number;
  /** How long a request waits for a runtime that is restarting. */
  restartWaitMs?: number;
  /** How long a resend on its last chance keeps other requests from being sent while it goes alone. */
  suspectAloneMs: number;
}

/** `recycled`: the supervisor restarted the runtime itself (a drain, idle recycling), no run took it down. */
type Fate = { kind: "verdict"; cause: DownCause } | { kind: "restarted"; recycled: boolean } | { kind: "resend" };

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * How a request's attempts ended: the runtime's side broke off mid-answer; its client left and
 * the connection was cut (what it started may go on); or anything else.
 */
type AttemptsEnd = "broken" | "cut" | "done";

/** Sends `it` as the request's answer. */
const answer = (res: ServerResponse, it: Answer): AttemptsEnd => {
  send(res, it);
  return "done";
};

/** The generation of a request that is in no runtime (its last attempt was refused). */
const NOT_SENT = -1;

/**
 * A request in flight at this many crashes, never alone (so never judged their cause), gets
 * runtime_restarted instead of being sent again: a bound on how often one request can meet a
 * crash, whoever causes them.
 */
const MAX_CRASHES_RESENT = 3;

/** How often a resend going alone looks whether the runs in flight before it have ended, ms. */
const ALONE_POLL_MS = 10;

/** A resend going alone (Supervisor.goAlone): other requests wait for `opened`. */
interface AloneGate {
  flight: Flight;
  opened: Promise<void>;
  open: () => void;
}

/** Explained crashes remembered, counted in runtime generations back from the current one. */
const EXPLAINED_KEPT = 1_000;

/** How `flight`'s route answers a run that failed (answers.ts). */
function shapeOf({ route, body }: Flight): RunShape {
  if (route.executionShaped) return { kind: "execution" };
  if (route.jsonRpc && Buffer.isBuffer(body)) return { kind: "jsonRpc", body };
  if (route.sandbox !== undefined) return { kind: "sandbox" };
  return { kind: "request", status: 502, type: "internal" };
}

/** A request that could not reach a live runtime this many times in a row gets 503. */
const MAX_UNREACHED_ATTEMPTS = 5;

const restarting = () =>
  requestError(503, "internal", "the runtime is restarting and did not come back in time; retry shortly", {
    "retry-after": "1",
  });
const notAccepting = () =>
  requestError(503, "internal", "the runtime is not accepting connections; retry shortly", { "retry-after": "1" });
const lost = () =>
  requestError(
    502,
    "internal",
    "the connection to the runtime was lost while it handled this request; it may have partly happened",
  );

export class Supervisor {
  readonly flights: Flights;
  /** Counts runtime processes: a request sent to one generation dies with it. */
  private generation = 0;
  private live: Deferred<void> | undefined;
  /** Closed while the runtime drains for a restart (holdForRestart): new requests wait until it is back. */
  private drainGate: Deferred<void> | undefined;
  private readonly fates = new Map<Flight, Deferred<Fate>>();
  /** Resends after a crash go one at a time, so that a culprit among them crashes alone. */
  private readonly resendTurns = new ResendTurns();
  /**
   * Runtime generations whose crash is explained: a run that was in flight at it was later
   * judged the cause of a crash it was alone for. The others of that crash need not go alone.
   */
  private readonly explained = new Set<number>();
  /** The resend going alone now, if one is. */
  private alone: AloneGate | undefined;
  /** Called when the runtime goes down (see downOrQuiet). */
  private readonly downWaiters = new Set<() => void>();
  /** When a request (other than the health probe) last entered or left the runtime. */
  lastBusyAt = Date.now();
  private readonly client: RuntimeClient;
  private readonly options: SupervisorOptions;

  constructor(runtime: Runtime, client: RuntimeClient, flights: Flights, options: SupervisorOptions) {
    this.flights = flights;
    this.client = client;
    this.options = options;
    // New requests wait from the moment the runtime is known to be going, not from its report.
    runtime.on("going", () => {
      this.live ??= deferred<void>();
      // Held requests now wait for the runtime to be back, as long as any request does.
      const drainGate = this.drainGate;
      this.drainGate = undefined;
      drainGate?.resolve();
    });
    runtime.on("down", (cause) => this.onDown(cause));
    runtime.on("up", () => this.onUp());
  }

  /** Whether the runtime is serving (not between a crash and its restart). */
  get isUp(): boolean {
    return this.live === undefined;
  }

  /**
   * Keeps requests not sent yet from being sent until the runtime has restarted (the watchdog's
   * drain, DWL_DRAIN_RSS_MB): those in it end first, so that the restart cuts none short.
   */
  holdForRestart(): void {
    if (this.isUp) this.drainGate ??= deferred<void>();
  }

  /** Nothing sent to the running runtime is unfinished: a restart now would cut nothing short. */
  get drained(): boolean {
    // An open WebSocket may stay for hours: it is closed with 1012 (restart, connect again).
    return this.flights.inGeneration(this.generation).every((flight) => flight.tunneled);
  }

  /** Nothing in flight, the runtime up: a restart now would cut nothing short. */
  get idle(): boolean {
    return this.isUp && this.flights.size === 0;
  }

  /**
   * Relays one request to the runtime and its answer to `res`. `released` is called once the
   * request no longer counts as running (its answer began, or it ended).
   */
  async relay(flight: Flight, attempt: AttemptRequest, res: ServerResponse, released: () => void): Promise<void> {
    const work = !flight.route.health;
    if (work) this.lastBusyAt = Date.now();
    let end: AttemptsEnd = "done";
    try {
      end = await this.attempts(flight, attempt, res, released);
      // Its client left while the run was in the runtime and the connection was cut (its body
      // broke off), so the run could not be told to stop: it goes on, at least until its next
      // wait, and freeing its slot before the runtime's thread is free would let its key start
      // more runs than it may have computing (a client that leaves and sends again would
      // multiply its share of the thread). Kept open, it is also still a suspect should the
      // runtime go down meanwhile.
      if (end === "cut" && flight.route.program && !flight.answered && flight.generation === this.generation)
        await this.client.threadFree();
    } finally {
      this.fates.delete(flight);
      // The runtime's side broke off mid-answer (a stream whose program crashed the runtime): the
      // request stays among the suspects until the crash is known, or is no longer expected. Gone
      // from them at once, a lone innocent run was judged the cause of that crash.
      if (end === "broken") this.closeWhenNoSuspect(flight);
      else this.flights.close(flight);
      released();
      if (work) this.lastBusyAt = Date.now();
    }
  }

  /**
   * Whether runtime generation `generation` went down: it does not answer a probe, and its
   * crash is reported (within the wait for such reports).
   */
  private async wentDown(generation: number): Promise<boolean> {
    if (generation === this.generation && (await this.client.threadFree())) return false;
    await this.downOrQuiet(generation);
    return generation !== this.generation;
  }

  /** Closes `flight` once a crash of its runtime is known or no longer expected (it stays a suspect until then). */
  private closeWhenNoSuspect(flight: Flight): void {
    void this.downOrQuiet(flight.generation).then(() => this.flights.close(flight));
  }

  /**
   * Sends until an attempt is answered or decided. A resend after a crash holds the resend turn
   * until its answer begins (a streamed answer must not hold up the other resends for as long
   * as it streams), or until it ends whatever way.
   */
  private async attempts(
    flight: Flight,
    attempt: AttemptRequest,
    res: ServerResponse,
    released: () => void,
  ): Promise<AttemptsEnd> {
    let turn: (() => void) | undefined;
    let openGate: (() => void) | undefined;
    const endTurn = () => {
      openGate?.();
      openGate = undefined;
      turn?.();
      turn = undefined;
    };
    try {
      let unreached = 0;
      for (;;) {
        // A client that left while its request waited for the runtime or for its resend turn.
        if (res.destroyed) return "done";
        if (this.live && !(await this.waitLive())) return answer(res, restarting());
        if (this.alone && this.alone.flight !== flight) {
          await this.alone.opened;
          continue;
        }
        if (this.drainGate) {
          // Not in the runtime that drains: it must not wait for this request.
          flight.generation = NOT_SENT;
          await this.drainGate.promise;
          continue;
        }
        if (turn && !openGate && flight.crashedIn.length === MAX_CRASHES_RESENT - 1) {
          openGate = await this.goAlone(flight);
          continue;
        }
        flight.generation = this.generation;
        const fate = deferred<Fate>();
        this.fates.set(flight, fate);
        // A program's run goes on in the runtime when its client leaves: the loader is told to
        // stop it, and the connection stays open until it has (its end frees the slot).
        const outlivesClient = flight.route.program
          ? () => void this.client.cancel(flight.token, this.options.secret)
          : undefined;
        const outcome: Outcome = await this.client.send({ ...attempt, outlivesClient }, res, (report) => {
          flight.answered = true;
          flight.report = report;
          released();
          endTurn();
        });
        // A resend refused by a runtime not listening yet keeps its turn while it tries again; one
        // lost in a crash keeps it until the crash is known (below).
        if (outcome.kind !== "lost") endTurn();
        switch (outcome.kind) {
          case "broken":
            return "broken";
          case "client_gone":
            return outcome.cut ? "cut" : "done";
          case "answered":
            return "done";
          case "too_large":
            return answer(res, bodyTooLarge(attempt.bodyCap));
          case "unrelayable":
            return answer(res, requestError(502, "internal", outcome.message));
        }
        if (!outcome.reached) {
          // Refused: nothing was received, so sending again cannot run anything twice; and the
          // request was in no runtime, so a crash meanwhile does not make it a suspect.
          flight.generation = NOT_SENT;
          if (++unreached >= MAX_UNREACHED_ATTEMPTS || flight.body === "streamed") return answer(res, notAccepting());
          await sleep(100);
          continue;
        }
        const decided = await Promise.race([
          fate.promise,
          sleep(this.options.downReportWaitMs ?? 3_000).then(() => undefined),
        ]);
        // Only now, with the runtime known to be down, may the next resend go: sent between this
        // connection's loss and the report of the crash, it would reach the dying runtime and be
        // counted among that crash's suspects (and keep the culprit from being alone).
        endTurn();
        if (decided === undefined) return answer(res, lost());
        if (decided.kind === "verdict") {
          return answer(
            res,
            verdict(shapeOf(flight), {
              ...this.options,
              cause: decided.cause,
              effectful: flight.effectful,
              elapsedMs: Date.now() - flight.startedAt,
            }),
          );
        }
        if (decided.kind === "restarted")
          return answer(
            res,
            runtimeRestarted(shapeOf(flight), Date.now() - flight.startedAt, {
              unsent: resendable(flight),
              recycled: decided.recycled,
            }),
          );
        turn = await this.resendTurns.take(flight.group, () =>
          flight.crashedIn.every((generation) => this.explained.has(generation)),
        );
      }
    } finally {
      endTurn();
    }
  }

  /**
   * Relays an upgrade request (a WebSocket handshake) and then, once the runtime upgraded it, the
   * connection until either side closes. The handshake runs the program's fetch handler, which may
   * have had an effect, so a handshake lost in a crash is answered, never sent again. `released`
   * is called once the handshake is answered (an open WebSocket holds no admission slot), and
   * `answered` then with the runtime's status. Resolves when the connection is over.
   */
  async tunnel(
    flight: Flight,
    upgrade: UpgradeRequest,
    client: Duplex,
    head: Buffer,
    released: () => void,
    answered: (status: number) => void,
  ): Promise<void> {
    this.lastBusyAt = Date.now();
    let keepSuspect = false;
    try {
      if (this.live && !(await this.waitLive())) return sendOnSocket(client, restarting());
      // A handshake runs the program's fetch handler: it waits for a resend going alone too.
      while (this.alone) await this.alone.opened;
      while (this.drainGate) {
        flight.generation = NOT_SENT;
        await this.drainGate.promise;
      }
      if (this.live && !(await this.waitLive())) return sendOnSocket(client, restarting());
      if (client.destroyed) return;
      flight.generation = this.generation;
      const outcome = await tunnel(
        this.client.target,
        upgrade,
        client,
        head,
        this.options.webSocketLag,
        (status, report) => {
          flight.answered = true;
          flight.tunneled = status === 101;
          flight.report = report;
          released();
          answered(status);
        },
        () => this.wentDown(flight.generation),
      );
      if (outcome.kind === "lost") sendOnSocket(client, outcome.reached ? lost() : notAccepting());
      // An open WebSocket's program may have crashed the runtime (its listener runs there): the
      // runtime's side closes before the crash is known, so the request stays among the
      // suspects until then.
      else if (outcome.kind !== "client_gone") keepSuspect = true;
    } finally {
      if (keepSuspect) this.closeWhenNoSuspect(flight);
      else this.flights.close(flight);
      released();
      this.lastBusyAt = Date.now();
    }
  }

  /**
   * Resolves once runtime generation `generation` is known to have gone down, or when the report
   * of such a crash is no longer expected.
   */
  private downOrQuiet(generation: number): Promise<void> {
    if (generation !== this.generation) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.downWaiters.delete(done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, this.options.downReportWaitMs ?? 3_000);
      timer.unref();
      this.downWaiters.add(done);
    });
  }

  private async waitLive(): Promise<boolean> {
    const live = this.live;
    if (!live) return true;
    const back = await Promise.race([
      live.promise.then(() => true),
      sleep(this.options.restartWaitMs ?? 60_000).then(() => false),
    ]);
    return back && this.waitLive();
  }

  private onDown(cause: DownCause): void {
    const generation = this.generation++;
    this.live ??= deferred<void>();
    const victims = this.flights.inGeneration(generation);
    const programs = victims.filter((flight) => flight.route.program);
    console.error(
      `[dwl supervisor] runtime went down (${cause}) with ${victims.length} request${victims.length === 1 ? "" : "s"} in flight; restarting it`,
    );
    for (const flight of victims) flight.crashedIn.push(generation);
    for (const flight of victims) {
      const fate = this.fateOf(flight, programs, cause);
      if (fate.kind === "verdict") this.explain(flight.crashedIn);
      this.fates.get(flight)?.resolve(fate);
    }
    for (const waiter of [...this.downWaiters]) waiter();
  }

  /**
   * A program run alone in flight took the runtime down. With others beside it, any of them may
   * have: the ones that could have done nothing yet are sent again (one at a time, so that the
   * culprit is soon alone), the rest are cut short. Being in flight at several crashes proves
   * nothing: while another tenant keeps sending bombs, an innocent resend is in flight at each
   * of them. A request in flight at `MAX_CRASHES_RESENT` crashes none of which it was alone for
   * is not sent again: it is cut short too.
   */
  private fateOf(flight: Flight, programs: Flight[], cause: DownCause): Fate {
    if (cause !== "recycle" && flight.route.program && programs.length === 1) return { kind: "verdict", cause };
    return resendable(flight) && flight.crashedIn.length < MAX_CRASHES_RESENT
      ? { kind: "resend" }
      : { kind: "restarted", recycled: cause === "recycle" };
  }

  /**
   * Keeps other requests from being sent (they wait for the gate to open) and waits until the
   * program runs in flight have begun to answer or ended, so that `flight` goes alone: a culprit
   * among another tenant's steady traffic was never alone at a crash, and its crashes were
   * answered `runtime_restarted` instead of a verdict. Both waits end after `suspectAloneMs`;
   * the returned function opens the gate (at the flight's answer or decision).
   */
  private async goAlone(flight: Flight): Promise<() => void> {
    let resolve!: () => void;
    const gate: AloneGate = {
      flight,
      opened: new Promise<void>((r) => (resolve = r)),
      open: () => {
        clearTimeout(timer);
        if (this.alone === gate) this.alone = undefined;
        resolve();
      },
    };
    const timer = setTimeout(gate.open, this.options.suspectAloneMs);
    timer.unref();
    this.alone = gate;
    const runningBeside = () =>
      this.flights
        .inGeneration(this.generation)
        .some((other) => other !== flight && other.route.program && !other.answered);
    // The gate is open once it is no longer `this.alone`.
    while (this.alone === gate && this.isUp && runningBeside()) await sleep(ALONE_POLL_MS);
    return gate.open;
  }

  /** Marks the crashes a judged run was in as explained, and excuses the resends they alone held back. */
  private explain(generations: readonly number[]): void {
    for (const generation of generations) this.explained.add(generation);
    // Only the recent ones can still matter: a resend meets at most MAX_CRASHES_RESENT crashes.
    for (const old of this.explained) if (old < this.generation - EXPLAINED_KEPT) this.explained.delete(old);
    this.resendTurns.excuse();
  }

  private onUp(): void {
    const live = this.live;
    this.live = undefined;
    live?.resolve();
  }
}
