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
  /** Whether a line was cut to fit. */
  cut: boolean;
  maxLines: number;
  maxBytes: number;
  /** The bytes lines may take: maxBytes less the room of the marker of dropped lines. */
  lineBytes: number;
  started: number;

  constructor(maxLines: number, maxBytes: number, started: number) {
    this.entries = [];
    this.bytes = 0;
    this.dropped = 0;
    this.cut = false;
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
    this.started = started;
    // The lines get what the marker of dropped lines (toJSON) can never need, so that the whole
    // of the logs, marker included, stays within maxBytes.
    this.lineBytes = mathMax(0, maxBytes - bytesOf(this.droppedMarker(MAX_SAFE_INTEGER)));
  }

  add(level: LogLevel, args: unknown[]): void {
    if (this.dropped > 0) return void this.dropped++;
    let message: string;
    try {
      message = formatLog(args);
    } catch (err) {
      message = `[unprintable log arguments: ${(err as { message?: unknown } | null | undefined)?.message ?? err}]`;
    }
    const room = this.lineBytes - this.bytes;
    if (this.entries.length >= this.maxLines || room <= 0) return void this.dropped++;
    const whole = utf8Prefix(message, room);
    let size = whole.bytes;
    if (whole.chars < message.length) {
      // One huge line is cut rather than dropped: its start is usually what matters. The marker
      // counts against the room too (sized for the most digits it can have).
      const kept = utf8Prefix(message, room - bytesOf(cutMarker(room)));
      const marker = cutMarker(kept.bytes);
      size = kept.bytes + bytesOf(marker);
      if (size > room) return void this.dropped++;
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
   * The lines, and when some were dropped a last `warn` entry saying how many. The limits hold
   * with that entry included: it takes the place of the last line when all `maxLines` are used,
   * and its bytes were set aside in the constructor.
   */
  toJSON(): { logs: LogEntry[]; truncated: boolean } {
    const entries = arraySlice(this.entries);
    let dropped = this.dropped;
    if (dropped > 0) {
      if (entries.length >= this.maxLines) {
        entries.length = mathMax(0, this.maxLines - 1);
        dropped += this.entries.length - entries.length;
      }
      arrayPush(entries, { level: "warn", message: this.droppedMarker(dropped), time: this.elapsed() });
    }
    return { logs: entries, truncated: dropped > 0 || this.cut };
  }

  droppedMarker(dropped: number): string {
    return `[dwl] logs truncated: ${dropped} more line(s) dropped (limits: ${this.maxLines} lines, ${this.maxBytes} bytes)`;
  }
}
