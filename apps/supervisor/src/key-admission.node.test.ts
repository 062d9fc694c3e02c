import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../loader/test/dev-server.ts";
import { request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { KeyAdmission } from "./key-admission.ts";
import { UNVERIFIED_GROUP, VerifiedKeys } from "./verified-keys.ts";

const isRefusal = (slot: unknown): slot is { refused: string; retryAfterSeconds: number } => typeof slot === "object" && slot !== null && "refused" in slot;

describe("KeyAdmission", () => {
  it("runs up to `concurrency` per key, queues `queue` more in order, and refuses the rest", async () => {
    const admission = new KeyAdmission({ concurrency: 2, queue: 1 });
    const slots = [0, 1, 2, 3].map(() => admission.enter("flood", true));
    expect(slots.slice(0, 3).every((s) => s instanceof Promise)).toBe(true);
    expect(slots[3]).toEqual({ refused: "queue_full", retryAfterSeconds: 1 });

    const order: number[] = [];
    const [a, b, c] = slots as [Promise<() => void>, Promise<() => void>, Promise<() => void>];
    const releaseA = await a;
    await b;
    void c.then(() => order.push(3));
    await Promise.resolve();
    expect(order).toEqual([]);
    releaseA();
    await c;
    expect(order).toEqual([3]);
  });

  it("keeps keys apart: a full key does not delay another", async () => {
    const admission = new KeyAdmission({ concurrency: 1, queue: 0 });
    await admission.enter("flood", true);
    expect(isRefusal(admission.enter("flood", true))).toBe(true);
    const quiet = admission.enter("quiet", true);
    expect(quiet).toBeInstanceOf(Promise);
    (await (quiet as Promise<() => void>))();
  });

  it("holds a key's executions back until the loader's Retry-After, but not its other requests", () => {
    const admission = new KeyAdmission({ concurrency: 4, queue: 4 });
    admission.block("k", 3, 1_000);
    expect(admission.enter("k", true, 1_500)).toEqual({ refused: "retry_after", retryAfterSeconds: 3 });
    expect(admission.enter("k", false, 1_500)).toBeInstanceOf(Promise);
    expect(admission.enter("k", true, 4_001)).toBeInstanceOf(Promise);
  });

  it("forgets idle keys, and a release counts once", async () => {
    const admission = new KeyAdmission({ concurrency: 1, queue: 0 });
    const release = await (admission.enter("k", true) as Promise<() => void>);
    release();
    release();
    expect(admission.size).toBe(0);
    const again = await (admission.enter("k", true) as Promise<() => void>);
    expect(isRefusal(admission.enter("k", true))).toBe(true);
    again();
  });
});

describe("VerifiedKeys", () => {
  it("groups a key with every unaccepted one until an authenticated route answers it with anything but 401", () => {
    const keys = new VerifiedKeys(2);
    expect(keys.groupOf("a")).toBe(UNVERIFIED_GROUP);
    keys.answered("a", "/execute", 401);
    expect(keys.groupOf("a")).toBe(UNVERIFIED_GROUP);
    // Public routes answer any key: no proof.
    for (const path of ["/", "/playground/app.js", "/healthz?x", "/executes"]) keys.answered("a", path, 200);
    expect(keys.groupOf("a")).toBe(UNVERIFIED_GROUP);
    keys.answered("a", "/sandboxes/sb_1/http/x?y", 404);
    expect(keys.groupOf("a")).toBe("a");
  });

  it("remembers at most `max` keys, forgetting the least recently seen", () => {
    const keys = new VerifiedKeys(2);
    keys.answered("a", "/execute", 200);
    keys.answered("b", "/execute", 200);
    expect(keys.groupOf("a")).toBe("a"); // seen: b is now the oldest
    keys.answered("c", "/mcp", 200);
    expect(keys.size).toBe(2);
    expect([keys.groupOf("a"), keys.groupOf("b"), keys.groupOf("c")]).toEqual(["a", UNVERIFIED_GROUP, "c"]);
  });
});

describe("the supervised dev server's per-key admission", () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await startDevServer({ DWL_KEY_CONCURRENCY: "1", DWL_KEY_QUEUE: "1" });
  });
  afterAll(() => server?.stop());

  const sleeper = (ms: number) => server.post("/execute", { code: `export default () => new Promise((r) => setTimeout(() => r(${ms}), ${ms}))` });

  it("runs one, queues one and refuses the next at once with 429 and Retry-After; other keys and /healthz pass", async () => {
    await (await sleeper(0)).arrayBuffer(); // bundled and warm
    const running = sleeper(1_500);
    await new Promise((r) => setTimeout(r, 200));
    const queued = sleeper(10);
    await new Promise((r) => setTimeout(r, 100));

    const started = Date.now();
    const refused = await sleeper(10);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toEqual({ error: { type: "rate_limited", message: "this API key already has 1 request running and 1 waiting; retry in 1 s" } });

    // Refused before its body is read: a 6 MB body changes nothing.
    const big = await server.post("/execute", { code: "export default () => 1", input: "x".repeat(6 * 1024 * 1024) });
    expect(big.status).toBe(429);
    await big.arrayBuffer();

    // Another credential is its own group (this one is not a valid key: the loader answers 401).
    expect((await server.post("/execute", { code: "export default () => 1" }, "some-other-key")).status).toBe(401);
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);

    // The queued request ran after the running one, in order, and both succeeded.
    const [first, second] = await Promise.all([running, queued]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(((await second.json()) as { result: unknown }).result).toBe(10);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });

  /** POST /execute whose body is held back until `finish` is called: it keeps its slot meanwhile. */
  function heldOpen(key: string): { finish: () => void; answer: Promise<number> } {
    const url = new URL(`${server.base}/execute`);
    const body = JSON.stringify({ code: "export default () => 1" });
    let req: ClientRequest | undefined;
    const answer = new Promise<number>((resolve, reject) => {
      const headers = { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": String(body.length) };
      req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers }, (res: IncomingMessage) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(body.slice(0, 10));
    });
    return { finish: () => req?.end(body.slice(10)), answer };
  }

  it("makes keys the loader has not accepted share one group, apart from accepted keys", async () => {
    expect((await sleeper(0)).status).toBe(200); // the dev key is accepted: a group of its own
    const first = heldOpen("forged-1");
    await new Promise((r) => setTimeout(r, 200));
    const second = heldOpen("forged-2");
    await new Promise((r) => setTimeout(r, 200));

    // A third invented key finds the shared group full (1 running, 1 waiting): 429 at once.
    const third = await server.post("/execute", { code: "export default () => 1" }, "forged-3");
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { message: string } }).error.message).toBe(
      "API keys the loader has not accepted yet together have 1 request running and 1 waiting; retry in 1 s",
    );
    // The accepted key is not held up by them.
    expect((await sleeper(10)).status).toBe(200);

    first.finish();
    second.finish();
    expect(await Promise.all([first.answer, second.answer])).toEqual([401, 401]);
  });
});
