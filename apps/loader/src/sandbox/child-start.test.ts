/**
 * What a new child isolate costs, piece by piece: the raw Worker Loader (`LOADER.load` of one
 * trivial module and one RPC call) against the same with DWL's harness and what the loader puts
 * around it, measured in one run, interleaved (issue 21: every new program pays this, so it
 * bounds the cold and TypeScript rows). Not part of the suite (timing has no place in a unit
 * test): run with
 *   DWL_TEST_VERBOSE=1 sh scripts/bootstrap.sh npx vitest run --project workerd --mode child-start apps/loader/src/sandbox/child-start.test.ts
 */
import { exports } from "cloudflare:workers";
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { measureInterleaved, trimmedMean } from "../../../../test-support/interleaved.ts";
import { CHILD_COMPATIBILITY_DATE, CHILD_COMPATIBILITY_FLAGS } from "../limits.ts";
import { CALLER_KEY_PLACEHOLDER, HARNESS_ENTRYPOINT } from "./child-protocol.ts";
import HARNESS_SOURCE from "./harness.min.child.js";
import { probeCall } from "./probe-call.ts";

const SAMPLES = 200;
const WARMUP = 20;

const mode = (import.meta as unknown as { env: { MODE?: string } }).env.MODE;

const base = {
  compatibilityDate: CHILD_COMPATIBILITY_DATE,
  compatibilityFlags: CHILD_COMPATIBILITY_FLAGS,
  globalOutbound: null,
  env: {},
};

/** bench/raw-worker's child: one entrypoint that answers 42. */
const rawChild = (tag: string, prelude = "", body = "return 42;") =>
  `import { WorkerEntrypoint } from "cloudflare:workers";\n${prelude}\nexport class Run extends WorkerEntrypoint { async run() { ${body} } }\n// ${tag}\n`;

const call = probeCall;

/** The harness with a trivial program, as the loader builds its WorkerCode (sandbox/load.ts). */
const harnessChild = (tag: string) => ({
  mainModule: "harness.js",
  modules: {
    "harness.js": HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, tag),
    "user.js": `export default () => 42; // ${tag}`,
  },
});

/** The harness's last statement: its five hooks installed in order (the build keeps their names). */
const HOOK_INSTALLS = "installOrphanPayers();installRefuel();installConsole();installNetwork();installWaits();";

/** The harness text for caller key `tag`, with none of its hooks installed. */
function withoutHooks(tag: string): string {
  const text = HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, tag);
  if (!text.includes(HOOK_INSTALLS)) throw new Error("the harness no longer ends with its five installs");
  return text.replace(HOOK_INSTALLS, "");
}

describe.runIf(mode === "child-start")("a new child isolate", () => {
  it("splits its cost between the runtime, the harness and the loader's capabilities", async () => {
    const loader = (env as unknown as { LOADER: WorkerLoader }).LOADER;
    const entrypointOf = (code: object) =>
      loader.load({ ...base, ...code } as WorkerLoaderWorkerCode).getEntrypoint(HARNESS_ENTRYPOINT) as unknown as {
        run(arg: unknown): Promise<unknown>;
      };
    const start = (code: object, arg: unknown) => entrypointOf(code).run(arg);
    /** Two runs in one new isolate: the second pays no first-call costs. */
    const startTwice = async (code: object, arg: unknown) => {
      const entrypoint = entrypointOf(code);
      await entrypoint.run(arg);
      return entrypoint.run(arg);
    };
    const props = { tenant: "child-start", namespace: "default" };
    const capabilities = exports as unknown as Record<string, (options: { props: object }) => Fetcher>;
    const id = () => crypto.randomUUID();
    const timings = await measureInterleaved(
      {
        "raw: LOADER.load + one RPC": () =>
          start({ mainModule: "child.js", modules: { "child.js": rawChild(id()) } }, 1),
        "raw + the harness text as an unused module": () => {
          const tag = id();
          return start(
            { mainModule: "child.js", modules: { "child.js": rawChild(tag), "unused.js": HARNESS_SOURCE } },
            1,
          );
        },
        "raw + one AsyncLocalStorage run": () =>
          start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(
                  id(),
                  'import { AsyncLocalStorage } from "node:async_hooks"; const als = new AsyncLocalStorage();',
                  "return als.run({}, async () => 42);",
                ),
              },
            },
            1,
          ),
        "raw + reading the globals the harness wraps (WebSocket, EventSource, Request, Response, scheduler)": () =>
          start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(
                  id(),
                  "const seen = [WebSocket, EventSource, Request.prototype.text, Response.prototype.text, scheduler.wait, EventTarget.prototype.addEventListener, FinalizationRegistry];",
                  "return seen.length;",
                ),
              },
            },
            1,
          ),
        "raw + subclassing WebSocket and EventSource, as the harness does": () =>
          start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(
                  id(),
                  "class W extends WebSocket {} class E extends EventSource {} globalThis.WebSocket = W; globalThis.EventSource = E;",
                  "return 42;",
                ),
              },
            },
            1,
          ),
        "raw + replacing Request's and Response's body methods, as the harness does": () =>
          start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(
                  id(),
                  'for (const B of [Request, Response]) for (const m of ["arrayBuffer", "bytes", "text", "blob", "formData", "json"]) { const o = B.prototype[m]; B.prototype[m] = function () { return o.apply(this, arguments); }; }',
                  "return 42;",
                ),
              },
            },
            1,
          ),
        "harness evaluated, run refused (wrong caller key)": () => {
          const tag = id();
          return start(harnessChild(tag), call("wrong")).catch(() => "refused");
        },
        "harness + trivial program, one run": () => {
          const tag = id();
          return start(harnessChild(tag), call(tag));
        },
        "harness + trivial program, the harness text alike in every isolate": () => {
          const tag = id();
          return start(
            {
              mainModule: "harness.js",
              modules: {
                "harness.js": HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, "one-key"),
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            call("one-key"),
          );
        },
        "harness + trivial program, V8's compile-all hint on the harness": () => {
          const tag = id();
          return start(
            {
              mainModule: "harness.js",
              modules: {
                "harness.js": `//# allFunctionsCalledOnLoad\n${HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, tag)}`,
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            call(tag),
          );
        },
        "harness + trivial program, none of its hooks installed": () => {
          const tag = id();
          return start(
            {
              mainModule: "harness.js",
              modules: { "harness.js": withoutHooks(tag), "user.js": `export default () => 42; // ${tag}` },
            },
            call(tag),
          );
        },
        "raw, importing the harness for its evaluation only": () => {
          const tag = id();
          return start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(tag, 'import "./harness.js";'),
                "harness.js": HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, tag),
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            1,
          );
        },
        "raw, importing the harness with none of its hooks installed": () => {
          const tag = id();
          return start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(tag, 'import "./harness.js";'),
                "harness.js": withoutHooks(tag),
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            1,
          );
        },
        "raw + two more trivial modules (user.js and an unused one)": () => {
          const tag = id();
          return start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(tag, 'import "./other.js";'),
                "other.js": `export const x = 1; // ${tag}`,
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            1,
          );
        },
        "raw + a default export with a fetch handler": () =>
          start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": `${rawChild(id())}\nexport default { fetch() { return new Response("x"); } };\n`,
              },
            },
            1,
          ),
        "raw, called with the loader's ChildCall argument": () => {
          const tag = id();
          return start({ mainModule: "child.js", modules: { "child.js": rawChild(tag) } }, call(tag));
        },
        "raw, its run throwing a TypeError": () =>
          start(
            {
              mainModule: "child.js",
              modules: { "child.js": rawChild(id(), "", 'throw new TypeError("no");') },
            },
            1,
          ).catch(() => "thrown"),
        "raw, importing the harness and calling the harness's Run": () => {
          const tag = id();
          return start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": `export { Run } from "./harness.js";\n// ${tag}\n`,
                "harness.js": HARNESS_SOURCE.replace(CALLER_KEY_PLACEHOLDER, tag),
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            call(tag),
          );
        },
        "raw, its run setting and clearing a timer": () =>
          start(
            {
              mainModule: "child.js",
              modules: { "child.js": rawChild(id(), "", "clearTimeout(setTimeout(() => {}, 10000)); return 42;") },
            },
            1,
          ),
        "raw, its run making an AbortSignal.timeout": () =>
          start(
            {
              mainModule: "child.js",
              modules: { "child.js": rawChild(id(), "", "AbortSignal.timeout(10000); return 42;") },
            },
            1,
          ),
        "raw, its run importing a second module dynamically": () => {
          const tag = id();
          return start(
            {
              mainModule: "child.js",
              modules: {
                "child.js": rawChild(tag, "", 'return (await import("./user.js")).default();'),
                "user.js": `export default () => 42; // ${tag}`,
              },
            },
            1,
          );
        },
        "harness + trivial program, two runs in the one isolate": () => {
          const tag = id();
          return startTwice(harnessChild(tag), call(tag));
        },
        "raw, two runs in the one isolate": () =>
          startTwice({ mainModule: "child.js", modules: { "child.js": rawChild(id()) } }, 1),
        "the same with the loader's env and egress gateway": () => {
          const tag = id();
          return start(
            {
              ...harnessChild(tag),
              env: { KV: capabilities.ScopedKv?.({ props }), FILES: capabilities.ScopedFiles?.({ props }) },
              globalOutbound: capabilities.EgressGateway?.({
                props: { tenant: props.tenant, allow: [], credentials: [] },
              }),
            },
            call(tag),
          );
        },
      },
      { samples: SAMPLES, warmup: WARMUP },
    );
    const raw = trimmedMean(timings["raw: LOADER.load + one RPC"] ?? []);
    for (const [name, xs] of Object.entries(timings))
      console.log(`${name}: ${(trimmedMean(xs) - raw).toFixed(2)} ms over raw (trimmed means)`);
    expect(Object.values(timings).every((xs) => xs.length === SAMPLES)).toBe(true);
  }, 900_000);
});
