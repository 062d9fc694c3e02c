/**
 * @module runtime
 * Runs `wrangler dev` (the loader under workerd) as a child process on an internal port and
 * reports its crashes. workerd aborts the whole process when an isolate exhausts the heap;
 * miniflare restarts it and logs "The Workers runtime crashed unexpectedly" — that line, and
 * the V8 message before it, are the only signals, so they are what this module watches.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Why the runtime went down; "recycle" is the supervisor restarting an idle runtime on purpose. */
export type CrashCause = "memory" | "hang" | "recycle" | "unknown";

export interface RuntimeOptions {
  root: string;
  port: number;
  stateDir: string;
  v8Flags: string[];
  extraArgs: string[];
}

const CRASH_LINE = /The Workers runtime crashed unexpectedly/;
const HEALTH_PROBE_LINE = /GET \/healthz 200/;
const HEAP_LINE = /Reached heap limit|JavaScript heap out of memory|allocation failed/;

export class Runtime extends EventEmitter<{ crash: [CrashCause]; exit: [number] }> {
  private child: ChildProcess | undefined;
  private pendingCause: CrashCause | undefined;
  readonly options: RuntimeOptions;

  constructor(options: RuntimeOptions) {
    super();
    this.options = options;
  }

  start(): void {
    const { root, port, stateDir, v8Flags, extraArgs } = this.options;
    const wrangler = join(root, "node_modules/wrangler/bin/wrangler.js");
    this.child = spawn(process.execPath, [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", stateDir, ...extraArgs], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        // wrangler's local trace explorer streams every request to a collector in the runtime:
        // measured, it cost a third of the runtime's CPU in a flood and ~70 MB of its memory, and
        // DWL writes its own execution log. X_LOCAL_OBSERVABILITY=true brings it back.
        X_LOCAL_OBSERVABILITY: "false",
        ...process.env,
        MINIFLARE_WORKERD_V8_FLAGS: [process.env.MINIFLARE_WORKERD_V8_FLAGS ?? "", ...v8Flags].join(" ").trim(),
      },
    });
    for (const [stream, sink] of [
      [this.child.stdout, process.stdout],
      [this.child.stderr, process.stderr],
    ] as const) {
      let buffered = "";
      stream?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          this.scan(line);
          // The watchdog's probes would drown the log.
          if (!HEALTH_PROBE_LINE.test(line)) sink.write(`${line}\n`);
        }
      });
    }
    this.child.on("exit", (code) => this.emit("exit", code ?? 1));
  }

  /** Marks the cause of the next crash (the watchdog kills the runtime on purpose). */
  expectCrash(cause: CrashCause): void {
    this.pendingCause = cause;
  }

  /** Forgets a cause marked with expectCrash() whose crash was never reported. */
  clearExpectedCrash(): void {
    this.pendingCause = undefined;
  }

  private scan(line: string): void {
    if (HEAP_LINE.test(line)) this.pendingCause ??= "memory";
    if (CRASH_LINE.test(line)) {
      const cause = this.pendingCause ?? "unknown";
      this.pendingCause = undefined;
      this.emit("crash", cause);
    }
  }

  /** The workerd processes that run the loader (not the one serving our port: wrangler's proxy). */
  private userRuntimePids(): number[] {
    const root = this.child?.pid;
    if (root === undefined) return [];
    return descendants(root).filter((pid) => {
      const cmdline = readCmdline(pid);
      return cmdline.includes("workerd") && cmdline.includes(" serve ") && !cmdline.includes(`entry=127.0.0.1:${this.options.port}`);
    });
  }

  /** Resident memory of the loader's runtime in MiB (ArrayBuffers live outside the V8 heap cap). */
  residentMb(): number {
    let kb = 0;
    for (const pid of this.userRuntimePids()) {
      try {
        kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      } catch {
        // exited
      }
    }
    return kb / 1024;
  }

  /** SIGKILLs the loader's runtime; miniflare then restarts it as after any crash. */
  killUserRuntime(): boolean {
    let killed = false;
    for (const pid of this.userRuntimePids()) {
      try {
        process.kill(pid, "SIGKILL");
        killed = true;
      } catch {
        // already gone
      }
    }
    return killed;
  }

  stop(): void {
    this.child?.kill("SIGTERM");
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) comes after the parenthesised command name, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // process exited while scanning
    }
  }
  const out: number[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop() as number;
    for (const [pid, ppid] of parents) {
      if (ppid === parent) {
        out.push(pid);
        frontier.push(pid);
      }
    }
  }
  return out;
}
