// Bench-only baseline Worker (see wrangler.toml). Each route spawns or reuses a child isolate
// and calls an RPC method on it, the same way the loader calls its harness (getEntrypoint →
// method call), so the difference to /execute is what DWL itself adds.
//   GET /load  new isolate every request: env.LOADER.load() with source made unique per call
//   GET /get   one warm isolate: env.LOADER.get("fixed-id", ...) builds it once, then reuses it
//   GET /healthz
// Children get the loader's child compatibility settings (apps/loader/src/limits.ts) and no
// network, so both sides pay for the same runtime features at isolate start.

const CHILD = {
  compatibilityDate: "2026-11-01",
  compatibilityFlags: ["nodejs_compat"],
  mainModule: "child.js",
  globalOutbound: null,
  env: {},
};

const childSource = (tag) =>
  `import { WorkerEntrypoint } from "cloudflare:workers";\n` +
  `export class Run extends WorkerEntrypoint { run() { return 42; } }\n` +
  `// ${tag}\n`;

const WARM_CODE = { ...CHILD, modules: { "child.js": childSource("warm") } };

let loads = 0;

async function callChild(stub) {
  const entrypoint = stub.getEntrypoint("Run");
  try {
    return await entrypoint.run();
  } finally {
    entrypoint[Symbol.dispose]?.();
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/load") {
      // A distinct source per call, as the bench does for the loader's cold path.
      const stub = env.LOADER.load({ ...CHILD, modules: { "child.js": childSource(`cold ${++loads} ${crypto.randomUUID()}`) } });
      return new Response(String(await callChild(stub)));
    }
    if (pathname === "/get") {
      return new Response(String(await callChild(env.LOADER.get("fixed-id", () => WARM_CODE))));
    }
    if (pathname === "/healthz") return new Response("ok");
    return new Response("not found", { status: 404 });
  },
};
