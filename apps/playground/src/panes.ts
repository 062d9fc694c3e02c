/**
 * @module panes
 * The output column: status, result, logs, egress, error and timing. Everything from a run is
 * untrusted text, so it only ever goes into `textContent`.
 */
import type { EgressRecord, ExecutionError, LogEntry, Timing } from "@dwl/protocol";
import type { ErrorMark } from "./editor.ts";

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};

const element = (tag: string, className: string, text?: string): HTMLElement => {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

/** An error as the error pane shows it: a program's `ExecutionError` or a refused request. */
export interface ShownError {
  type: string;
  name: string;
  message: string;
  stack?: string | undefined;
  mark?: ErrorMark | null;
}

export class Panes {
  private readonly status = byId("status");
  private readonly result = byId("result");
  private readonly images = byId("images");
  private readonly logs = byId("logs");
  private readonly logCount = byId("log-count");
  private readonly egressPane = byId("egress-pane");
  private readonly egress = byId("egress");
  private readonly errorPane = byId("error-pane");
  private readonly errorLocation = byId<HTMLButtonElement>("error-location");
  private readonly timing = byId("timing");
  private readonly timingBar = byId("timing-bar");
  private readonly timingLegend = byId("timing-legend");
  private imageUrls: string[] = [];
  private jumpTo: ErrorMark | null = null;

  constructor(onJump: (mark: ErrorMark) => void) {
    this.errorLocation.addEventListener("click", () => this.jumpTo && onJump(this.jumpTo));
  }

  setStatus(text: string, state: "idle" | "running" | "ok" | "failed"): void {
    this.status.textContent = text;
    this.status.dataset.state = state;
  }

  /** Empties every pane; the result shows `placeholder` ("…" while a run is under way). */
  clear(placeholder = "…"): void {
    this.result.textContent = placeholder;
    this.setLogs([]);
    this.setEgress([]);
    this.setError(null);
    this.setTiming(null);
    this.clearImages();
  }

  setResult(value: unknown): void {
    this.result.textContent = value === undefined ? "—" : JSON.stringify(value, null, 2);
  }

  setLogs(entries: readonly LogEntry[], truncated = false): void {
    this.logs.replaceChildren(
      ...entries.map((entry) => {
        const item = element("li", `log level-${entry.level}`);
        item.append(
          element("span", "level", entry.level),
          element("span", "time", `+${entry.time.toFixed(1)} ms`),
          element("span", "message", entry.message),
        );
        return item;
      }),
    );
    if (truncated) this.logs.append(element("li", "log level-warn", "(logs were truncated)"));
    this.logCount.textContent = entries.length ? `(${entries.length})` : "";
    if (!entries.length) this.logs.append(element("li", "empty", "no log lines"));
  }

  setEgress(records: readonly EgressRecord[]): void {
    this.egressPane.hidden = records.length === 0;
    this.egress.replaceChildren(
      ...records.map((record) => {
        const item = element("li", `log ${record.denied ? "level-error" : "level-info"}`);
        const outcome = record.denied ? `denied: ${record.denied}` : `${record.status} in ${record.ms.toFixed(0)} ms`;
        item.append(element("span", "level", record.method), element("span", "message", `${record.url} → ${outcome}`));
        return item;
      }),
    );
  }

  setError(error: ShownError | null): void {
    this.errorPane.hidden = error === null;
    byId("error-type").textContent = error?.type ?? "";
    byId("error-name").textContent = error?.name ?? "";
    byId("error-message").textContent = error?.message ?? "";
    byId("error-stack").textContent = error?.stack ?? "";
    this.jumpTo = error?.mark ?? null;
    this.errorLocation.hidden = !this.jumpTo;
    byId("error-location-none").hidden = Boolean(this.jumpTo);
    this.errorLocation.textContent = this.jumpTo ? `${this.jumpTo.file}:${this.jumpTo.line}:${this.jumpTo.column}` : "";
  }

  /** The server's breakdown (absent for sandbox runs) plus what the browser measured. */
  setTiming(timing: Timing | null, extra: Record<string, number> = {}): void {
    const rows: [string, string][] = [];
    if (timing) {
      rows.push(
        ["totalMs", ms(timing.totalMs)],
        ["bundleMs", ms(timing.bundleMs)],
        ["startMs", ms(timing.startMs)],
        ["runMs", ms(timing.runMs)],
        ["cached", timing.cached ? "yes" : "no"],
      );
    }
    for (const [name, value] of Object.entries(extra)) rows.push([name, ms(value)]);
    this.timing.replaceChildren(
      ...rows.map(([name, value]) => {
        const metric = element("div", "metric");
        metric.append(element("dt", "", name), element("dd", "", value));
        return metric;
      }),
    );
    this.timingBar.replaceChildren();
    this.timingLegend.replaceChildren();
    if (!timing) return;
    const other = Math.max(timing.totalMs - timing.bundleMs - timing.startMs - timing.runMs, 0);
    for (const part of TIMING_PARTS) {
      const value = part.name === "other" ? other : timing[part.field];
      // "other" is only rounding in today's loader: listed when it is there at all.
      if (part.name === "other" && value <= 0) continue;
      // A warm run can take under half a millisecond in all: no bar, but the legend still says what each part is.
      if (timing.totalMs > 0) {
        const segment = element("span", `segment ${part.name}`);
        segment.style.width = `${(100 * value) / timing.totalMs}%`;
        segment.title = `${part.label}: ${ms(value)}`;
        this.timingBar.append(segment);
      }
      const entry = element("li", `legend-${part.name}`);
      entry.title = part.meaning;
      entry.append(
        element("span", `swatch ${part.name}`),
        element("span", "", part.label),
        element("span", "value", ms(value)),
      );
      this.timingLegend.append(entry);
    }
  }

  clearImages(): void {
    for (const url of this.imageUrls) URL.revokeObjectURL(url);
    this.imageUrls = [];
    this.images.replaceChildren();
  }

  /** Shows a file the program saved (fetched with the key) as an <img> through a blob: URL. */
  addImage(key: string, blob: Blob): void {
    const url = URL.createObjectURL(blob);
    this.imageUrls.push(url);
    const figure = element("figure", "image");
    const image = document.createElement("img");
    image.src = url;
    image.alt = `${key}, a file the program saved`;
    figure.append(image, element("figcaption", "", key));
    this.images.append(figure);
  }

  addImageError(key: string, message: string): void {
    this.images.append(element("p", "hint", `${key}: ${message}`));
  }
}

/** The timing bar's segments, in order, with what the legend says about each. */
const TIMING_PARTS = [
  {
    name: "bundle",
    field: "bundleMs",
    label: "bundle",
    meaning: "bundleMs: resolving and bundling the program (about 0 on a cache hit)",
  },
  { name: "start", field: "startMs", label: "start", meaning: "startMs: the isolate start plus RPC" },
  { name: "run", field: "runMs", label: "run", meaning: "runMs: the program's own time inside the child" },
  { name: "other", field: "totalMs", label: "other", meaning: "the rest of totalMs" },
] as const;

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

/**
 * Where an error points: a compile error's location, else the first frame of a JS stack in one
 * of `files`, else the last `File "…", line N` of a Python traceback in one of them (Python lists
 * the innermost frame last).
 */
export function locate(
  error: ExecutionError | { name: string; message: string; stack?: string | undefined },
  files: readonly string[],
): ErrorMark | null {
  const message = `${error.name}: ${error.message}`;
  if ("location" in error && error.location && files.includes(error.location.file)) {
    return { file: error.location.file, line: error.location.line, column: error.location.column, message };
  }
  for (const match of (error.stack ?? "").matchAll(/([\w./@-]+\.(?:tsx?|jsx?|mjs|json)):(\d+):(\d+)/g)) {
    const file = match[1]!.replace(/^\.\//, "");
    if (files.includes(file)) return { file, line: Number(match[2]), column: Number(match[3]), message };
  }
  let innermost: ErrorMark | null = null;
  for (const match of (error.stack ?? "").matchAll(/File "([^"]+\.py)", line (\d+)/g)) {
    const file = match[1]!.replace(/^\.\//, "");
    if (files.includes(file)) innermost = { file, line: Number(match[2]), column: 1, message };
  }
  return innermost;
}
