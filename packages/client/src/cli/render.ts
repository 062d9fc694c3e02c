/**
 * @module cli/render
 * Human output of the CLI: colours (only on a TTY, never with NO_COLOR), an execution's logs,
 * result, error with the user's own line, and timing; the progress spinner on stderr. Node-only.
 */
import type { ExecuteResponse, ExecutionError, LogEntry, RequestIssue } from "@dwl/protocol";
import type { DwlRequestError } from "../errors.ts";

/** ANSI styling that is a no-op when disabled. */
export interface Paint {
  enabled: boolean;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

/** Colours for `stream`: `FORCE_COLOR` (non-0) forces them, `NO_COLOR` or a non-TTY turns them off. */
export function paintFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Paint {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" && env.FORCE_COLOR !== "false";
  const enabled = forced || (Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== "dumb");
  const sgr = (open: number, close: number) => (s: string) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return {
    enabled,
    red: sgr(31, 39),
    yellow: sgr(33, 39),
    green: sgr(32, 39),
    cyan: sgr(36, 39),
    dim: sgr(2, 22),
    bold: sgr(1, 22),
  };
}

const ms = (n: number) => `${n < 10 ? n.toFixed(1).replace(/\.0$/, "") : Math.round(n)} ms`;

function levelLabel(level: LogEntry["level"], paint: Paint): string {
  const label = level.padEnd(5);
  if (level === "error") return paint.red(label);
  if (level === "warn") return paint.yellow(label);
  if (level === "info") return paint.cyan(label);
  if (level === "debug") return paint.dim(label);
  return label;
}

/** One log line per entry, continuation lines indented under the message. */
export function renderLogs(logs: LogEntry[], paint: Paint): string[] {
  return logs.map((entry) => `${levelLabel(entry.level, paint)} ${entry.message.split("\n").join("\n      ")}`);
}

/**
 * The user's own line for an error: a compile error's `location`, else the first stack frame
 * that names one of the program's files (read from the local sources).
 */
export function userLine(
  error: ExecutionError,
  sources: Record<string, string>,
): { file: string; line: number; column: number; text: string } | undefined {
  if (error.type === "compile" && error.location) {
    const { file, line, column, lineText } = error.location;
    const text = lineText ?? sources[file]?.split("\n")[line - 1];
    return text === undefined ? undefined : { file, line, column, text };
  }
  for (const match of (error.stack ?? "").matchAll(/([^\s()]+):(\d+):(\d+)\)?\s*$/gm)) {
    const [, file = "", line = "0", column = "0"] = match;
    const text = sources[file]?.split("\n")[Number(line) - 1];
    if (text !== undefined) return { file, line: Number(line), column: Number(column), text };
  }
  // A Python traceback lists the innermost frame last, without a column: the line's first word.
  let python: { file: string; line: number; column: number; text: string } | undefined;
  for (const match of (error.stack ?? "").matchAll(PYTHON_FRAME)) {
    const [, file = "", line = "0"] = match;
    const text = sources[file]?.split("\n")[Number(line) - 1];
    if (text !== undefined) python = { file, line: Number(line), column: text.search(/\S|$/) + 1, text };
  }
  return python;
}

/** A frame of a Python traceback: `File "main.py", line 3, in main`. */
const PYTHON_FRAME = /^\s*File "([^"]+)", line (\d+)/gm;

/** `type · Name: message`, the user's line with a caret, then the stack frames. */
export function renderExecutionError(error: ExecutionError, sources: Record<string, string>, paint: Paint): string[] {
  const lines = [`${paint.red(paint.bold(`✗ ${error.type}`))} ${paint.bold(`${error.name}: ${error.message}`)}`];
  const at = userLine(error, sources);
  if (at) {
    const number = String(at.line);
    const gutter = " ".repeat(number.length);
    lines.push(`  ${paint.dim("-->")} ${at.file}:${at.line}:${at.column}`);
    lines.push(`  ${gutter} ${paint.dim("|")}`);
    lines.push(`  ${paint.dim(number)} ${paint.dim("|")} ${at.text.replace(/\t/g, "  ")}`);
    const caretAt =
      Math.max(0, at.column - 1) + (at.text.slice(0, Math.max(0, at.column - 1)).match(/\t/g)?.length ?? 0);
    lines.push(`  ${gutter} ${paint.dim("|")} ${" ".repeat(caretAt)}${paint.red("^")}`);
  }
  const frames = (error.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line) || /^\s*File "/.test(line));
  for (const frame of frames) lines.push(paint.dim(`  ${frame.trim()}`));
  // The loader's advice is the request's JSON; on the command line a dependency is a flag.
  const listed = /"dependencies": \{ "([^"]+)": "([^"]+)" \}/.exec(error.message);
  if (listed)
    lines.push(paint.dim(`  with the CLI: --dep ${listed[1]}@${listed[2]} (or a package.json beside the program)`));
  const allow = /add "([^"]+)" to egress\.allow/.exec(error.message);
  if (allow) lines.push(paint.dim(`  with the CLI: --allow ${allow[1]}`));
  return lines;
}

/** `✓ ok in 42 ms · bundle 4 ms (cached) · start 38 ms · run 0 ms · <executionId>`. */
export function renderTiming(response: ExecuteResponse, paint: Paint): string {
  const { totalMs, bundleMs, startMs, runMs, cached } = response.timing;
  const head = response.ok ? paint.green(`✓ ok in ${ms(totalMs)}`) : paint.red(`✗ failed in ${ms(totalMs)}`);
  const parts = [
    `bundle ${ms(bundleMs)}${cached ? " (cached)" : ""}`,
    `start ${ms(startMs)}`,
    `run ${ms(runMs)}`,
    response.executionId,
  ];
  return `${head}${paint.dim(` · ${parts.join(" · ")}`)}`;
}

/** Everything a human wants to see of one execution, in order. */
export function renderExecution(response: ExecuteResponse, sources: Record<string, string>, paint: Paint): string {
  const lines = renderLogs(response.logs, paint);
  if (response.logsTruncated) lines.push(paint.yellow("(logs were truncated at the server's limit)"));
  for (const e of response.egress) {
    const status = e.denied ? paint.red(`denied: ${e.denied}`) : String(e.status);
    lines.push(
      paint.dim(`fetch ${e.method} ${e.url} → `) +
        status +
        paint.dim(` ${ms(e.ms)}${e.credentials?.length ? ` [${e.credentials.join(", ")}]` : ""}`),
    );
  }
  if (response.ok) lines.push(JSON.stringify(response.result, null, 2) ?? "null");
  else lines.push(...renderExecutionError(response.error, sources, paint));
  lines.push(renderTiming(response, paint));
  return `${lines.join("\n")}\n`;
}

const issuePath = (issue: RequestIssue) => (issue.path.length > 0 ? issue.path.join(".") : "(body)");

/** `error: invalid_request (400): message`, then one line per field issue. */
export function renderRequestError(err: DwlRequestError, paint: Paint): string {
  const status = err.status ? ` (${err.status})` : "";
  const lines = [`${paint.red(paint.bold("error:"))} ${err.type}${status}: ${err.message}`];
  for (const issue of err.issues ?? []) lines.push(`  ${paint.bold(issuePath(issue))}: ${issue.message}`);
  if (err.type === "unauthorized") lines.push(paint.dim("  set DWL_KEY or pass --key"));
  if (err.type === "network" && err.message.startsWith("cannot reach"))
    lines.push(paint.dim("  is the loader running? start it with `npm run dev`, or set DWL_URL / --url"));
  // The loader's advice is the HTTP route; on the command line it is a command.
  const credential = /create it with PUT \/credentials\/(\S+)/.exec(err.message);
  if (credential) lines.push(paint.dim(`  with the CLI: dwl creds set ${credential[1]}`));
  return `${lines.join("\n")}\n`;
}

/** Simple aligned columns for list output. */
export function table(header: string[], rows: string[][], paint: Paint): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[paint.dim(line(header)), ...rows.map(line)].join("\n")}\n`;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const SPINNER_INTERVAL_MS = 80;

/**
 * A one-line progress indicator on `stream` (stderr), only when it is a TTY: a frame, the label
 * and the seconds elapsed. `stop()` erases it.
 */
export function startSpinner(label: string, stream: NodeJS.WriteStream = process.stderr): { stop(): void } {
  if (!stream.isTTY || process.env.CI) return { stop() {} };
  const started = Date.now();
  let frame = 0;
  const draw = () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${label} ${seconds}s`);
  };
  draw();
  const timer = setInterval(draw, SPINNER_INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}
