/**
 * @module logs
 * A run's captured console lines, bounded by line count and by UTF-8 bytes of their messages
 * (counted exactly, with captured intrinsics: a program cannot make its lines look smaller).
 */
import type { LogEntry } from "@dwl/protocol";
import { formatLog } from "./format.ts";
import { arrayPush, arraySlice, mathMax, now, roundMs, stringSlice, utf8Prefix } from "./intrinsics.ts";

export type LogLevel = LogEntry["level"];

/** What ends a line that was cut: how many of its bytes were kept. */
const cutMarker = (keptBytes: number): string => `… [line cut at ${keptBytes} bytes]`;

const MAX_SAFE_INTEGER = 2 ** 53 - 1;

/** Exact UTF-8 bytes of a short text of our own. */
const bytesOf = (text: string): number => utf8Prefix(text, text.length * 3).bytes;

export class LogBuffer {
  entries: LogEntry[];
  bytes: number;
  dropped: number;
  /** Whether a line was cut to fit; every later line is dropped. */
  cut: boolean;
  maxLines: number;
  maxBytes: number;
  started: number;

  constructor(maxLines: number, maxBytes: number, started: number) {
    this.entries = [];
    this.bytes = 0;
    this.dropped = 0;
    this.cut = false;
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
    this.started = started;
  }

  add(level: LogLevel, args: unknown[]): void {
    if (this.dropped > 0 || this.cut) return void this.dropped++;
    let message: string;
    try {
      message = formatLog(args);
    } catch (err) {
      message = `[unprintable log arguments: ${(err as { message?: unknown } | null | undefined)?.message ?? err}]`;
    }
    const room = this.maxBytes - this.bytes;
    if (this.entries.length >= this.maxLines || room <= 0) return void this.dropped++;
    const whole = utf8Prefix(message, room);
    let size = whole.bytes;
    if (whole.chars < message.length) {
      // One huge line is cut rather than dropped: its start is usually what matters. The logs are
      // full then, so the cut leaves room for its own marker and for that of the lines dropped
      // after it (both sized for the most digits they can have).
      const space = room - bytesOf(this.droppedMarker(MAX_SAFE_INTEGER)) - bytesOf(cutMarker(room));
      const kept = utf8Prefix(message, space);
      if (space <= 0 || kept.chars === 0) return void this.dropped++;
      const marker = cutMarker(kept.bytes);
      size = kept.bytes + bytesOf(marker);
      message = `${stringSlice(message, 0, kept.chars)}${marker}`;
      this.cut = true;
    }
    this.bytes += size;
    arrayPush(this.entries, { level, message, time: this.elapsed() });
  }

  /**
   * ms since the run began. While workerd evaluates the program's module (its top-level code,
   * on the first run of an isolate) the clock reads 0 as in any global scope, so such lines
   * would be stamped -<epoch ms>: they get 0, which is when they ran.
   */
  elapsed(): number {
    return roundMs(mathMax(0, now() - this.started));
  }

  /**
   * The lines, and when some were dropped a last `warn` entry saying how many. Logs that fit the
   * limits come back whole; otherwise the limits hold with that entry included: it takes the
   * place of the last line when all `maxLines` are used, and when the bytes are full the last
   * line is cut (or, too short to cut, dropped) to make room for it.
   */
  toJSON(): { logs: LogEntry[]; truncated: boolean } {
    const entries = arraySlice(this.entries);
    let dropped = this.dropped;
    let cut = this.cut;
    if (dropped > 0) {
      if (entries.length >= this.maxLines) {
        entries.length = mathMax(0, this.maxLines - 1);
        dropped += this.entries.length - entries.length;
      }
      // The kept lines' bytes: all that were added, less those of the lines just given up.
      let bytes = this.bytes;
      for (const entry of arraySlice(this.entries, entries.length)) bytes -= bytesOf(entry.message);
      for (let last = entries[entries.length - 1]; last !== undefined; last = entries[entries.length - 1]) {
        const excess = bytes + bytesOf(this.droppedMarker(dropped + 1)) - this.maxBytes;
        if (excess <= 0) break;
        const lastBytes = bytesOf(last.message);
        const kept = utf8Prefix(last.message, lastBytes - excess - bytesOf(cutMarker(lastBytes)));
        entries.length -= 1;
        bytes -= lastBytes;
        if (kept.chars > 0) {
          const message = `${stringSlice(last.message, 0, kept.chars)}${cutMarker(kept.bytes)}`;
          arrayPush(entries, { ...last, message });
          bytes += bytesOf(message);
          cut = true;
          break;
        }
        dropped += 1;
      }
      arrayPush(entries, { level: "warn", message: this.droppedMarker(dropped), time: this.elapsed() });
    }
    return { logs: entries, truncated: dropped > 0 || cut };
  }

  droppedMarker(dropped: number): string {
    return `[dwl] logs truncated: ${dropped} more line(s) dropped (limits: ${this.maxLines} lines, ${this.maxBytes} bytes)`;
  }
}
