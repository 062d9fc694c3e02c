import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, execute, executeRejected, expectFailure, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

const upstream = env.DWL_TEST_UPSTREAM as string;
const upstreamHost = new URL(upstream).host;
const ns = () => `tools-${crypto.randomUUID().slice(0, 8)}`;

describe("operator tools", () => {
  it("answers an unknown tool with 400 naming the entry", async () => {
    const { status, body } = await executeRejected({ code: "1", tools: ["notes", "nope"] });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["tools", 1]);
  });

  it("answers names inherited from Object.prototype as unknown tools, not as tools (issue 20)", async () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const { status, body } = await executeRejected({ code: "1", tools: [name] });
      expect(status, name).toBe(400);
      expect(body.error.message).toContain(`unknown tool "${name}"`);
      expect(body.error.issues?.[0]?.path).toEqual(["tools", 0]);
    }
  });

  it("refuses to store a sandbox with a tool name inherited from Object.prototype (issue 20)", async () => {
    const res = await call("/sandboxes", {
      method: "POST",
      body: JSON.stringify({ code: "export default { fetch: () => new Response('x') }", tools: ["constructor"] }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('unknown tool \\"constructor\\"');
  });

  it("hands no tools by default", async () => {
    expect(expectOk(await execute({ code: "export default (_, env) => Object.keys(env).sort()" })).result).toEqual([
      "FILES",
      "KV",
      "SECRETS",
    ]);
  });

  it("says why env.NOTES is undefined when the tool was not granted, and that env is an argument", async () => {
    const ungranted = expectFailure(
      await execute({ code: "export default async (_, env) => env.NOTES.add('a', 'b')" }),
    );
    expect(ungranted.error).toMatchObject({ type: "runtime", name: "TypeError" });
    expect(ungranted.error.message).toBe(
      `Cannot read properties of undefined (reading 'add') (the program read env.NOTES, which this run does not have: its env has KV, FILES, SECRETS; an operator tool is granted by its name in "tools", and a credential is used through env.SECRETS)`,
    );
    // A made-up binding for a credential: the same hint, for the name the program read.
    const secret = expectFailure(await execute({ code: "export default async (_, env) => env.OPENAI_API_KEY.trim()" }));
    expect(secret.error.message).toContain("the program read env.OPENAI_API_KEY, which this run does not have");
    // A TypeError of the program's own, with every binding it read present, gets no hint.
    const own = expectFailure(await execute({ code: "export default async (_, env) => { env.KV; return null.x; }" }));
    expect(own.error.message).toBe("Cannot read properties of null (reading 'x')");
    const global = expectFailure(await execute({ code: "export default async () => env.KV.get('k')" }));
    expect(global.error.message).toBe(
      "env is not defined (env is an argument, not a global: export default async (input, env) => …, or fetch(request, env))",
    );
  });

  describe("notes", () => {
    it("adds, searches, lists, gets and removes notes that persist between runs", async () => {
      const namespace = ns();
      const add = expectOk(
        await execute({
          code: "export default async (_, env) => { await env.NOTES.add('Paris trip', 'Louvre opens at 9', ['travel']); return (await env.NOTES.add('Groceries', 'eggs, milk')).id; }",
          tools: ["notes"],
          storage: { namespace },
        }),
      );
      const id = add.result as string;
      const read = expectOk(
        await execute({
          code: `export default async (_, env) => ({ found: (await env.NOTES.search('louvre')).map((n) => n.title), tagged: (await env.NOTES.list('travel')).length, all: (await env.NOTES.list()).length, one: (await env.NOTES.get(${JSON.stringify(id)})).text, removed: await env.NOTES.remove(${JSON.stringify(id)}), after: (await env.NOTES.list()).length })`,
          tools: ["notes"],
          storage: { namespace },
        }),
      );
      expect(read.result).toEqual({
        found: ["Paris trip"],
        tagged: 1,
        all: 2,
        one: "eggs, milk",
        removed: true,
        after: 1,
      });
    });

    it("keeps notes per tenant and namespace", async () => {
      const namespace = ns();
      await execute({
        code: "export default async (_, env) => env.NOTES.add('mine', 'secret plan')",
        tools: ["notes"],
        storage: { namespace },
      });
      const count = "export default async (_, env) => (await env.NOTES.list()).length";
      expect(
        expectOk(await execute({ code: count, tools: ["notes"], storage: { namespace } }, OTHER_TENANT_KEY)).result,
      ).toBe(0);
      expect(expectOk(await execute({ code: count, tools: ["notes"], storage: { namespace: ns() } })).result).toBe(0);
    });

    it("turns a tool's validation error into an exception in the program", async () => {
      const res = expectFailure(
        await execute({
          code: "export default async (_, env) => env.NOTES.add('', 'x')",
          tools: ["notes"],
          storage: { namespace: ns() },
        }),
      );
      expect(res.error).toMatchObject({ type: "runtime", name: "TypeError" });
      expect(res.error.message).toContain("title");
    });
  });

  describe("json-api", () => {
    it("calls an allowed API with the stored credential injected by the gateway", async () => {
      const name = `api${crypto.randomUUID().slice(0, 6)}`;
      await call(`/credentials/${name}`, {
        method: "PUT",
        body: JSON.stringify({ value: "tool-secret", hosts: [upstreamHost] }),
      });
      const res = expectOk(
        await execute({
          code: `export default async (_, env) => { const r = await env.JSON_API.post("${upstream}/api/items", { a: 1 }, { query: { page: 2 } }); return { status: r.status, got: r.data }; }`,
          tools: ["json-api"],
          egress: { credentials: [name] },
        }),
      );
      // The upstream saw the value; the echo the program reads carries the placeholder instead.
      expect(res.result).toMatchObject({
        status: 200,
        got: {
          method: "POST",
          path: "/api/items?page=2",
          body: '{"a":1}',
          headers: { authorization: expect.stringMatching(/^Bearer dwl_secret_/), "content-type": "application/json" },
        },
      });
      expect(JSON.stringify(res)).not.toContain("tool-secret");
    });

    it("is refused where the program's own fetch would be", async () => {
      const res = expectFailure(
        await execute({
          code: `export default async (_, env) => env.JSON_API.get("${upstream}/x")`,
          tools: ["json-api"],
        }),
      );
      // The same error type as the program's own fetch: a model branches on it.
      expect(res.error).toMatchObject({ type: "egress_denied", name: "EgressDeniedError" });
      expect(res.egress).toEqual([
        expect.objectContaining({
          method: "GET",
          url: `${upstream}/x`,
          denied: expect.stringContaining("egress.allow"),
        }),
      ]);
    });
  });

  describe("network rule of every tool (issue 20)", () => {
    it("audits a tool's requests in the run's egress like the program's fetch", async () => {
      const path = `/tool-audit-${crypto.randomUUID().slice(0, 8)}`;
      const res = expectOk(
        await execute({
          code: `export default async (_, env) => (await env.JSON_API.post("${upstream}${path}", { n: 1 })).status`,
          tools: ["json-api"],
          egress: { allow: [upstreamHost] },
        }),
      );
      expect(res.result).toBe(200);
      expect(res.egress).toEqual([expect.objectContaining({ method: "POST", url: `${upstream}${path}`, status: 200 })]);
    });

    it("counts a tool's requests against limits.subRequests and ends the run as a fetch over it would", async () => {
      const res = expectFailure(
        await execute({
          code: `export default async (_, env) => { for (let i = 0; i < 100; i++) { try { await env.JSON_API.post("${upstream}/loop", { i }); } catch {} } return "escaped"; }`,
          tools: ["json-api"],
          egress: { allow: [upstreamHost] },
          limits: { subRequests: 2 },
        }),
      );
      expect(res.error).toMatchObject({ type: "subrequest_limit", name: "SubrequestLimitError" });
      expect(res.egress).toHaveLength(2);
    });

    it("shares one budget between the program's fetch and its tools", async () => {
      const res = expectFailure(
        await execute({
          code: `export default async (_, env) => { await fetch("${upstream}/a"); await env.JSON_API.get("${upstream}/b"); return "escaped"; }`,
          tools: ["json-api"],
          egress: { allow: [upstreamHost] },
          limits: { subRequests: 1 },
        }),
      );
      expect(res.error.type).toBe("subrequest_limit");
    });
  });
});
