/**
 * @module logs
 * A run's captured console lines, bounded by line count and bytes.
 */
import type { LogEntry } from "@dwl/protocol";
import { formatLog } from "./format.ts";
import { arrayPush, arraySlice, byteLength, mathMax, now, roundMs } from "./intrinsics.ts";

export type LogLevel = LogEntry["level"];

export class LogBuffer {
  entries: LogEntry[];
  bytes: number;
  dropped: number;
  maxLines: number;
  maxBytes: number;
  started: number;

  constructor(maxLines: number, maxBytes: number, started: number) {
    this.entries = [];
    this.bytes = 0;
    this.dropped = 0;
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
    this.started = started;
  }

  add(level: LogLevel, args: unknown[]): void {
    if (this.dropped > 0) return void this.dropped++;
    let message: string;
    try {
      message = formatLog(args);
    } catch (err) {
      message = `[unprintable log arguments: ${(err as { message?: unknown } | null | undefined)?.message ?? err}]`;
    }
    const room = this.maxBytes - this.bytes;
    const size = byteLength(message);
    if (this.entries.length >= this.maxLines || room <= 0) return void this.dropped++;
    if (size > room) {
      // One huge line is cut rather than dropped: its start is usually what matters.
      message = `${message.slice(0, mathMax(0, room - 64))}… [line cut at ${room} bytes]`;
    }
    this.bytes += size < room ? size : room;
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

  toJSON(): { logs: LogEntry[]; truncated: boolean } {
    const entries = arraySlice(this.entries);
    if (this.dropped > 0) {
      entries.push({
        level: "warn",
        message: `[dwl] logs truncated: ${this.dropped} more line(s) dropped (limits: ${this.maxLines} lines, ${this.maxBytes} bytes)`,
        time: this.elapsed(),
      });
    }
    return { logs: entries, truncated: this.dropped > 0 || this.entries.some((e) => e.message.endsWith(" bytes]")) };
  }
}
