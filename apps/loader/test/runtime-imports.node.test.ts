/**
 * The import check (bundle/runtime-modules.ts) trusts the loader's own built-in modules to be a
 * child's: a name a child has and the loader lacked would refuse a valid program. Checked under
 * `wrangler dev` as users run it (the loader bundled by wrangler, not under the test runner's
 * module loader, whose built-ins differ): every name every built-in module exports in a child,
 * imported by name in one program, compiles and links.
 */
import { ExecuteResponseSchema } from "@dwl/protocol";
import { beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../../../test-support/dev-server.ts";
import { RUNTIME_NODE_BUILTINS, RUNTIME_PREFIXED_NODE_BUILTINS } from "../src/npm/node-builtins.ts";
import { CLOUDFLARE_MODULES } from "../src/bundle/runtime-modules.ts";

let server: DevServerClient;
beforeAll(async () => {
  server = await sharedDevServer();
});

async function execute(body: object) {
  const res = await server.post("/execute", body);
  expect(res.status).toBe(200);
  return ExecuteResponseSchema.parse(await res.json());
}

const SPECS = [
  ...CLOUDFLARE_MODULES,
  ...[...RUNTIME_NODE_BUILTINS, ...RUNTIME_PREFIXED_NODE_BUILTINS].map((name) => `node:${name}`),
];

describe("imports of the runtime's modules", () => {
  it("compiles and links an import of every name every built-in module exports in a child", async () => {
    const listed = await execute({
      code: `export default async () => {
  const names = {};
  for (const spec of ${JSON.stringify(SPECS)}) names[spec] = Object.keys(await import(spec));
  return names;
};`,
      limits: { cpuMs: 5_000 },
    });
    if (!listed.ok) throw new Error(listed.error.message);
    const names = listed.result as Record<string, string[]>;
    let n = 0;
    const lines = Object.entries(names).map(([spec, exported]) => {
      const named = exported.filter((name) => name !== "default" && /^[A-Za-z_$][\w$]*$/.test(name));
      const head = exported.includes("default") ? `v${n++}, ` : "";
      return `import ${head}{ ${named.map((name) => `${name} as v${n++}`).join(", ")} } from ${JSON.stringify(spec)};`;
    });
    const res = await execute({ code: `${lines.join("\n")}\nexport default () => ${n};`, limits: { cpuMs: 5_000 } });
    expect(res.ok ? res.result : res.error).toBe(n);
    expect(n).toBeGreaterThan(500);
  });

  it("refuses a cloudflare: module a child lacks, at its line", async () => {
    for (const spec of ["cloudflare:email", "cloudflare:made-up"]) {
      const res = await execute({ code: `import x from "${spec}";\nexport default () => String(x);` });
      expect(res.ok ? res.result : res.error).toMatchObject({ type: "compile", location: { line: 1 } });
    }
  });
});
