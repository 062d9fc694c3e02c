/**
 * @module runtime/runtime
 * The loader under workerd, run by miniflare in this process (wrangler's own local engine, fed
 * wrangler.toml through wrangler's programmatic API and the bundle a deploy would upload: build.ts).
 *
 * The supervisor talks to the loader's own socket (miniflare's direct socket): no wrangler
 * proxy, no second workerd, no wrangler process in between. workerd aborts the whole process
 * when an isolate exhausts the heap; miniflare then starts a new one on the same port. This
 * module reports both moments from the process itself (process-tap.ts): `down` with its cause
 * when the workerd process exits, `up` once the new one serves.
 */
import type { ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { HEARTBEAT_LINE } from "../../../loader/src/sandbox/child-globals.ts";
import type { LoaderBuild } from "./build.ts";
import { tapWorkerdSpawns } from "./process-tap.ts";

/** Why the runtime went down; "recycle" is the supervisor restarting an idle runtime on purpose. */
export type DownCause = "memory" | "hang" | "recycle" | "unknown";

export interface RuntimeOptions {
  root: string;
  build: LoaderBuild;
  stateDir: string;
  v8Flags: string[];
  /** Worker vars on top of wrangler.toml's (DWL_MODE, the supervisor's URLs, --var arguments). */
  vars: Record<string, string>;
  /** The DevTools inspector's port, or undefined for none. */
  inspectorPort?: number;
}

/**
 * V8's own report of a heap exhaustion, which workerd prints before it aborts. Trusted only as
 * a line the process wrote outside structured logging (a program's console output is always a
 * structured JSON line) or as a structured line at level "fatal", which no console call has.
 */
const HEAP_EXHAUSTED = /Reached heap limit|JavaScript heap out of memory|allocation failed/;

/** Miniflare reads the process's pipes through its own streams: lines still in them when the pipes close. */
const LATE_LINES_MS = 25;

/**
 * `going`: the runtime stops serving now (killed on purpose, or its process exited): send it
 * nothing more. `down`: its output read to the end, with the cause. `up`: a new one serves.
 */
export class Runtime extends EventEmitter<{ going: []; down: [DownCause]; up: [] }> {
  private miniflare: Miniflare | undefined;
  private process: ChildProcess | undefined;
  private expectedCause: DownCause | undefined;
  private heapExhausted = false;
  private stopping = false;
  private downsPending = 0;
  /** A kill announced its `going` already; the exit must not say it again. */
  private killing = false;
  private upDeferred = false;
  private untap: (() => void) | undefined;
  /** The loader's own socket; the same across restarts. */
  origin = "";
  /**
   * When the runtime last said it is computing (HEARTBEAT_LINE, printed by metered work of a run
   * within its budget): alive then, however long its health probe waits behind such runs.
   */
  lastHeartbeatAt = 0;
  readonly options: RuntimeOptions;

  constructor(options: RuntimeOptions) {
    super();
    this.options = options;
  }

  async start(): Promise<void> {
    const { root, build, stateDir, v8Flags, vars } = this.options;
    process.env.MINIFLARE_WORKERD_V8_FLAGS = [process.env.MINIFLARE_WORKERD_V8_FLAGS ?? "", ...v8Flags]
      .join(" ")
      .trim();
    this.untap = tapWorkerdSpawns((child) => this.watch(child));
    // However this process ends (an uncaught error included), its workerd must not outlive it
    // holding the port and the state.
    process.once("exit", () => this.process?.kill("SIGKILL"));
    const configured = build.workerOptions;
    this.miniflare = new Miniflare(
      convertV4MiniflareOptions({
        ...configured,
        rootPath: root,
        modulesRoot: build.dir,
        modules: build.modules,
        bindings: { ...(configured.bindings as Record<string, unknown> | undefined), ...vars },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        ...(this.options.inspectorPort ? { inspectorPort: this.options.inspectorPort } : {}),
        resourcePersistencePath: join(resolve(root, stateDir), "v3"),
        handleStructuredLogs: (log) => this.log(log),
        unsafeHandleRuntimeRestart: () => {
          // "up" never overtakes the "down" it follows (that one waits for the last output).
          if (this.downsPending > 0) this.upDeferred = true;
          else this.emit("up");
        },
      } as Parameters<typeof convertV4MiniflareOptions>[0]),
    );
    await this.miniflare.ready;
    this.origin = (await this.miniflare.unsafeGetDirectURL()).origin;
  }

  private watch(child: ChildProcess): void {
    this.process = child;
    child.stderr?.on("data", (chunk: Buffer) => this.scanRaw(chunk.toString()));
    child.stdout?.on("data", (chunk: Buffer) => this.scanRaw(chunk.toString()));
    child.once("exit", () => {
      if (this.process === child) this.process = undefined;
      if (this.stopping) return;
      this.downsPending++;
      if (!this.killing) this.emit("going");
      this.killing = false;
    });
    // Judged once its output has been read to the end ("close" comes after "exit" and the last
    // byte of its pipes): its heap message may arrive after its exit, and must neither be missed
    // nor be taken for the next process's.
    child.once("close", () => {
      setTimeout(() => {
        if (this.stopping) return;
        const cause = this.expectedCause ?? (this.heapExhausted ? "memory" : "unknown");
        this.expectedCause = undefined;
        this.heapExhausted = false;
        this.downsPending--;
        this.emit("down", cause);
        if (this.downsPending === 0 && this.upDeferred) {
          this.upDeferred = false;
          this.emit("up");
        }
      }, LATE_LINES_MS);
    });
  }

  /** Lines the process wrote itself, outside structured logging. */
  private scanRaw(text: string): void {
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("{")) continue;
      if (HEAP_EXHAUSTED.test(line)) this.heapExhausted = true;
    }
  }

  private log({ level, message }: { level: string; message: string }): void {
    if (message === HEARTBEAT_LINE) {
      this.lastHeartbeatAt = Date.now();
      return;
    }
    if (level === "fatal" && HEAP_EXHAUSTED.test(message)) this.heapExhausted = true;
    const sink = level === "error" || level === "fatal" || level === "warn" ? process.stderr : process.stdout;
    sink.write(`${message}\n`);
  }

  /** Resident memory of the runtime process in MiB (ArrayBuffers live outside the V8 heap cap). */
  residentMb(): number {
    const pid = this.process?.pid;
    if (pid === undefined) return 0;
    try {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
    } catch {
      return 0;
    }
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** SIGKILLs the runtime on purpose; miniflare starts a new one. False if none was running. */
  kill(cause: DownCause): boolean {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return false;
    this.expectedCause = cause;
    // Said before the kill: nothing may be sent to a process that is about to die.
    this.killing = true;
    this.emit("going");
    return child.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.untap?.();
    await this.miniflare?.dispose();
  }
}
