/**
 * The public origin (src/public-origin.ts): a sandbox's `url` and the request URL its fetch
 * handler sees use DWL_PUBLIC_ORIGIN when set, else the request's own origin — never a Host or
 * x-forwarded-host a client sent.
 */
import { RequestErrorBodySchema, SandboxInfoSchema, SandboxListSchema, type SandboxInfo } from "@dwl/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call } from "../helpers.ts";
import { callWithEnv, envWith } from "../faults.ts";

const app = "export default { fetch: (request) => new Response(request.url) };";
const forged = { host: "evil.example", "x-forwarded-host": "evil.example:666", "x-forwarded-proto": "https" };
const PUBLIC = "http://127.0.0.1:8787";

afterEach(() => vi.restoreAllMocks());

async function created(res: Response): Promise<SandboxInfo> {
  expect(res.status, await res.clone().text()).toBe(201);
  return SandboxInfoSchema.parse(await res.json());
}

describe("public origin", () => {
  it("is the request's own origin when DWL_PUBLIC_ORIGIN is unset, whatever the client's headers say", async () => {
    const sandbox = await created(
      await call("/sandboxes", { method: "POST", body: JSON.stringify({ code: app }), headers: forged }),
    );
    expect(sandbox.url).toBe(`http://loader.test/sandboxes/${sandbox.id}/http/`);
    const got = SandboxInfoSchema.parse(await (await call(`/sandboxes/${sandbox.id}`, { headers: forged })).json());
    expect(got.url).toBe(sandbox.url);
    const list = SandboxListSchema.parse(await (await call("/sandboxes", { headers: forged })).json());
    expect(list.sandboxes.map((s) => s.url).filter((u) => u.includes("evil"))).toEqual([]);
    const seen = await (await call(`/sandboxes/${sandbox.id}/http/a/b?x=1`, { headers: forged })).text();
    expect(seen).toBe("http://loader.test/a/b?x=1");
  });

  it("is DWL_PUBLIC_ORIGIN when set, for the sandbox's url and the request it sees", async () => {
    const env = envWith({ DWL_PUBLIC_ORIGIN: PUBLIC });
    const sandbox = await created(
      await callWithEnv(env, "/sandboxes", { method: "POST", body: JSON.stringify({ code: app }), headers: forged }),
    );
    expect(sandbox.url).toBe(`${PUBLIC}/sandboxes/${sandbox.id}/http/`);
    const seen = await (await callWithEnv(env, `/sandboxes/${sandbox.id}/http/p?q=2`, { headers: forged })).text();
    expect(seen).toBe(`${PUBLIC}/p?q=2`);
  });

  it.each(["http://127.0.0.1:8787/loader", "ftp://127.0.0.1", "127.0.0.1:8787", "http://127.0.0.1:8787/?a=1"])(
    "refuses DWL_PUBLIC_ORIGIN %j clearly",
    async (origin) => {
      const res = await callWithEnv(envWith({ DWL_PUBLIC_ORIGIN: origin }), "/sandboxes");
      expect(res.status).toBe(500);
      const body = RequestErrorBodySchema.parse(await res.json());
      expect(body.error.type).toBe("not_configured");
      expect(body.error.message).toContain("DWL_PUBLIC_ORIGIN must be an http(s) origin");
    },
  );
});
