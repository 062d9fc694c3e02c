/**
 * @module supervisor
 * Keeps innocent requests alive across a runtime crash and finds the guilty one.
 *
 * workerd runs every isolate in one process: when one program exhausts the heap (or the
 * watchdog kills a hung runtime), every request in flight dies with it, and nothing says which
 * one was to blame. The supervisor holds new requests at a gate while the runtime restarts,
 * then replays the requests that were in flight one at a time: a replay that brings the
 * runtime down again is the culprit and gets a verdict (memory_limit / cpu_limit); the others
 * complete normally (marked `x-dwl-replayed: 1`). A lone request in flight is the culprit
 * without a replay. Requests that reached an already-dead runtime are simply resent.
 *
 * It also recycles an idle runtime whose resident memory stayed high: workerd keeps the
 * high-water mark of a burst (its allocator and idle isolates' heaps hold freed memory; nothing
 * inside the Worker can make it give that back), and a restart while nothing runs returns it.
 */
import type { CrashCause, Runtime } from "./runtime.ts";
import { forward, isHealthy, LOST, type BufferedRequest, type BufferedResponse } from "./upstream.ts";
import { verdictFor } from "./verdict.ts";

export interface SupervisorOptions {
  origin: string;
  /** The runtime is declared hung after this long without a healthy answer. */
  watchdogMs: number;
  heapLimitMb: number;
  /** The runtime is killed (as a memory crash) when its resident memory passes this. */
  maxResidentMb: number;
  /** How long a failed request waits for the crash report that explains it. */
  crashReportWaitMs?: number;
  /**
   * Restart the runtime once it has run nothing for `idleMs` while its resident memory is above
   * `residentMb`. Costs the warm isolates and the in-memory bundle cache (the next run of each
   * program starts cold); stored state (KV, R2, sandboxes) is on disk and stays. Absent: never.
   */
  recycle?: { idleMs: number; residentMb: number };
}

interface Suspect {
  request: BufferedRequest;
  startedAt: number;
  resolve: (response: BufferedResponse) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Supervisor {
  private epoch = 0;
  private lastCause: CrashCause = "unknown";
  private gate: Promise<void> | undefined;
  /** From a crash until the runtime answers again: the monitors must not judge it meanwhile. */
  private restarting = false;
  private inflight = new Map<symbol, number>();
  private suspects: Suspect[] = [];
  private lastHealthyAt = Date.now();
  /** When a request (other than /healthz) last entered or left: idle means none in flight since. */
  private lastBusyAt = Date.now();
  /** Failed requests waiting to learn whether the runtime crashed under them. */
  private awaitingReport = 0;
  /** From a recycle's kill until its new runtime answers (or that wait gives up). */
  private recycling = false;
  private warnedFreshAboveRecycle = false;
  private monitors: ReturnType<typeof setInterval>[] = [];
  private readonly options: SupervisorOptions;
  private readonly runtime: Runtime;

  constructor(runtime: Runtime, options: SupervisorOptions) {
    this.runtime = runtime;
    this.options = options;
    runtime.on("crash", (cause) => this.onCrash(cause));
  }

  async handle(request: BufferedRequest): Promise<BufferedResponse> {
    while (this.gate) await this.gate;
    const startedAt = Date.now();
    const sentEpoch = this.epoch;
    const id = Symbol();
    this.inflight.set(id, sentEpoch);
    // A monitor polling /healthz must not keep a runtime from ever counting as idle.
    const work = request.path !== "/healthz";
    if (work) this.lastBusyAt = Date.now();
    let response: BufferedResponse | typeof LOST;
    try {
      response = await forward(this.options.origin, request);
    } finally {
      this.inflight.delete(id);
      if (work) this.lastBusyAt = Date.now();
    }
    if (response !== LOST) return response;

    // Still busy: a recycle now would advance the epoch and make this request a crash suspect.
    this.awaitingReport++;
    try {
      await this.waitForEpochAfter(sentEpoch, this.options.crashReportWaitMs ?? 5_000);
    } finally {
      this.awaitingReport--;
    }
    if (this.epoch === sentEpoch) {
      const body = { error: { type: "internal", message: "the runtime is unavailable; retry shortly" } };
      return { status: 503, headers: [["content-type", "application/json"], ["retry-after", "1"]], body: Buffer.from(JSON.stringify(body)) };
    }
    // It was in flight when the runtime went down: a suspect until its replay says otherwise.
    return new Promise((resolve) => this.suspects.push({ request, startedAt, resolve }));
  }

  /**
   * Starts two monitors: resident memory every 100 ms (V8's heap cap does not cover
   * ArrayBuffers, so a typed-array bomb is caught here), and /healthz probes: a runtime silent
   * for `watchdogMs` is killed and restarted (a native hang the fuel checks cannot see).
   */
  startWatchdog(probeIntervalMs = 250): void {
    this.lastHealthyAt = Date.now();
    // Both monitors stay on while suspects are replayed: a replayed bomb must be caught again.
    const memory = setInterval(() => {
      if (this.restarting) return;
      const residentMb = this.runtime.residentMb();
      if (this.shouldRecycle(residentMb)) return this.recycle(residentMb);
      if (residentMb <= this.options.maxResidentMb) return;
      console.error(`[dwl supervisor] runtime resident memory ${Math.round(residentMb)} MB > ${this.options.maxResidentMb} MB: restarting it`);
      this.restart("memory");
    }, 100);
    let probing = false;
    const health = setInterval(async () => {
      if (probing) return;
      probing = true;
      try {
        if (this.restarting || (await isHealthy(this.options.origin, Math.min(1_000, this.options.watchdogMs)))) this.lastHealthyAt = Date.now();
        else if (!this.restarting && Date.now() - this.lastHealthyAt > this.options.watchdogMs) {
          // A heap bomb makes V8 collect garbage back to back before it aborts (by itself, with a
          // heap message: "memory"); DWL_WATCHDOG_MS must stay well above that time.
          console.error(`[dwl supervisor] runtime unresponsive for ${Date.now() - this.lastHealthyAt} ms: restarting it`);
          this.restart("hang");
        }
      } finally {
        probing = false;
      }
    }, probeIntervalMs);
    this.monitors = [memory, health];
  }

  /** Kills the runtime on purpose (miniflare starts a new one); false if none was running. */
  private restart(cause: CrashCause): boolean {
    this.restarting = true;
    // No process found (already gone): nothing will report a crash, so keep monitoring. The cause
    // is marked after the kill (its report arrives later, through a pipe), and only if one died.
    const killed = this.runtime.killUserRuntime();
    if (killed) this.runtime.expectCrash(cause);
    else this.restarting = false;
    this.lastHealthyAt = Date.now();
    return killed;
  }

  private shouldRecycle(residentMb: number): boolean {
    const { recycle } = this.options;
    return recycle !== undefined && residentMb > recycle.residentMb && this.idleFor() >= recycle.idleMs;
  }

  private idleFor(): number {
    const idle = this.inflight.size === 0 && this.awaitingReport === 0 && this.suspects.length === 0 && this.gate === undefined && !this.restarting;
    return idle ? Date.now() - this.lastBusyAt : 0;
  }

  /**
   * The gate closes in the same tick as the kill, before any request can be sent: a request
   * arriving meanwhile waits for the new runtime instead of reaching a dying one (where it would
   * count as a crash suspect).
   */
  private recycle(residentMb: number): void {
    console.error(
      `[dwl supervisor] runtime idle for ${Math.round(this.idleFor() / 1000)} s with ${Math.round(residentMb)} MB resident (> ${this.options.recycle?.residentMb} MB): restarting it to give that memory back`,
    );
    const before = this.epoch;
    if (!this.restart("recycle")) return;
    this.recycling = true;
    this.gate = this.waitForEpochAfter(before, this.options.crashReportWaitMs ?? 5_000)
      .then(() => {
        // No report (miniflare says nothing when it was restarting the runtime anyway): the
        // expected cause must not label the next real crash.
        if (this.epoch === before) this.runtime.clearExpectedCrash();
        return this.waitHealthy();
      })
      .then(() => this.warnIfFreshAboveThreshold())
      .catch((error: unknown) => {
        console.error(`[dwl supervisor] after recycling: ${String(error)}`);
        this.restarting = false; // let the watchdog take over
      })
      .finally(() => {
        this.recycling = false;
        this.gate = undefined;
        this.lastBusyAt = Date.now();
      });
  }

  /** A threshold below a fresh runtime's own size would recycle it after every idle period. */
  private warnIfFreshAboveThreshold(): void {
    const threshold = this.options.recycle?.residentMb ?? Infinity;
    const freshMb = this.runtime.residentMb();
    if (freshMb <= threshold || this.warnedFreshAboveRecycle) return;
    this.warnedFreshAboveRecycle = true;
    console.error(
      `[dwl supervisor] a fresh runtime already holds ${Math.round(freshMb)} MB, above DWL_RECYCLE_RSS_MB (${threshold}): it will be recycled after every idle period; raise DWL_RECYCLE_RSS_MB`,
    );
  }

  stop(): void {
    for (const monitor of this.monitors) clearInterval(monitor);
  }

  private onCrash(cause: CrashCause): void {
    this.epoch++;
    // recycle() holds requests and waits for the new runtime itself.
    if (cause === "recycle" && this.recycling) return;
    // A recycle's report that comes after that wait would be a crash nobody expected.
    if (cause === "recycle") cause = "unknown";
    this.lastCause = cause;
    this.restarting = true;
    console.error(`[dwl supervisor] runtime crashed (${cause}); holding new requests until it is back`);
    this.gate ??= this.recover().finally(() => {
      this.gate = undefined;
    });
  }

  private async recover(): Promise<void> {
    await this.waitHealthy();
    // Everything that was in flight at the crash has failed by now, or fails within moments.
    const settleUntil = Date.now() + 5_000;
    while ([...this.inflight.values()].some((e) => e < this.epoch) && Date.now() < settleUntil) await sleep(20);
    const batch = this.suspects.splice(0);
    if (batch.length === 1) {
      const [only] = batch as [Suspect];
      only.resolve(this.verdict(only, this.lastCause));
      return;
    }
    for (const suspect of batch) {
      const before = this.epoch;
      const replay = await forward(this.options.origin, suspect.request);
      if (replay !== LOST) {
        suspect.resolve({ ...replay, headers: [...replay.headers, ["x-dwl-replayed", "1"]] });
        continue;
      }
      await this.waitForEpochAfter(before, this.options.crashReportWaitMs ?? 5_000);
      suspect.resolve(this.verdict(suspect, this.lastCause));
      await this.waitHealthy();
    }
  }

  private verdict(suspect: Suspect, cause: CrashCause): BufferedResponse {
    return verdictFor(suspect.request, {
      cause,
      heapLimitMb: this.options.heapLimitMb,
      maxResidentMb: this.options.maxResidentMb,
      watchdogMs: this.options.watchdogMs,
      elapsedMs: Date.now() - suspect.startedAt,
    });
  }

  private async waitForEpochAfter(epoch: number, maxMs: number): Promise<void> {
    const until = Date.now() + maxMs;
    while (this.epoch === epoch && Date.now() < until) await sleep(20);
  }

  async waitHealthy(maxMs = 120_000): Promise<void> {
    const until = Date.now() + maxMs;
    while (Date.now() < until) {
      if (await isHealthy(this.options.origin, 1_000)) {
        this.lastHealthyAt = Date.now();
        this.restarting = false;
        return;
      }
      await sleep(100);
    }
    throw new Error("the runtime did not come back");
  }
}
