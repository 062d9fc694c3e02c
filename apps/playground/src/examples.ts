/**
 * @module examples
 * The example picker's programs. Sources are real files (apps/playground/examples, and the
 * README's Monte Carlo π demo), inlined as text at build time.
 */
import egressDenied from "../examples/egress-denied.ts?raw";
import hello from "../examples/hello.ts?raw";
import geometry from "../examples/multi-file/geometry.ts?raw";
import multiFileIndex from "../examples/multi-file/index.ts?raw";
import runtimeError from "../examples/runtime-error.ts?raw";
import sandboxApp from "../examples/sandbox-app.ts?raw";
import monteCarloPi from "../../../examples/monte-carlo-pi/index.ts?raw";
import monteCarloPiPython from "../../../examples/monte-carlo-pi-python/main.py?raw";

/** How Run sends the program: one-off `POST /execute`, or a sandbox plus a preview of `GET /`. */
export type RunMode = "execute" | "sandbox";

export interface Example {
  id: string;
  title: string;
  mode: RunMode;
  /** File name → source; one `index.ts` is sent as `code`, several as `files`. */
  files: Record<string, string>;
  /** Request fields merged into the body (input, storage, egress…), shown as editable JSON. */
  options: Record<string, unknown>;
  note: string;
}

export const EXAMPLES: readonly Example[] = [
  {
    id: "hello",
    title: "Hello world",
    mode: "execute",
    files: { "index.ts": hello },
    options: { input: { name: "world" } },
    note: "A default-exported function gets the input; its return value is the result.",
  },
  {
    id: "multi-file",
    title: "Multi-file TypeScript",
    mode: "execute",
    files: { "index.ts": multiFileIndex, "geometry.ts": geometry },
    options: {},
    note: "Two modules sent as `files`; switch between them with the tabs above the editor.",
  },
  {
    id: "monte-carlo-pi",
    title: "Monte Carlo π (SVG chart)",
    mode: "execute",
    files: { "index.ts": monteCarloPi },
    // cpuMs above the 50 ms default: locally the budget is clock time, and a first run on a busy
    // machine (JIT, other processes) can take 100+ ms of it; the demo should not end in cpu_limit.
    options: { input: { points: 20000 }, storage: { namespace: "playground" }, limits: { cpuMs: 1000 } },
    note: "Saves charts/pi.svg with env.FILES; the playground shows it from /files/<namespace>/charts/pi.svg.",
  },
  {
    id: "monte-carlo-pi-python",
    title: "Monte Carlo π in Python",
    mode: "execute",
    files: { "main.py": monteCarloPiPython },
    // Python loops cost far more CPU than JS ones (docs/python.md): the default 50 ms is too little.
    options: { input: { points: 20000 }, storage: { namespace: "playground" }, limits: { cpuMs: 2000 } },
    note: "Python on Pyodide: main(input, env) saves charts/pi-python.svg with env.FILES; the first run starts the tenant's Python child.",
  },
  {
    id: "sandbox-app",
    title: "Sandbox app (iframe)",
    mode: "sandbox",
    files: { "index.ts": sandboxApp },
    options: { name: "playground-app" },
    note: "Run stores it with POST /sandboxes (or updates it with PUT), then loads its page into a sandboxed frame.",
  },
  {
    id: "egress-denied",
    title: "Denied egress",
    mode: "execute",
    files: { "index.ts": egressDenied },
    options: { egress: { allow: ["example.com"] } },
    note: "Outbound fetches are denied unless egress.allow lists the host.",
  },
  {
    id: "runtime-error",
    title: "Runtime error",
    mode: "execute",
    files: { "index.ts": runtimeError },
    options: {
      input: {
        orders: [
          { id: "a", total: 5 },
          { id: "b", total: 7.5 },
        ],
      },
    },
    note: "The stack points at your own line; the editor marks it.",
  },
];
