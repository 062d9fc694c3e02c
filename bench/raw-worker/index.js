// Bench-only baseline Worker (see wrangler.toml). Each route spawns or reuses a child isolate
// and calls an RPC method on it, the same way the loader calls its harness (getEntrypoint →
// method call), so the difference to /execute is what DWL itself adds.
//   GET /load           new isolate every request: env.LOADER.load() with source made unique per call
//   GET /get            one warm isolate: env.LOADER.get("fixed-id", ...) builds it once, then reuses it
//   GET /get?id=<tag>   one isolate per distinct tag (source unique to the tag): what the loader does
//                       with its content-addressed isolate ids, for the scale comparison
//   GET /storage?i=<n>  warm child doing the same KV + R2 calls as the bench's storage program
//                       through `Store`, a bare RPC entrypoint over the parent's bindings (bindings
//                       themselves cannot be put in a child's env; the loader hands over ScopedKv /
//                       ScopedFiles stubs the same way, plus key scoping and limits)
//   GET /egress?url=<u> warm child fetching <u> through the parent's network (no gateway)
//   GET /load?child=harness   the same, with the loader's harness as the child's main module
//                       (bench/cold-cost.mjs): what the harness alone adds to an isolate start
//   GET /load?child=run the same, and a run of a one-line program through the harness, as the
//                       loader calls it (its own call settings, no metering)
//   GET /healthz
// Children get the loader's child compatibility settings (apps/loader/src/limits.ts) and no
// network unless the route is about network, so both sides pay for the same runtime features.

import { exports, WorkerEntrypoint } from "cloudflare:workers";
import HARNESS from "../../apps/loader/src/sandbox/harness.min.child.js";
import { probeCall } from "../../apps/loader/src/sandbox/probe-call.ts";

/** The unscoped counterpart of the loader's ScopedKv / ScopedFiles. */
export class Store extends WorkerEntrypoint {
  kvPut(key, value) {
    return this.env.KV.put(key, value);
  }
  kvGet(key) {
    return this.env.KV.get(key);
  }
  async filesPut(key, value) {
    await this.env.FILES.put(key, value);
  }
  async filesGetText(key) {
    return (await this.env.FILES.get(key))?.text() ?? null;
  }
}

const CHILD = {
  compatibilityDate: "2026-11-01",
  compatibilityFlags: ["nodejs_compat"],
  mainModule: "child.js",
  globalOutbound: null,
  env: {},
};

const childSource = (tag, body = "return 42;") =>
  `import { WorkerEntrypoint } from "cloudflare:workers";\n` +
  `export class Run extends WorkerEntrypoint { async run(input) { ${body} } }\n` +
  `// ${tag}\n`;

const WARM_CODE = { ...CHILD, modules: { "child.js": childSource("warm") } };

// Mirrors the bench's storage program (bench/run.mjs, STORAGE_PROGRAM): two KV and two R2 calls.
const STORAGE_BODY =
  'const s = this.env.STORE; const k = "k" + input; await s.kvPut(k, "v"); const v = await s.kvGet(k); ' +
  'await s.filesPut("f" + input, "x"); return v + (await s.filesGetText("f" + input)) === "vx" ? 42 : 0;';
const EGRESS_BODY =
  "const res = await fetch(input); await res.arrayBuffer(); return res.status === 200 ? 42 : res.status;";

let loads = 0;

/** The caller-key placeholder the loader fills in (apps/loader/src/sandbox/child-protocol.ts). */
const CALLER_KEY_PLACEHOLDER = "__DWL_CALLER_KEY__";

/** A child with the loader's harness, and the call that runs its program (`run`) or none. */
function harnessChild(tag, run) {
  const code = {
    ...CHILD,
    mainModule: "harness.js",
    modules: {
      "harness.js": HARNESS.replace(CALLER_KEY_PLACEHOLDER, tag),
      "user.js": `export default () => 42; // ${tag}\n`,
    },
  };
  return { code, call: run ? probeCall(tag) : undefined };
}

async function callChild(stub, input) {
  const entrypoint = stub.getEntrypoint("Run");
  try {
    return await entrypoint.run(input);
  } finally {
    entrypoint[Symbol.dispose]?.();
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const { pathname, searchParams } = url;
    if (pathname === "/load" && searchParams.has("child")) {
      const child = searchParams.get("child");
      const { code, call } = harnessChild(`cold ${++loads} ${crypto.randomUUID()}`, child === "run");
      let answer;
      try {
        const outcome = await callChild(env.LOADER.load(code), call);
        answer = outcome.ok ? outcome.result : JSON.stringify(outcome.error);
      } catch (err) {
        // Without a call the harness refuses the run: it has been loaded, which is what is measured.
        answer = call === undefined && /loader only/.test(err.message) ? "42" : `error: ${err.message}`;
      }
      return new Response(answer, { status: answer === "42" ? 200 : 500 });
    }
    if (pathname === "/load") {
      // A distinct source per call, as the bench does for the loader's cold path.
      const stub = env.LOADER.load({
        ...CHILD,
        modules: { "child.js": childSource(`cold ${++loads} ${crypto.randomUUID()}`) },
      });
      return new Response(String(await callChild(stub)));
    }
    if (pathname === "/get") {
      const id = searchParams.get("id");
      if (id === null) return new Response(String(await callChild(env.LOADER.get("fixed-id", () => WARM_CODE))));
      const stub = env.LOADER.get(`distinct-${id}`, () => ({
        ...CHILD,
        modules: { "child.js": childSource(`distinct ${id}`) },
      }));
      return new Response(String(await callChild(stub)));
    }
    if (pathname === "/storage") {
      const stub = env.LOADER.get("storage", () => ({
        ...CHILD,
        env: { STORE: exports.Store({}) },
        modules: { "child.js": childSource("storage", STORAGE_BODY) },
      }));
      return new Response(String(await callChild(stub, searchParams.get("i") ?? "0")));
    }
    if (pathname === "/egress") {
      // globalOutbound left out: the child inherits the parent's network.
      const { globalOutbound, ...networked } = CHILD;
      const stub = env.LOADER.get("egress", () => ({
        ...networked,
        modules: { "child.js": childSource("egress", EGRESS_BODY) },
      }));
      return new Response(String(await callChild(stub, searchParams.get("url"))));
    }
    if (pathname === "/healthz") return new Response("ok");
    return new Response("not found", { status: 404 });
  },
};
