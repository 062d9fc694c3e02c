/**
 * Issue 11, faults: storage fails under the loader. KV and R2 inside a program's `env.KV` /
 * `env.FILES`, the `/files` route, the sandbox registry (Durable Object) and bundle store (R2)
 * during a sandbox create, and the credential store (KV). Each gives a clear structured error
 * without the storage layer's own message, the next request is served, and a failed write
 * leaves nothing behind. How faults get in: ../faults.ts.
 */
import { RequestErrorBodySchema, SandboxListSchema } from "@dwl/protocol";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SandboxRecord } from "../../src/sandboxes/registry.ts";
import { call, execute, expectFailure, expectOk } from "../helpers.ts";
import {
  callWithEnv,
  envWith,
  failBindingMethod,
  fault,
  INTERNAL_DETAIL,
  namespaceWithStubOverrides,
  withOverrides,
} from "../faults.ts";

const ns = () => `faults-${crypto.randomUUID().slice(0, 8)}`;
const RETRY = "failed: the storage service returned an error; retrying may help";

beforeEach(() => {
  // The loader logs each cause for its operator; keep the test output readable.
  vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

/** Runs `code` in namespace `namespace` and expects it to fail with `name`: `message`. */
async function expectProgramError(code: string, namespace: string, name: string, message: string): Promise<void> {
  const res = expectFailure(await execute({ code, storage: { namespace } }));
  expect(res.error).toMatchObject({ type: "runtime", name, message });
  expect(JSON.stringify(res)).not.toContain(INTERNAL_DETAIL);
}

describe("storage errors inside a program", () => {
  it.each([
    ["KV", "get", "env.KV.get('visits')", 'KV get of "visits"'],
    ["KV", "getWithMetadata", "env.KV.getWithMetadata('visits')", 'KV getWithMetadata of "visits"'],
    ["KV", "put", "env.KV.put('visits', '1')", 'KV put of "visits"'],
    ["KV", "delete", "env.KV.delete('visits')", 'KV delete of "visits"'],
    ["KV", "list", "env.KV.list({ prefix: 'v' })", "KV list"],
    ["FILES", "head", "env.FILES.head('charts/pi.svg')", 'FILES head of "charts/pi.svg"'],
    ["FILES", "get", "env.FILES.get('charts/pi.svg')", 'FILES get of "charts/pi.svg"'],
    ["FILES", "put", "env.FILES.put('charts/pi.svg', '<svg/>')", 'FILES put of "charts/pi.svg"'],
    ["FILES", "delete", "env.FILES.delete(['a', 'b'])", "FILES delete of 2 keys"],
    ["FILES", "list", "env.FILES.list()", "FILES list"],
  ] as const)(
    "%s %s failing is a StorageError naming the call, and the next run works",
    async (binding, method, expression, what) => {
      const namespace = ns();
      failBindingMethod(binding === "KV" ? env.KV : env.FILES, method);
      await expectProgramError(
        `export default async (_, env) => ${expression}`,
        namespace,
        "StorageError",
        `${what} ${RETRY}`,
      );
      vi.restoreAllMocks();
      expectOk(
        await execute({
          code: `export default async (_, env) => { await ${expression}; return "served"; }`,
          storage: { namespace },
        }),
      );
    },
  );

  it("is an exception the program can catch and go on from", async () => {
    failBindingMethod(env.KV, "get");
    const code =
      "export default async (_, env) => { try { await env.KV.get('k'); } catch (e) { return [e instanceof Error, e.name, e.message]; } }";
    expect(expectOk(await execute({ code, storage: { namespace: ns() } })).result).toEqual([
      true,
      "StorageError",
      `KV get of "k" ${RETRY}`,
    ]);
  });

  it("still reports the program's own mistakes as such, not as storage failures", async () => {
    failBindingMethod(env.KV, "put");
    failBindingMethod(env.FILES, "put");
    const namespace = ns();
    await expectProgramError(
      "export default async (_, env) => env.KV.put('../escape', 'x')",
      namespace,
      "StorageKeyError",
      expect.stringContaining("..") as unknown as string,
    );
    await expectProgramError(
      "export default async (_, env) => env.FILES.put('big', 'x'.repeat(10 * 1024 * 1024 + 1))",
      namespace,
      "StorageLimitError",
      expect.stringContaining("over the") as unknown as string,
    );
  });

  it("refuses a KV expiration KV would refuse itself (past, too far, in milliseconds), instead of passing its refusal on as a storage failure", async () => {
    const refused = (options: string, message: string) =>
      expectProgramError(
        `export default async (_, env) => env.KV.put('k', 'v', ${options})`,
        ns(),
        "RangeError",
        expect.stringContaining(message) as unknown as string,
      );
    await refused("{ expiration: 5 }", "expiration must be an integer number of seconds since the UNIX epoch");
    await refused("{ expiration: Date.now() }", "this looks like milliseconds, as Date.now() gives: divide by 1000");
    await refused("{ expiration: 2147483648 }", "at most 2147483647, not 2147483648");
    await refused(
      "{ expirationTtl: 2147483648 }",
      "expirationTtl must be an integer number of seconds from 60 to 2147483647",
    );
    await refused("{ expirationTtl: 59 }", "not 59");
    expectOk(
      await execute({
        code: "export default async (_, env) => env.KV.put('k', 'v', { expirationTtl: 2147483647 })",
        storage: { namespace: ns() },
      }),
    );
    const later = Math.floor(Date.now() / 1000) + 3600;
    expectOk(
      await execute({
        code: `export default async (_, env) => env.KV.put('k', 'v', { expiration: ${later} })`,
        storage: { namespace: ns() },
      }),
    );
  });

  it("leaves no file behind when R2 refuses the write", async () => {
    const namespace = ns();
    failBindingMethod(env.FILES, "put");
    await expectProgramError(
      "export default async (_, env) => env.FILES.put('report.json', '{}')",
      namespace,
      "StorageError",
      `FILES put of "report.json" ${RETRY}`,
    );
    vi.restoreAllMocks();
    expect(
      expectOk(
        await execute({
          code: "export default async (_, env) => env.FILES.head('report.json')",
          storage: { namespace },
        }),
      ).result,
    ).toBeNull();
  });
});

describe("storage errors in /files", () => {
  it("answers 500 internal naming the call, even when R2 throws a TypeError (never a 400 with R2's message)", async () => {
    failBindingMethod(env.FILES, "get", "TypeError");
    const res = await call("/files/faults/report.json");
    const text = await res.text();
    expect(res.status, text).toBe(500);
    expect(RequestErrorBodySchema.parse(JSON.parse(text))).toEqual({
      error: { type: "internal", message: `FILES get of "report.json" ${RETRY}` },
    });
    vi.restoreAllMocks();
    expect((await call("/files/faults/report.json")).status).toBe(404);
  });
});

async function sandboxIds(): Promise<string[]> {
  return SandboxListSchema.parse(await (await call("/sandboxes")).json()).sandboxes.map((s) => s.id);
}

async function storedBundles(): Promise<string[]> {
  return (await env.FILES.list({ prefix: "__dwl/bundles/" })).objects.map((o) => o.key);
}

/** POST /sandboxes through `faultyEnv`; expects a 500 `internal` with `message` and nothing stored. */
async function expectCreateFails(faultyEnv: Env, message: string | RegExp): Promise<void> {
  const [ids, bundles] = [await sandboxIds(), await storedBundles()];
  // A program no other test stores, so any bundle written for it would show up as new.
  const code = `export default { fetch: () => new Response("${crypto.randomUUID()}") }`;
  const res = await callWithEnv(faultyEnv, "/sandboxes", { method: "POST", body: JSON.stringify({ code }) });
  const text = await res.text();
  expect(res.status, text).toBe(500);
  const body = RequestErrorBodySchema.parse(JSON.parse(text));
  expect(body.error.type).toBe("internal");
  expect(body.error.message).toMatch(message);
  expect(text).not.toContain(INTERNAL_DETAIL);
  expect(await sandboxIds()).toEqual(ids);
  expect(await storedBundles()).toEqual(bundles);
  // The loader keeps serving: the same create succeeds with healthy storage.
  expect((await call("/sandboxes", { method: "POST", body: JSON.stringify({ code }) })).status).toBe(201);
}

const rejecting =
  (kind: "Error" | "TypeError" = "Error") =>
  () =>
    Promise.reject(fault(kind));

describe("sandbox create with failing storage", () => {
  it("R2 refusing the bundle: no registry row is left", async () => {
    await expectCreateFails(
      envWith({ FILES: withOverrides(env.FILES, { put: rejecting() }) }),
      "the bundle store failed: the sandbox was not created; retry the request",
    );
  });

  it("the registry refusing the row: no bundle is left", async () => {
    let refused = 0;
    const SANDBOXES = namespaceWithStubOverrides(env.SANDBOXES, () => ({
      create: () => (refused++, Promise.reject(fault())),
    }));
    await expectCreateFails(
      envWith({ SANDBOXES }),
      "the sandbox registry failed: the sandbox was not created; retry the request",
    );
    expect(refused).toBe(1);
  });

  it("the registry writing the row but the call failing: the row is removed again", async () => {
    const written: string[] = [];
    const SANDBOXES = namespaceWithStubOverrides(env.SANDBOXES, (real) => ({
      create: async (record: SandboxRecord, max: number) => {
        written.push((await real.create(record, max))?.id ?? "none");
        throw fault();
      },
    }));
    await expectCreateFails(
      envWith({ SANDBOXES }),
      "the sandbox registry failed: the sandbox was not created; retry the request",
    );
    expect(written).toEqual([expect.stringMatching(/^sb_/)]);
  });

  it("the registry unreachable from the start: refused before anything is bundled or stored", async () => {
    const SANDBOXES = namespaceWithStubOverrides(env.SANDBOXES, () => ({
      admitWrite: rejecting(),
      reserveBundle: rejecting(),
      create: rejecting(),
    }));
    await expectCreateFails(
      envWith({ SANDBOXES }),
      "the sandbox registry failed: the sandbox was not created; retry the request",
    );
  });

  it("says which sandbox may remain when even the clean-up fails", async () => {
    const SANDBOXES = namespaceWithStubOverrides(env.SANDBOXES, (real) => ({
      create: async (record: SandboxRecord, max: number) => {
        await real.create(record, max);
        throw fault();
      },
      delete: rejecting(),
    }));
    const before = await sandboxIds();
    const res = await callWithEnv(envWith({ SANDBOXES }), "/sandboxes", {
      method: "POST",
      body: JSON.stringify({ code: `export default () => "${crypto.randomUUID()}"` }),
    });
    expect(res.status).toBe(500);
    const { error } = RequestErrorBodySchema.parse(await res.json());
    const left = (await sandboxIds()).filter((id) => !before.includes(id));
    expect(left).toHaveLength(1);
    expect(error).toEqual({
      type: "internal",
      message: `the sandbox registry failed: sandbox "${left[0]}" may remain; delete it (DELETE /sandboxes/${left[0]}) and retry`,
    });
    expect((await call(`/sandboxes/${left[0]}`, { method: "DELETE" })).status).toBe(204);
  });
});

describe("credential store failing", () => {
  const kvFailing = (method: "get" | "put" | "list" | "delete") =>
    envWith({ KV: withOverrides(env.KV, { [method]: rejecting() }) });

  async function expectStoreError(res: Response, op: string): Promise<void> {
    const text = await res.text();
    expect(res.status, text).toBe(500);
    expect(RequestErrorBodySchema.parse(JSON.parse(text))).toEqual({
      error: { type: "internal", message: `the credential store is unavailable (KV ${op} failed); retry the request` },
    });
    expect(text).not.toContain(INTERNAL_DETAIL);
  }

  const put = (faultyEnv: Env, name: string) =>
    callWithEnv(faultyEnv, `/credentials/${name}`, {
      method: "PUT",
      body: JSON.stringify({ value: "ghp_secret_value", hosts: ["api.example.com"] }),
    });
  const names = async () =>
    ((await (await call("/credentials")).json()) as { credentials: { name: string }[] }).credentials.map((c) => c.name);

  it("PUT with KV refusing the write: a clear error and no credential", async () => {
    const name = `fault-${crypto.randomUUID().slice(0, 8)}`;
    await expectStoreError(await put(kvFailing("put"), name), "put");
    expect(await names()).not.toContain(name);
    expect((await put(env, name)).status).toBe(200);
    expect(await names()).toContain(name);
  });

  it("GET and DELETE with KV failing: clear errors, and the credential is still there", async () => {
    const name = `fault-${crypto.randomUUID().slice(0, 8)}`;
    expect((await put(env, name)).status).toBe(200);
    await expectStoreError(await callWithEnv(kvFailing("list"), "/credentials"), "list");
    await expectStoreError(
      await callWithEnv(kvFailing("delete"), `/credentials/${name}`, { method: "DELETE" }),
      "delete",
    );
    expect(await names()).toContain(name);
  });

  it("an execution naming a credential while KV fails: a clear error, then it runs", async () => {
    const name = `fault-${crypto.randomUUID().slice(0, 8)}`;
    expect((await put(env, name)).status).toBe(200);
    const body = JSON.stringify({ code: "export default () => 'ran'", egress: { credentials: [name] } });
    await expectStoreError(await callWithEnv(kvFailing("get"), "/execute", { method: "POST", body }), "get");
    expect(expectOk(await execute(JSON.parse(body) as object)).result).toBe("ran");
  });
});
