import { describe, expect, it } from "vitest";
import { execute, expectFailure, expectOk, OTHER_TENANT_KEY } from "../helpers.ts";

const ns = () => `ns-${crypto.randomUUID().slice(0, 8)}`;
const run = async (code: string, namespace: string, input?: unknown, key?: string) =>
  expectOk(await execute({ code, storage: { namespace }, input, limits: { cpuMs: 1_000 } }, key)).result;

describe("env.KV", () => {
  it("persists values across executions in one namespace", async () => {
    const namespace = ns();
    await run(
      "export default async (_, env) => { await env.KV.put('greeting', 'hello'); await env.KV.put('obj', JSON.stringify({ a: 1 }), { metadata: { v: 2 } }); }",
      namespace,
    );
    expect(
      await run(
        "export default async (_, env) => [await env.KV.get('greeting'), await env.KV.get('obj', 'json'), await env.KV.get('obj', { type: 'json' }), (await env.KV.getWithMetadata('obj')).metadata, await env.KV.get('missing')]",
        namespace,
      ),
    ).toEqual(["hello", { a: 1 }, { a: 1 }, { v: 2 }, null]);
  });

  it('reads a value that is not JSON as "json" into the program\'s SyntaxError, not a storage failure', async () => {
    for (const read of ["env.KV.get('plain', 'json')", "env.KV.getWithMetadata('plain', { type: 'json' })"]) {
      const res = expectFailure(
        await execute({
          code: `export default async (_, env) => { await env.KV.put('plain', 'hello'); return await ${read}; }`,
          storage: { namespace: ns() },
        }),
      );
      expect(res.error).toMatchObject({ type: "runtime", name: "SyntaxError" });
      expect(res.error.message).toMatch(
        /^the KV value of "plain" is not JSON \(.*\); read it with get\(key\) as text$/,
      );
    }
  });

  it("finishes the writes a program left running (ctx.waitUntil, or not awaited) before it answers", async () => {
    const namespace = ns();
    const handed = expectOk(
      await execute({
        code: "export default { fetch(req, env, ctx) { ctx.waitUntil(env.KV.put('a', '1')); ctx.waitUntil(env.FILES.put('b.txt', 'bb')); return new Response('ok'); } }",
        storage: { namespace },
      }),
    );
    expect(handed.logs).toEqual([]);
    const floating = expectOk(
      await execute({ code: "export default (_, env) => { env.KV.put('c', '3'); return 1; }", storage: { namespace } }),
    );
    expect(floating.logs.map((l) => [l.level, l.message])).toEqual([
      [
        "warn",
        "[dwl] the program returned while 1 call to env (storage or tools) was still running; the answer waited for it. Await it, or hand it to ctx.waitUntil()",
      ],
    ]);
    expect(
      await run(
        "export default async (_, env) => [await env.KV.get('a'), await (await env.FILES.get('b.txt'))?.text(), await env.KV.get('c')]",
        namespace,
      ),
    ).toEqual(["1", "bb", "3"]);
  });

  it("answers with the result at timeoutMs when waitUntil work never ends, saying it was cut off", async () => {
    const res = expectOk(
      await execute({
        code: "export default { fetch(req, env, ctx) { ctx.waitUntil(new Promise(() => {})); return new Response('ok'); } }",
        limits: { timeoutMs: 300 },
      }),
    );
    expect((res.result as { body: string }).body).toBe("ok");
    expect(res.logs.at(-1)?.message).toContain(
      "at limits.timeoutMs (300 ms) 0 call(s) to env and 1 ctx.waitUntil promise(s) were still running",
    );
  });

  it("points a failed env call's stack at the program's line that made it", async () => {
    const res = expectFailure(
      await execute({
        code: "export default async (_, env) => {\n  await env.KV.put('a', '1');\n  await env.KV.put('obj', { a: 1 });\n}",
        storage: { namespace: ns() },
      }),
    );
    expect(res.error.name).toBe("TypeError");
    expect(res.error.stack).toMatch(/^TypeError: KV values must be a string.*\n {4}at default \(index\.ts:3:\d+\)$/);
  });

  it("lists only the namespace's keys, relative, with prefix, limit and cursor", async () => {
    const namespace = ns();
    await run(
      "export default async (_, env) => { for (const k of ['a/1', 'a/2', 'a/3', 'b/1']) await env.KV.put(k, k); }",
      namespace,
    );
    await run("export default async (_, env) => { await env.KV.put('a/other', 'x'); }", ns());
    const page = (await run(
      "export default async (_, env) => { const first = await env.KV.list({ prefix: 'a/', limit: 2 }); const rest = await env.KV.list({ prefix: 'a/', cursor: first.cursor }); return [first.keys.map(k => k.name), first.list_complete, rest.keys.map(k => k.name), rest.list_complete, (await env.KV.list()).keys.length]; }",
      namespace,
    )) as unknown[];
    expect(page).toEqual([["a/1", "a/2"], false, ["a/3"], true, 4]);
  });

  it("refuses a list cursor it did not hand out for that listing, for KV and FILES alike", async () => {
    const namespace = ns();
    const outcome = (await run(
      `export default async (_, env) => {
        for (const k of ['a/1', 'a/2', 'b/1']) { await env.KV.put(k, k); await env.FILES.put(k, k); }
        const kv = await env.KV.list({ prefix: 'a/', limit: 1 });
        const files = await env.FILES.list({ prefix: 'a/', limit: 1 });
        const attempt = async (call) => { try { await call(); return 'listed'; } catch (e) { return e.name + ': ' + e.message; } };
        return {
          pages: [(await env.KV.list({ prefix: 'a/', cursor: kv.cursor })).keys.map((k) => k.name),
                  (await env.FILES.list({ prefix: 'a/', cursor: files.cursor })).objects.map((o) => o.key)],
          refused: [
            await attempt(() => env.KV.list({ cursor: 'garbage' })),
            await attempt(() => env.FILES.list({ cursor: 'garbage' })),
            await attempt(() => env.KV.list({ prefix: 'b/', cursor: kv.cursor })),
            await attempt(() => env.FILES.list({ prefix: 'a/', delimiter: '/', cursor: files.cursor })),
            await attempt(() => env.FILES.list({ prefix: 'a/', cursor: kv.cursor })),
          ],
        };
      }`,
      namespace,
    )) as { pages: string[][]; refused: string[] };
    expect(outcome.pages).toEqual([["a/2"], ["a/2"]]);
    expect(outcome.refused).toHaveLength(5);
    for (const refusal of outcome.refused)
      expect(refusal).toMatch(/^RangeError: cursor is not one that (KV|FILES)\.list handed out/);
    expect(outcome.refused[1]).toContain("FILES.list");
  });

  it("deletes keys", async () => {
    const namespace = ns();
    expect(
      await run(
        "export default async (_, env) => { await env.KV.put('k', 'v'); await env.KV.delete('k'); return env.KV.get('k'); }",
        namespace,
      ),
    ).toBeNull();
  });

  it("refuses a value over the size limit with a clear error", async () => {
    const res = expectFailure(
      await execute({
        code: "export default async (_, env) => env.KV.put('big', 'x'.repeat(1024 * 1024 + 1))",
        storage: { namespace: ns() },
      }),
    );
    expect(res.error.message).toContain("over the 1048576-byte limit");
  });
});

describe("env.FILES", () => {
  it("stores and reads objects like R2 (text, json, arrayBuffer, stream, metadata, head, list, delete)", async () => {
    const namespace = ns();
    const result = await run(
      `export default async (_, env) => {
        const put = await env.FILES.put("docs/a.json", JSON.stringify({ x: 1 }), { httpMetadata: { contentType: "application/json" }, customMetadata: { by: "test" } });
        await env.FILES.put("docs/b.bin", new Uint8Array([1, 2, 3]));
        await env.FILES.put("docs/c.txt", new Blob(["blob text"]));
        const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } });
        await env.FILES.put("docs/d.txt", stream);
        const a = await env.FILES.get("docs/a.json");
        const head = await env.FILES.head("docs/b.bin");
        const b = await env.FILES.get("docs/b.bin");
        const d = await env.FILES.get("docs/d.txt");
        const list = await env.FILES.list({ prefix: "docs/" });
        await env.FILES.delete("docs/c.txt");
        return { putSize: put.size, a: await a.json(), type: a.httpMetadata.contentType, by: a.customMetadata.by, headSize: head.size,
          bytes: [...new Uint8Array(await b.arrayBuffer())], d: await new Response(d.body).text(),
          listed: list.objects.map((o) => o.key), afterDelete: await env.FILES.get("docs/c.txt"), missing: await env.FILES.head("nope") };
      }`,
      namespace,
    );
    expect(result).toEqual({
      putSize: 7,
      a: { x: 1 },
      type: "application/json",
      by: "test",
      headSize: 3,
      bytes: [1, 2, 3],
      d: "streamed",
      listed: ["docs/a.json", "docs/b.bin", "docs/c.txt", "docs/d.txt"],
      afterDelete: null,
      missing: null,
    });
  });
});

describe("isolation between tenants and namespaces", () => {
  it("never shows one namespace's or tenant's data to another", async () => {
    const namespace = ns();
    await run(
      "export default async (_, env) => { await env.KV.put('secret', 'local-tenant'); await env.FILES.put('secret.txt', 'local-tenant'); }",
      namespace,
    );
    const probe =
      "export default async (_, env) => [await env.KV.get('secret'), await env.FILES.get('secret.txt'), (await env.KV.list()).keys.length, (await env.FILES.list()).objects.length]";
    expect(await run(probe, ns())).toEqual([null, null, 0, 0]);
    expect(await run(probe, namespace, undefined, OTHER_TENANT_KEY)).toEqual([null, null, 0, 0]);
    expect(await run(probe, namespace)).toEqual(["local-tenant", expect.objectContaining({ key: "secret.txt" }), 1, 1]);
  });

  it("confines a key that spells out another tenant's full prefix", async () => {
    const namespace = ns();
    await run(
      "export default async (_, env) => { await env.KV.put('mine', 'other tenant data'); }",
      namespace,
      undefined,
      OTHER_TENANT_KEY,
    );
    expect(await run(`export default async (_, env) => env.KV.get('t/other/${namespace}/mine')`, namespace)).toBeNull();
  });

  const escapes: [string, string][] = [
    ["../other/secret", "'.' and '..'"],
    ["a/../../b", "'.' and '..'"],
    ["./a", "'.' and '..'"],
    ["/etc/passwd", "leading '/'"],
    ["a\\..\\b", "backslashes"],
    ["%2e%2e/x", "percent-encoded"],
    ["%2E%2E%2Fx", "percent-encoded"],
    ["a\u0000b", "control or invisible"],
    ["a\nb", "control or invisible"],
    ["a\u202eb", "control or invisible"],
    ["a\u200bb", "control or invisible"],
    ["\uff0e\uff0e\uff0fx", "look like"],
    ["a\u2215b", "look like"],
    ["e\u0301", "normal form"],
    ["a//b", "empty path segments"],
    ["", "empty"],
    ["a\ud800b", "lone surrogate"],
    ["\udfff", "lone surrogate"],
    ["k".repeat(257), "over the 256-byte limit"],
  ];
  it.each(escapes)("refuses the key %j in KV and FILES", async (key, why) => {
    for (const call of [
      "env.KV.get(key)",
      "env.KV.put(key, 'x')",
      "env.FILES.put(key, 'x')",
      "env.FILES.get(key)",
      "env.KV.list({ prefix: key })",
    ]) {
      if (key === "" && call.includes("list")) continue; // an empty prefix lists the namespace
      const res = expectFailure(
        await execute({
          code: `export default async (key, env) => ${call}`,
          input: key,
          storage: { namespace: "escapes" },
        }),
      );
      expect(res.error.message).toContain(why);
      expect(res.error.name).toBe("StorageKeyError");
    }
  });

  it("rejects an invalid namespace with 400 naming the field", async () => {
    const { executeRejected } = await import("../helpers.ts");
    const { status, body } = await executeRejected({ code: "1", storage: { namespace: "../x" } });
    expect(status).toBe(400);
    expect(body.error.issues?.[0]?.path).toEqual(["storage", "namespace"]);
  });
});
