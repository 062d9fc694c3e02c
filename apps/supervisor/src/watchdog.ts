/**
 * @module watchdog
 * The monitors that restart the runtime on purpose:
 * - resident memory every MEMORY_CHECK_MS: over the cap, it is killed as a memory crash (V8's heap cap
 *   does not cover ArrayBuffers, so a typed-array bomb is caught here);
 * - /healthz probes: a runtime silent for `watchdogMs` is killed as a hang (native work that
 *   the fuel checks cannot interrupt);
 * - draining: a runtime past `drain.residentMb` is restarted once the requests in it have ended
 *   (at most `drain.waitMs`), new ones held meanwhile. Its memory only grows under load (freed
 *   isolates' memory stays with workerd's allocator, and each one-off Python child leaves ~3–7 MB
 *   behind for good: docs/python.md), so a busy runtime would otherwise meet the cap, and every
 *   run in it would be cut short;
 * - idle recycling: workerd keeps the high-water mark of a burst (its allocator and idle
 *   isolates' heaps hold freed memory; nothing inside the Worker can make it give that back),
 *   so a runtime that ran nothing for `recycle.idleMs` with more than `recycle.residentMb`
 *   resident is restarted. That costs the warm isolates and the in-memory bundle cache; stored
 *   state (KV, R2, sandboxes) is on disk and stays.
 */
import { HEALTH_PATH } from "./routes.ts";
import type { Runtime } from "./runtime/runtime.ts";
import type { Supervisor } from "./supervisor.ts";

/**
 * How often resident memory is read (one small /proc read): a typed-array bomb grows ~2 GB/s,
 * and checked every 100 ms it reached 2,252 MB against a 2,048 MB cap.
 */
const MEMORY_CHECK_MS = 25;

export interface WatchdogOptions {
  watchdogMs: number;
  maxResidentMb: number;
  recycle?: { idleMs: number; residentMb: number };
  drain?: { residentMb: number; waitMs: number };
  probeIntervalMs?: number;
}

export class Watchdog {
  private timers: ReturnType<typeof setInterval>[] = [];
  private lastHealthyAt = Date.now();
  private warnedFreshAboveRecycle = false;
  private recycledAt = 0;
  /** When the supervisor began holding requests for a drain (0: it is not). */
  private drainingSince = 0;
  private warnedFreshAboveDrain = false;
  /** The runtime's first reading since it came up: its size fresh. */
  private freshMb: number | undefined;
  /** When the current runtime began serving: a fresh one must stay idle a full period too. */
  private upAt = Date.now();
  private readonly runtime: Runtime;
  private readonly supervisor: Supervisor;
  private readonly options: WatchdogOptions;

  constructor(runtime: Runtime, supervisor: Supervisor, options: WatchdogOptions) {
    this.runtime = runtime;
    this.supervisor = supervisor;
    this.options = options;
    runtime.on("up", () => {
      this.lastHealthyAt = Date.now();
      this.upAt = Date.now();
      this.drainingSince = 0;
      this.freshMb = undefined;
      if (this.recycledAt > 0) this.warnIfFreshAboveThreshold();
    });
  }

  start(): void {
    this.lastHealthyAt = Date.now();
    this.timers.push(setInterval(() => this.checkMemory(), MEMORY_CHECK_MS));
    let probing = false;
    this.timers.push(
      setInterval(async () => {
        if (probing) return;
        probing = true;
        try {
          await this.probe();
        } finally {
          probing = false;
        }
      }, this.options.probeIntervalMs ?? 250),
    );
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
  }

  private checkMemory(): void {
    if (!this.supervisor.isUp) return;
    const residentMb = this.runtime.residentMb();
    const { recycle, maxResidentMb } = this.options;
    const idleMs = this.supervisor.idle ? Date.now() - Math.max(this.supervisor.lastBusyAt, this.upAt) : 0;
    if (recycle && residentMb > recycle.residentMb && idleMs >= recycle.idleMs) {
      console.error(
        `[dwl supervisor] runtime idle for ${Math.round(idleMs / 1000)} s with ${Math.round(residentMb)} MB resident (> ${recycle.residentMb} MB): restarting it to give that memory back`,
      );
      this.recycledAt = Date.now();
      this.runtime.kill("recycle");
      return;
    }
    if (this.drainIfDue(residentMb)) return;
    if (residentMb <= maxResidentMb) return;
    console.error(
      `[dwl supervisor] runtime resident memory ${Math.round(residentMb)} MB > ${maxResidentMb} MB: restarting it`,
    );
    this.runtime.kill("memory");
  }

  /** Holds new requests once past `drain.residentMb`, and restarts the runtime once drained; true when it did. */
  private drainIfDue(residentMb: number): boolean {
    const { drain } = this.options;
    if (!drain) return false;
    if (this.drainingSince === 0) {
      if (this.freshAboveDrain(residentMb, drain.residentMb) || residentMb <= drain.residentMb) return false;
      console.error(
        `[dwl supervisor] runtime resident memory ${Math.round(residentMb)} MB > ${drain.residentMb} MB (DWL_DRAIN_RSS_MB): holding new requests until the ones in it end, then restarting it`,
      );
      this.drainingSince = Date.now();
      this.supervisor.holdForRestart();
    }
    const waitedMs = Date.now() - this.drainingSince;
    if (!this.supervisor.drained && waitedMs < drain.waitMs) return false;
    console.error(
      `[dwl supervisor] runtime drained in ${waitedMs} ms with ${Math.round(residentMb)} MB resident: restarting it to give that memory back`,
    );
    this.drainingSince = 0;
    this.recycledAt = Date.now();
    this.runtime.kill("recycle");
    return true;
  }

  /**
   * Whether the runtime was above `thresholdMb` when it came up (its first reading): drained, it
   * would be restarted after every request. It is not, and the setting is named once.
   */
  private freshAboveDrain(residentMb: number, thresholdMb: number): boolean {
    this.freshMb ??= residentMb;
    if (this.freshMb <= thresholdMb) return false;
    if (!this.warnedFreshAboveDrain)
      console.error(
        `[dwl supervisor] a fresh runtime already holds ${Math.round(this.freshMb)} MB, above DWL_DRAIN_RSS_MB (${thresholdMb}): it is never drained; raise DWL_DRAIN_RSS_MB`,
      );
    this.warnedFreshAboveDrain = true;
    return true;
  }

  private async probe(): Promise<void> {
    if (!this.supervisor.isUp) {
      this.lastHealthyAt = Date.now();
      return;
    }
    try {
      // A busy machine answers a probe late, not never: only a runtime silent for watchdogMs is hung.
      const res = await fetch(`${this.runtime.origin}${HEALTH_PATH}`, {
        signal: AbortSignal.timeout(Math.max(1_000, this.options.watchdogMs / 2)),
      });
      await res.arrayBuffer();
      if (res.ok) this.lastHealthyAt = Date.now();
    } catch {
      // counted below
    }
    // Runs computing one after the other keep the probe waiting for their sum, though each ends
    // within its budget: their heartbeats show the runtime is not frozen in native work.
    const silentMs = Date.now() - Math.max(this.lastHealthyAt, this.runtime.lastHeartbeatAt);
    if (this.supervisor.isUp && silentMs > this.options.watchdogMs) {
      // A heap bomb makes V8 collect garbage back to back before it aborts (by itself, with a
      // heap message: "memory"); DWL_WATCHDOG_MS must stay well above that time.
      console.error(`[dwl supervisor] runtime unresponsive for ${silentMs} ms: restarting it`);
      this.lastHealthyAt = Date.now();
      this.runtime.kill("hang");
    }
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
}
