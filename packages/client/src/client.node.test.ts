/**
 * The SDK against the real loader (`scripts/serve.mjs`, what `npm run dev` serves) over HTTP on
 * loopback: executions, request errors, 429 retries, files, credentials, sandboxes, deadlines.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../../test-support/dev-server.ts";
import { rejection } from "./expect-rejection.node-test-util.ts";
import { DwlClient, DwlRequestError } from "./index.ts";

let server: DevServer;
let dwl: DwlClient;
beforeAll(async () => {
  // The loader must refuse past its own per-tenant limit (50 at once) for the 429 tests below:
  // the supervisor's per-key slots (16 by default) and thread time (50 ms: fifty runs of ~1 ms
  // each) would queue the flood before the loader sees it, and the loader itself queues rather
  // than refuses unless its admission queue is 0.
  server = await startDevServer(
    { DWL_KEY_CONCURRENCY: "64", DWL_RUNTIME_CONCURRENCY: "64", DWL_KEY_THREAD_MS: "1000000" },
    ["--var", "DWL_ADMISSION_QUEUE:0"],
  );
  dwl = new DwlClient({ url: server.base, key: "dwl_local_dev" });
});
afterAll(() => server?.stop());

/** Polls until `check` passes (sandbox logs are appended after the answer, with waitUntil). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("execute", () => {
  it("returns the result, logs and timing of a program", async () => {
    const run = await dwl.execute({
      code: "export default (input: { n: number }) => { console.log('n is', input.n); return input.n * 2; }",
      input: { n: 21 },
    });
    expect(run).toMatchObject({ ok: true, result: 42, logs: [{ level: "log", message: "n is 21" }] });
    expect(run.timing.totalMs).toBeGreaterThanOrEqual(0);
    expect(run.executionId).toBeTruthy();
  });

  it("returns a program's failure as data, with the user's file and line", async () => {
    const run = await dwl.execute({
      files: { "main.ts": "export default () => {\n  const xs: number[] = [];\n  return xs[0].toFixed(2);\n}" },
      entry: "main.ts",
    });
    expect(run.ok).toBe(false);
    if (run.ok) return;
    expect(run.error).toMatchObject({ type: "runtime", name: "TypeError" });
    expect(run.error.stack).toContain("main.ts:3:16");
  });

  it("returns a compile error with its location", async () => {
    const run = await dwl.execute({ code: "export default () => {\n  const x = [;\n}" });
    expect(run.ok).toBe(false);
    if (!run.ok) expect(run.error).toMatchObject({ type: "compile", location: { file: "index.ts", line: 2 } });
  });
});

describe("request errors", () => {
  it("throws invalid_request (400) with issues naming the fields", async () => {
    const err = await rejection(dwl.execute({ code: 1, nope: true } as never));
    expect(err).toMatchObject({ status: 400, type: "invalid_request" });
    expect(err.issues?.map((i) => i.path.join("."))).toContain("code");
    expect(err.issues?.some((i) => i.message.includes("nope"))).toBe(true);
  });

  it("throws unauthorized (401) for a wrong key", async () => {
    const err = await rejection(new DwlClient({ url: server.base, key: "wrong" }).execute({ code: "1" }));
    expect(err).toMatchObject({ status: 401, type: "unauthorized" });
  });

  it("refuses a missing or malformed key when the client is made, before any request", () => {
    for (const key of [undefined, "", "  ", "dwl\nkey", "two words"]) {
      expect(() => new DwlClient({ url: server.base, key: key as string }), JSON.stringify(key)).toThrow(
        /^DwlClient: key (is required|may hold only printable ASCII)/,
      );
    }
    expect(() => new DwlClient({ url: server.base, key: " dwl_local_dev\n" })).not.toThrow();
  });

  it("names a url that is none, and says what one looks like", () => {
    for (const url of ["notaurl", "", undefined])
      expect(() => new DwlClient({ url: url as string, key: "k" }), String(url)).toThrow(
        /^DwlClient: url must be the loader's URL, e.g. http:\/\/127\.0\.0\.1:8787, got /,
      );
    expect(() => new DwlClient({ url: "notaurl", key: "k" })).toThrow('got "notaurl"');
  });

  it("throws payload_too_large (413) with the field at fault", async () => {
    const err = await rejection(dwl.execute({ code: "export default () => 1", input: "x".repeat(1024 * 1024 + 10) }));
    expect(err).toMatchObject({ status: 413, type: "payload_too_large" });
    expect(err.issues?.[0]?.path).toEqual(["input"]);
  });
});

describe("429 from the loader's tenant admission", () => {
  /** Sleeps `input` ms; warmed first so that the flood below does not bundle 50 times. */
  const SLEEP = "export default (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms))";
  const MAX_CONCURRENT = 50; // apps/loader/src/limits.ts MAX_CONCURRENT_EXECUTIONS

  /**
   * Fills every concurrency slot of the tenant for `ms` (from the last run's admission), and
   * returns once a probe is refused: on a loaded machine the 50 requests take a second or more
   * to be admitted. A run of the flood that meets the probe in a slot is retried, so all of them run.
   */
  async function flood(ms: number): Promise<Promise<unknown>[]> {
    const patient = new DwlClient({ url: server.base, key: "dwl_local_dev" });
    const runs = Array.from({ length: MAX_CONCURRENT }, () =>
      patient.execute({ code: SLEEP, input: ms }).catch((e: unknown) => e),
    );
    const probe = new DwlClient({ url: server.base, key: "dwl_local_dev", retries: 0 });
    const refused = async (): Promise<boolean> => {
      const outcome = await probe.execute({ code: SLEEP, input: 0 }).catch((e: unknown) => e);
      if (outcome instanceof DwlRequestError && outcome.type === "rate_limited") return true;
      if (outcome instanceof Error) throw outcome;
      return false;
    };
    const until = Date.now() + 15_000;
    while (!(await refused())) {
      if (Date.now() > until) throw new Error("the flood never filled the tenant's slots");
      await new Promise((r) => setTimeout(r, 50));
    }
    return runs;
  }

  it("retries an execution refused while the tenant is at its limit, and it then succeeds", async () => {
    await dwl.execute({ code: SLEEP, input: 0 });
    const statuses: number[] = [];
    const counting = new DwlClient({
      url: server.base,
      key: "dwl_local_dev",
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        statuses.push(response.status);
        return response;
      },
    });
    const busy = await flood(3_000);
    const started = Date.now();
    expect(await counting.execute({ code: "export default () => 'admitted'" })).toMatchObject({
      ok: true,
      result: "admitted",
    });
    expect(statuses[0]).toBe(429);
    expect(statuses.at(-1)).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(await Promise.all(busy)).toEqual(
      Array(MAX_CONCURRENT).fill(expect.objectContaining({ ok: true, result: 3_000 })),
    );
  });

  it("with retries: 0, throws rate_limited carrying the server's Retry-After", async () => {
    const busy = await flood(3_000);
    const err = await rejection(
      new DwlClient({ url: server.base, key: "dwl_local_dev", retries: 0 }).execute({ code: "export default () => 1" }),
    );
    expect(err).toMatchObject({ status: 429, type: "rate_limited", retryAfterMs: 1000 });
    await Promise.all(busy);
  });
});

describe("deadlines", () => {
  it("throws a timeout error when the loader answers too late", async () => {
    const err = await rejection(
      dwl.execute(
        { code: "export default () => new Promise((r) => setTimeout(r, 3000))", limits: { timeoutMs: 5_000 } },
        { timeoutMs: 300 },
      ),
    );
    expect(err.type).toBe("timeout");
  });

  it("throws an aborted error when the caller aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const err = await rejection(
      dwl.execute(
        { code: "export default () => new Promise((r) => setTimeout(r, 3000))" },
        { signal: controller.signal },
      ),
    );
    expect(err.type).toBe("aborted");
  });
});

describe("files", () => {
  it("puts, heads, gets, lists and deletes a file", async () => {
    const info = await dwl.files.put("sdk", "charts/a b.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>", {
      contentType: "image/svg+xml",
    });
    expect(info).toMatchObject({ key: "charts/a b.svg", size: 41, httpMetadata: { contentType: "image/svg+xml" } });

    const head = await dwl.files.head("sdk", "charts/a b.svg");
    expect(head).toMatchObject({ key: "charts/a b.svg", contentType: "image/svg+xml" });

    const got = await dwl.files.get("sdk", "charts/a b.svg");
    expect(got?.headers.get("content-type")).toBe("image/svg+xml");
    expect(await got?.text()).toBe("<svg xmlns='http://www.w3.org/2000/svg'/>");

    await dwl.files.put("sdk", "charts/b.bin", new Uint8Array([0, 1, 2, 255]));
    const page = await dwl.files.list("sdk", { prefix: "charts/" });
    expect(page.objects.map((o) => o.key)).toEqual(["charts/a b.svg", "charts/b.bin"]);
    expect(new Uint8Array(await (await dwl.files.get("sdk", "charts/b.bin"))!.arrayBuffer())).toEqual(
      new Uint8Array([0, 1, 2, 255]),
    );

    const first = await dwl.files.list("sdk", { prefix: "charts/", limit: 1 });
    expect(first).toMatchObject({ truncated: true, objects: [{ key: "charts/a b.svg" }] });
    const second = await dwl.files.list("sdk", {
      prefix: "charts/",
      limit: 1,
      ...(first.cursor ? { cursor: first.cursor } : {}),
    });
    expect(second.objects.map((o) => o.key)).toEqual(["charts/b.bin"]);

    await dwl.files.delete("sdk", "charts/a b.svg");
    expect(await dwl.files.get("sdk", "charts/a b.svg")).toBeNull();
    expect(await dwl.files.head("sdk", "charts/a b.svg")).toBeNull();
    await dwl.files.delete("sdk", "charts/a b.svg"); // a missing key: still fine
  });

  it("uploads a stream", async () => {
    const body = new Blob(["streamed ", "body"]).stream();
    expect(await dwl.files.put("sdk", "stream.txt", body, { contentType: "text/plain" })).toMatchObject({ size: 13 });
    expect(await (await dwl.files.get("sdk", "stream.txt"))?.text()).toBe("streamed body");
  });

  it("sees what a program stored with env.FILES", async () => {
    const run = await dwl.execute({
      code: "export default async (_: unknown, env: any) => { await env.FILES.put('out.json', JSON.stringify({ hi: 1 })); }",
      storage: { namespace: "sdk-prog" },
    });
    expect(run.ok).toBe(true);
    expect(await (await dwl.files.get("sdk-prog", "out.json"))?.json()).toEqual({ hi: 1 });
  });

  it("throws invalid_request naming the key for a key the loader refuses", async () => {
    const err = await rejection(dwl.files.put("sdk", "a\\b", "x"));
    expect(err).toMatchObject({ status: 400, type: "invalid_request" });
    expect(err.issues?.[0]?.path).toEqual(["key"]);
  });

  it("refuses `..` segments before sending (URL parsing would write another key)", async () => {
    const err = await rejection(dwl.files.put("sdk", "a/../b", "x"));
    expect(err).toMatchObject({ status: 0, type: "invalid_request" });
    expect(err.issues?.[0]?.path).toEqual(["key"]);
    expect(await dwl.files.get("sdk", "b")).toBeNull();
  });
});

describe("credentials", () => {
  it("sets, lists and deletes a credential without ever returning its value", async () => {
    const info = await dwl.credentials.set("github", { value: "ghp_secret", hosts: ["api.github.com"] });
    expect(info).toMatchObject({ name: "github", hosts: ["api.github.com"], header: "authorization" });
    const { credentials } = await dwl.credentials.list();
    expect(credentials.map((c) => c.name)).toContain("github");
    expect(JSON.stringify(credentials)).not.toContain("ghp_secret");
    await dwl.credentials.delete("github");
    expect((await dwl.credentials.list()).credentials.map((c) => c.name)).not.toContain("github");
    expect(await rejection(dwl.credentials.delete("github"))).toMatchObject({ status: 404, type: "not_found" });
  });

  it("throws invalid_request naming `hosts` for a refused host", async () => {
    const err = await rejection(dwl.credentials.set("bad", { value: "v", hosts: ["*"] }));
    expect(err.type).toBe("invalid_request");
    expect(err.issues?.[0]?.path).toEqual(["hosts", 0]);
  });
});

describe("sandboxes", () => {
  const API = `export default {
  async fetch(request: Request) {
    const url = new URL(request.url);
    console.log("serving", url.pathname);
    return Response.json({ path: url.pathname, query: url.search, method: request.method, body: await request.text() });
  },
};`;

  it("creates, lists, gets, serves, updates, executes, logs and deletes a sandbox", async () => {
    const created = await dwl.sandboxes.create({ code: API, name: "sdk-api" });
    expect(created).toMatchObject({ name: "sdk-api", version: 1 });
    expect(new URL(created.url).pathname).toBe(`/sandboxes/${created.id}/http/`);

    expect((await dwl.sandboxes.list()).sandboxes.map((s) => s.id)).toContain(created.id);
    expect(await dwl.sandboxes.get(created.id)).toMatchObject({ id: created.id, name: "sdk-api", version: 1 });

    const served = await dwl.sandboxes.fetch(created.id, "/items/7?full=1", { method: "POST", body: "hello" });
    expect(served.status).toBe(200);
    expect(await served.json()).toEqual({ path: "/items/7", query: "?full=1", method: "POST", body: "hello" });

    const updated = await dwl.sandboxes.update(created.id, {
      code: "export default (input: { n: number }) => { console.log('doubling'); return input.n * 2; }",
      name: "sdk-fn",
    });
    expect(updated).toMatchObject({ id: created.id, version: 2, name: "sdk-fn" });
    const run = await dwl.sandboxes.execute(created.id, { input: { n: 4 } });
    expect(run).toMatchObject({ ok: true, result: 8, logs: [{ message: "doubling" }] });

    const { entries } = await eventually(
      () => dwl.sandboxes.logs(created.id),
      (logs) => logs.entries.some((e) => e.message === "doubling"),
    );
    expect(entries.map((e) => e.message)).toEqual(expect.arrayContaining(["serving /items/7", "doubling"]));

    await dwl.sandboxes.delete(created.id);
    expect(await rejection(dwl.sandboxes.get(created.id))).toMatchObject({ status: 404, type: "not_found" });
    expect((await dwl.sandboxes.fetch(created.id, "/")).status).toBe(404);
  });

  it("pages the list with a cursor", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await dwl.sandboxes.create({ code: "export default () => 1", name: `page-${i}` })).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await dwl.sandboxes.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.sandboxes.length).toBeLessThanOrEqual(2);
      seen.push(...page.sandboxes.map((s) => s.id));
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(ids));
    for (const id of ids) await dwl.sandboxes.delete(id);
  });

  it("throws invalid_request for a definition without code", async () => {
    const err = await rejection(dwl.sandboxes.create({ name: "empty" }));
    expect(err).toMatchObject({ status: 400, type: "invalid_request" });
    expect(err.issues?.[0]?.path).toEqual(["code"]);
  });
});
