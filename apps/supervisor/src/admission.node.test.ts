/**
 * The admission queue in isolation: per-key and total slots, round robin across keys, clients
 * that leave, and refusals only past the expected-wait, count and memory bounds.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Admission, type AdmissionLimits, type Demand, type Ticket } from "./admission.ts";
import { Demands } from "./demand.ts";
import { keepDotSegments, originForm, type Route, routeOf } from "./routes.ts";

const limits = (overrides: Partial<AdmissionLimits> = {}): AdmissionLimits => ({
  perKey: 2,
  total: 3,
  keyCpuMs: 1_000_000,
  keyThreadMs: 1_000_000,
  queueMax: 100,
  queueBodyBytes: 1_000,
  maxWaitMs: 30_000,
  ...overrides,
});

function ticket(admission: Admission, key: string, bodyBytes = 0, demand?: Demand): Ticket {
  const entered = admission.enter(key, bodyBytes, demand);
  if ("refused" in entered) throw new Error(`refused: ${entered.refused}`);
  return entered;
}

/**
 * Runs `next` one after another behind `current` (perKey 1), each for ~20 ms: 32 runs make the
 * key's run times measured. Returns the last one, still running.
 */
async function runInTurn(current: Ticket, next: Ticket[]): Promise<Ticket> {
  for (const ticket of next) {
    await new Promise((r) => setTimeout(r, 20));
    current.release();
    await ticket.admitted;
    current = ticket;
  }
  return current;
}

/** Which of `tickets` have been admitted, after pending promise callbacks ran. */
async function admittedOf(tickets: Record<string, Ticket>): Promise<string[]> {
  const admitted: string[] = [];
  for (const [name, t] of Object.entries(tickets)) void t.admitted.then(() => admitted.push(name));
  await new Promise((r) => setTimeout(r, 0));
  return admitted.sort();
}

describe("admission", () => {
  it("admits up to perKey per key and total in all, and queues the rest", async () => {
    const admission = new Admission(limits());
    const t = {
      a1: ticket(admission, "a"),
      a2: ticket(admission, "a"),
      a3: ticket(admission, "a"),
      b1: ticket(admission, "b"),
      b2: ticket(admission, "b"),
    };
    expect(await admittedOf(t)).toEqual(["a1", "a2", "b1"]);
    expect(admission.queued).toBe(2);
  });

  it("hands freed slots to waiting keys in turn, not to the key that floods", async () => {
    const admission = new Admission(limits({ perKey: 3, total: 3 }));
    const running = [ticket(admission, "flood"), ticket(admission, "flood"), ticket(admission, "flood")];
    const flood = Array.from({ length: 5 }, () => ticket(admission, "flood"));
    const quiet = ticket(admission, "quiet");
    running[0]?.release();
    // The flood waited first, but the quiet key's turn comes with the first free slot after it.
    expect(await admittedOf({ flood0: flood[0] as Ticket, quiet })).toEqual(["flood0"]);
    running[1]?.release();
    expect(await admittedOf({ quiet })).toEqual(["quiet"]);
  });

  it("forgets a client that leaves the queue, and never gives it a slot", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1 }));
    const first = ticket(admission, "a");
    const leaving = ticket(admission, "a", 100);
    const next = ticket(admission, "a");
    leaving.release();
    expect(admission.queued).toBe(1);
    first.release();
    expect(await admittedOf({ leaving, next })).toEqual(["next"]);
    next.release();
    expect(admission.size).toBe(0);
  });

  it("refuses past the count and memory bounds only", () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, queueMax: 2, queueBodyBytes: 150 }));
    ticket(admission, "a");
    ticket(admission, "a", 100);
    expect(admission.enter("b", 100)).toMatchObject({ refused: "queue_memory", retryAfterSeconds: 1 });
    ticket(admission, "b", 10);
    expect(admission.enter("c", 0)).toMatchObject({ refused: "queue_full" });
  });

  it("predicts the wait of runs that end together from how long they run, not from the gaps between them", async () => {
    const admission = new Admission(limits({ perKey: 4, total: 4, maxWaitMs: 1_000 }));
    // Eight rounds of four runs of ~40 ms that end at once: the gaps between slots coming free
    // are ~0 but for one in four, and their median predicted no wait at all.
    for (let round = 0; round < 8; round++) {
      const runs = Array.from({ length: 4 }, () => ticket(admission, "a"));
      await new Promise((r) => setTimeout(r, 40));
      for (const run of runs) run.release();
    }
    const running = Array.from({ length: 4 }, () => ticket(admission, "a"));
    // Four at a time, ~40 ms each: 100 waiting take ~1 s.
    const answers = Array.from({ length: 120 }, () => admission.enter("a"));
    const refused = answers.filter((answer) => "refused" in answer);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatchObject({ refused: "expected_wait" });
    for (const answer of [...running, ...answers]) if (!("refused" in answer)) answer.release();
  });

  it("refuses a request that waited maxWaitMs without its turn, which then never gets a slot", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, maxWaitMs: 50 }));
    const first = ticket(admission, "a");
    const second = ticket(admission, "a");
    expect(await second.outwaited).toMatchObject({ refused: "waited", retryAfterSeconds: 1 });
    expect(admission.queued).toBe(0);
    first.release();
    expect(await admittedOf({ second })).toEqual([]);
    second.release();
    expect(admission.size).toBe(0);
  });

  it("refuses the last of a first burst once its runs are measured, before they wait the bound out", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, maxWaitMs: 3_000, queueMax: 1_000 }));
    let current = ticket(admission, "a");
    // Queued before any run of the key was measured: nothing predicts their wait yet.
    const burst = Array.from({ length: 200 }, () => ticket(admission, "a"));
    const refusedAt: number[] = [];
    const started = Date.now();
    for (const waiter of burst) void waiter.outwaited.then(() => refusedAt.push(Date.now() - started));
    // 32 runs of ~20 ms: measured from then on, 168 more at ~20 ms each outlast the 3 s bound.
    current = await runInTurn(current, burst.slice(0, 32));
    await new Promise((r) => setTimeout(r, 300));
    expect(refusedAt.length).toBeGreaterThan(0);
    expect(Math.max(...refusedAt)).toBeLessThan(3_000);
    expect(await burst.at(-1)?.outwaited).toMatchObject({ refused: "expected_wait" });
    current.release();
    for (const waiter of burst) waiter.release();
  });

  it("refuses when the wait predicted from measured runs exceeds maxWaitMs, with that wait as Retry-After", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, maxWaitMs: 2_000 }));
    let current = ticket(admission, "a");
    const waiting = Array.from({ length: 40 }, () => ticket(admission, "a"));
    // 31 runs of ~20 ms each: a prediction exists from then on.
    current = await runInTurn(current, waiting.slice(0, 32));
    // 8 waiting + this one, ~20 ms each: well under 2 s.
    expect("refused" in admission.enter("a")).toBe(false);
    for (let i = 0; i < 100; i++) admission.enter("a");
    const refused = admission.enter("a");
    expect(refused).toMatchObject({ refused: "expected_wait" });
    if ("refused" in refused) {
      expect(refused.expectedWaitMs).toBeGreaterThan(2_000);
      expect(refused.retryAfterSeconds).toBe(Math.ceil(refused.expectedWaitMs / 1000));
    }
  });

  it("predicts a program's wait from its own runs: a key's slow runs of another program refuse none of its burst", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, maxWaitMs: 2_000, queueMax: 1_000 }));
    const of = (program: string) => ticket(admission, "a", 0, { runs: 1, cpuMs: 0, program });
    let current = of("slow");
    current = await runInTurn(
      current,
      Array.from({ length: 32 }, () => of("slow")),
    );
    // The slow program's runs (~20 ms each, one at a time: longer on a busy machine) predict
    // a wait past 2 s after ~100 more of it...
    const slow: Ticket[] = [];
    let refused: unknown;
    while (refused === undefined && slow.length < 1_000) {
      const entered = admission.enter("a", 0, { runs: 1, cpuMs: 0, program: "slow" });
      if ("refused" in entered) refused = entered;
      else slow.push(entered);
    }
    expect(refused).toMatchObject({ refused: "expected_wait" });
    current.release();
    for (const t of slow) t.release();
    // ...but say nothing of another program's: its burst, as long and longer, is queued.
    const fast = Array.from({ length: slow.length + 50 }, () =>
      admission.enter("a", 0, { runs: 1, cpuMs: 0, program: "fast" }),
    );
    expect(fast.filter((t) => "refused" in t)).toEqual([]);
    for (const t of fast) if (!("refused" in t)) t.release();
  });

  it("waits no longer than a request's own timeout: refused once past it, or at once when its expected wait is longer", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, maxWaitMs: 30_000, queueMax: 1_000 }));
    const within = (timeoutMs: number) => ticket(admission, "a", 0, { runs: 1, cpuMs: 0, timeoutMs });
    let current = ticket(admission, "a");
    const hasty = within(100);
    expect(await hasty.outwaited).toMatchObject({ refused: "waited" });
    const waiting = Array.from({ length: 60 }, () => ticket(admission, "a"));
    // 31 runs of ~20 ms each: a prediction exists from then on (~29 waiting, ~20 ms each).
    current = await runInTurn(current, waiting.slice(0, 32));
    expect(admission.enter("a", 0, { runs: 1, cpuMs: 0, timeoutMs: 200 })).toMatchObject({ refused: "expected_wait" });
    expect("refused" in within(10_000)).toBe(false);
    current.release();
    for (const waiter of waiting) waiter.release();
  });

  it("counts the runs a request starts: an MCP batch of tools/call takes one slot per call, up to perKey", async () => {
    const admission = new Admission(limits({ perKey: 4, total: 4 }));
    const batch = admission.enter("a", 0, { runs: 50, cpuMs: 0 });
    if ("refused" in batch) throw new Error("refused");
    const single = ticket(admission, "b");
    // The batch counts as 4 runs (capped at perKey): nothing else fits until it ends.
    expect(await admittedOf({ batch, single })).toEqual(["batch"]);
    batch.release();
    expect(await admittedOf({ single })).toEqual(["single"]);
  });

  it("keeps one key's CPU budgets in the runtime within keyCpuMs; a larger run goes alone", async () => {
    const admission = new Admission(limits({ perKey: 8, total: 8, keyCpuMs: 950 }));
    const heavy = (key: string) => ticket(admission, key, 0, { runs: 1, cpuMs: 800 });
    const light = (key: string) => ticket(admission, key, 0, { runs: 1, cpuMs: 100 });
    const huge = ticket(admission, "a", 0, { runs: 1, cpuMs: 5_000 });
    const t = { huge, a2: heavy("a"), a3: light("a"), b1: heavy("b"), b2: light("b"), b3: light("b") };
    // a's huge run went alone; b's 800 + 100 fit in 950, its second 100 does not.
    expect(await admittedOf(t)).toEqual(["b1", "b2", "huge"]);
    t.b1.release();
    expect(await admittedOf({ b3: t.b3 })).toEqual(["b3"]);
    // b's runs out of the way first: a would yield to them (below).
    t.b2.release();
    t.b3.release();
    expect(await admittedOf({ a2: t.a2, a3: t.a3 })).toEqual([]);
    huge.release();
    expect(await admittedOf({ a2: t.a2, a3: t.a3 })).toEqual(["a2", "a3"]);
  });

  it("keeps the thread time a key's runs are expected to take within keyThreadMs, from what its recent runs took", async () => {
    const admission = new Admission(limits({ perKey: 8, total: 16, keyThreadMs: 50 }));
    const tickets = (key: string, count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`${key}${i + 1}`, ticket(admission, key)]));
    // Nothing reported yet: a key's runs are counted by number alone.
    const first = tickets("a", 3);
    expect(await admittedOf(first)).toEqual(["a1", "a2", "a3"]);
    for (const t of Object.values(first)) t.release(20);
    // Each took 20 ms of the thread: two fit in 50 ms together, a third does not; another key,
    // whose runs took little, is not held back by it.
    const computing = tickets("a", 3);
    const quiet = tickets("b", 5);
    for (const t of Object.values(quiet)) t.release(1);
    const again = tickets("b", 5);
    expect(await admittedOf({ ...computing, ...again })).toEqual(["a1", "a2", "b1", "b2", "b3", "b4", "b5"]);
    for (const t of Object.values(again)) t.release(1);
    computing.a1?.release(20);
    expect(await admittedOf({ a3: computing.a3 as Ticket })).toEqual(["a3"]);
    computing.a2?.release(20);
    computing.a3?.release(20);
    // A key whose runs take more than the whole of it runs one at a time.
    const heavy = tickets("c", 1);
    heavy.c1?.release(80);
    const alone = tickets("c", 2);
    expect(await admittedOf(alone)).toEqual(["c1"]);
    alone.c1?.release(80);
    expect(await admittedOf({ c2: alone.c2 as Ticket })).toEqual(["c2"]);
    alone.c2?.release(80);
    // It is the average of the last few runs: once they take little, the key runs as many as before.
    for (let i = 0; i < 8; i++) ticket(admission, "c").release(1);
    expect(await admittedOf(tickets("c", 8))).toHaveLength(8);
  });

  it("predicts a stored sandbox's thread time from that sandbox's own runs, not the key's others", async () => {
    const admission = new Admission(limits({ perKey: 8, total: 8, keyThreadMs: 50 }));
    const of = (program?: string) => ticket(admission, "a", 0, { runs: 1, cpuMs: 0, ...(program ? { program } : {}) });
    for (let i = 0; i < 3; i++) of("computing").release(200);
    for (let i = 0; i < 3; i++) of("waiting").release(0.5);
    // Half the key's runs computed: predicted from all of them, each would go alone.
    const waiting = { w1: of("waiting"), w2: of("waiting"), w3: of("waiting"), w4: of("waiting") };
    expect(await admittedOf(waiting)).toEqual(["w1", "w2", "w3", "w4"]);
    for (const t of Object.values(waiting)) t.release(0.5);
    // The key's runs together still count: beside a computing run, nothing else of the key goes.
    const t = { c1: of("computing"), w5: of("waiting") };
    expect(await admittedOf(t)).toEqual(["c1"]);
    t.c1.release(200);
    t.w5.release(0.5);
    // A program not seen yet is expected to take what the key's runs took on average (~100 ms).
    const unseen = { n1: of("new"), n2: of("new") };
    expect(await admittedOf(unseen)).toEqual(["n1"]);
    unseen.n1.release(0.5);
    unseen.n2.release(0.5);
    // Definitions (bundling) are kept apart: however long they took, the key's runs are not held back.
    for (let i = 0; i < 8; i++) {
      const defined = admission.enter("b", 0, { runs: 1, cpuMs: 0, program: `def${i}`, definition: true });
      if (!("refused" in defined)) defined.release(100);
    }
    const fresh = { f1: ticket(admission, "b"), f2: ticket(admission, "b"), f3: ticket(admission, "b") };
    expect(await admittedOf(fresh)).toEqual(["f1", "f2", "f3"]);
  });
});

describe("a wait predicted in line", () => {
  beforeEach(
    () => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] }),
  );
  afterEach(() => void vi.useRealTimers());

  it("counts what the run inside has run already: a request is not refused for a wait it has half done", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 1, maxWaitMs: 30_000 }));
    const demand = { runs: 1, cpuMs: 0, program: "p", timeoutMs: 3_000 };
    // 32 runs of 2 s, one after another: the program's runs are measured.
    const turnOf = (t: Ticket) => Promise.race([t.admitted.then(() => "admitted"), t.outwaited.then(() => "refused")]);
    let current = ticket(admission, "a", 0, demand);
    for (let i = 0; i < 32; i++) {
      const next = ticket(admission, "a", 0, demand);
      await vi.advanceTimersByTimeAsync(2_000);
      current.release();
      expect(await turnOf(next)).toBe("admitted");
      current = next;
    }
    // Its turn comes in 2 s, within its 3 s; 1.5 s on (six sweeps later), 0.5 s are left, not 2 s.
    const waiting = ticket(admission, "a", 0, demand);
    let refused = false;
    void waiting.outwaited.then(() => (refused = true));
    await vi.advanceTimersByTimeAsync(1_500);
    expect(refused).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    current.release();
    expect(await turnOf(waiting)).toBe("admitted");
    waiting.release();
  });

  it("scales the runs measured beside more of the key's runs to as many as it runs now", async () => {
    const admission = new Admission(limits({ perKey: 32, total: 32, keyThreadMs: 50 }));
    const demand = { runs: 1, cpuMs: 0, program: "p", timeoutMs: 10_000 };
    // 32 at once, 1.2 s each (they shared the thread), each reporting 100 ms of it.
    const burst = Array.from({ length: 32 }, () => ticket(admission, "a", 0, demand));
    await vi.advanceTimersByTimeAsync(1_200);
    for (const t of burst) t.release(100);
    // Now one at a time (100 ms of thread each): 20 waiting are ~20 runs of ~40 ms, not of 1.2 s.
    const running = ticket(admission, "a", 0, demand);
    const waiting = Array.from({ length: 20 }, () => admission.enter("a", 0, demand));
    expect(waiting.filter((t) => "refused" in t)).toEqual([]);
    running.release(100);
    for (const t of waiting) if (!("refused" in t)) t.release(100);
  });
});

describe("a key yields after each run", () => {
  /** Which of `tickets` have been admitted, after pending callbacks ran (fake timers). */
  async function admittedNow(tickets: Record<string, Ticket>): Promise<string[]> {
    const admitted: string[] = [];
    for (const [name, t] of Object.entries(tickets)) void t.admitted.then(() => admitted.push(name));
    await vi.advanceTimersByTimeAsync(0);
    return admitted.sort();
  }

  beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] }));
  afterEach(() => void vi.useRealTimers());

  it("to the other keys' runs that began while its last one ran, until they end", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 4 }));
    const before = ticket(admission, "c");
    await vi.advanceTimersByTimeAsync(5);
    const a1 = ticket(admission, "a");
    const a2 = ticket(admission, "a");
    await vi.advanceTimersByTimeAsync(5);
    const b1 = ticket(admission, "b");
    await vi.advanceTimersByTimeAsync(1_000);
    a1.release();
    // b1 began while a1 ran: a2 waits for it; c's run began before a1 and does not count.
    expect(await admittedNow({ a2 })).toEqual([]);
    b1.release();
    expect(await admittedNow({ a2 })).toEqual(["a2"]);
    before.release();
  });

  it("for at most as long as its last run took", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 4 }));
    const a1 = ticket(admission, "a");
    const a2 = ticket(admission, "a");
    const b1 = ticket(admission, "b");
    await vi.advanceTimersByTimeAsync(100);
    a1.release();
    await vi.advanceTimersByTimeAsync(99);
    expect(await admittedNow({ a2 })).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await admittedNow({ a2 })).toEqual(["a2"]);
    b1.release();
  });

  it("not at all when nothing else began meanwhile, or nothing of its own waits", async () => {
    const admission = new Admission(limits({ perKey: 1, total: 4 }));
    const a1 = ticket(admission, "a");
    const a2 = ticket(admission, "a");
    a1.release();
    expect(await admittedNow({ a2 })).toEqual(["a2"]);
    const b1 = ticket(admission, "b");
    a2.release();
    // Nothing of a's waited when a2 ended: its next request is admitted at once.
    expect(ticket(admission, "a").immediate).toBe(true);
    b1.release();
  });
});

describe("Demands", () => {
  const budgets = {
    defaultCpuMs: 50,
    maxCpuMs: 4_000,
    unknownSandboxCpuMs: 4_000,
    defaultTimeoutMs: 10_000,
    maxTimeoutMs: 30_000,
  };
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const execute = routeOf("POST", "/execute");
  const mcp = routeOf("POST", "/mcp");
  const call = (id: number, args: Record<string, unknown> = { code: "1" }) => ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "execute", arguments: args },
  });

  it("reads a run's CPU budget where the loader does, capped as the loader caps it", () => {
    const demands = new Demands(budgets);
    expect(demands.of(execute, "k", json({ code: "1" }))).toMatchObject({ runs: 1, cpuMs: 50, timeoutMs: 10_000 });
    expect(demands.of(execute, "k", json({ code: "1", limits: { cpuMs: 700 } }))).toMatchObject({
      runs: 1,
      cpuMs: 700,
      timeoutMs: 10_000,
    });
    expect(demands.of(execute, "k", json({ code: "1", limits: { cpuMs: 1e20 } }))).toMatchObject({
      runs: 1,
      cpuMs: 4_000,
      timeoutMs: 10_000,
    });
    // The key spelled with escapes is the same key to JSON.parse, and so to the loader.
    const escaped = Buffer.from('{"code":"1","limits":{"\\u0063puMs":3000}}');
    expect(JSON.parse(escaped.toString()).limits.cpuMs).toBe(3000);
    expect(demands.of(execute, "k", escaped)).toMatchObject({ runs: 1, cpuMs: 3_000, timeoutMs: 10_000 });
    // Not a budget the loader runs with: refused there, so no more than the default here.
    expect(demands.of(execute, "k", json({ code: "1", limits: { cpuMs: "9000" } }))).toMatchObject({
      runs: 1,
      cpuMs: 50,
      timeoutMs: 10_000,
    });
    expect(demands.of(execute, "k", Buffer.from("{not json cpuMs"))).toMatchObject({
      runs: 1,
      cpuMs: 50,
      timeoutMs: 10_000,
    });
  });

  it("reads a run's timeout where the loader does, capped as the loader caps it; a batch's largest", () => {
    const demands = new Demands(budgets);
    const timeoutOf = (route: Route, body: unknown) => demands.of(route, "k", json(body)).timeoutMs;
    expect(timeoutOf(execute, { code: "1", limits: { timeoutMs: 2_000 } })).toBe(2_000);
    expect(timeoutOf(execute, { code: "1", limits: { timeoutMs: 1e9 } })).toBe(30_000);
    expect(timeoutOf(execute, { code: "1", limits: { timeoutMs: 0.5 } })).toBe(10_000);
    expect(timeoutOf(mcp, [call(1, { code: "1", limits: { timeoutMs: 3_000 } }), call(2)])).toBe(10_000);
    expect(timeoutOf(mcp, [call(1, { code: "1", limits: { timeoutMs: 20_000 } }), call(2)])).toBe(20_000);
    // A stored sandbox's timeout is stored with it: not known here.
    expect(demands.of(routeOf("GET", "/sandboxes/sb_1/http/"), "k", undefined).timeoutMs).toBeUndefined();
  });

  it("names what a program request runs: the same program alike whatever its input, another apart", () => {
    const demands = new Demands(budgets);
    const name = (body: unknown) => demands.of(execute, "k", json(body)).program;
    expect(name({ code: "export default () => 1" })).toBe(name({ code: "export default () => 1" }));
    expect(name({ code: "export default () => 1" })).not.toBe(name({ code: "export default () => 2" }));
    expect(name({ code: "export default (n) => n", input: 1 })).toBe(
      name({ code: "export default (n) => n", input: 2 }),
    );
    const mcpName = (id: number, input: unknown) => demands.of(mcp, "k", json(call(id, { code: "x", input }))).program;
    expect(mcpName(1, "a")).toBe(mcpName(2, "b"));
    expect(demands.of(routeOf("GET", "/sandboxes/sb_1/http/"), "k", undefined).program).toBe("sb_1");
    // A sandbox's definition bundles a program and runs none: it is kept apart from the runs.
    expect(demands.of(routeOf("POST", "/sandboxes"), "k", json({ code: "1" })).definition).toBe(true);
    expect(demands.of(execute, "k", json({ code: "1" })).definition).toBeUndefined();
  });

  it("counts an MCP batch of tools/call as one run (the loader runs them in turn) with the largest budget", () => {
    const demands = new Demands(budgets);
    const batch = [
      call(1),
      call(2, { code: "1", limits: { cpuMs: 1_000 } }),
      call(3),
      { jsonrpc: "2.0", id: 4, method: "tools/list" },
    ];
    expect(demands.of(mcp, "k", json(batch))).toMatchObject({ runs: 1, cpuMs: 1_000, timeoutMs: 10_000 });
    // Whitespace before the batch is still a batch to the loader's JSON parser.
    expect(demands.of(mcp, "k", Buffer.from(` \n\t${JSON.stringify(batch)}`))).toMatchObject({
      runs: 1,
      cpuMs: 1_000,
      timeoutMs: 10_000,
    });
    expect(demands.of(mcp, "k", json(call(1, { code: "1", limits: { cpuMs: 2_000 } })))).toMatchObject({
      runs: 1,
      cpuMs: 2_000,
      timeoutMs: 10_000,
    });
    expect(demands.of(mcp, "k", json(call(1)))).toMatchObject({ runs: 1, cpuMs: 50, timeoutMs: 10_000 });
    expect(demands.of(execute, "k", Buffer.from("[1,2,3]"))).toMatchObject({ runs: 1, cpuMs: 50, timeoutMs: 10_000 });
    // A byte order mark, which the loader's JSON decoding drops.
    const bom = (text: string) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    expect(demands.of(execute, "k", bom(JSON.stringify({ code: "1", limits: { cpuMs: 3_000 } })))).toMatchObject({
      runs: 1,
      cpuMs: 3_000,
      timeoutMs: 10_000,
    });
    expect(demands.of(mcp, "k", bom(JSON.stringify(batch)))).toMatchObject({
      runs: 1,
      cpuMs: 1_000,
      timeoutMs: 10_000,
    });
  });

  it("weighs a sandbox by the budget the loader reported for it to the same key, the whole share until then", () => {
    const demands = new Demands(budgets);
    const http = routeOf("GET", "/sandboxes/sb_1/http/x");
    const run = routeOf("POST", "/sandboxes/sb_1/execute");
    expect(http.sandbox).toBe("sb_1");
    expect(run.sandbox).toBe("sb_1");
    expect(demands.of(http, "k", undefined)).toEqual({ runs: 1, cpuMs: 4_000, program: "sb_1" });
    demands.learn(http, "k", 200, demands.stamp());
    expect(demands.of(http, "k", undefined)).toEqual({ runs: 1, cpuMs: 200, program: "sb_1" });
    expect(demands.of(run, "k", json({ input: { limits: { cpuMs: 1 } } }))).toEqual({
      runs: 1,
      cpuMs: 200,
      program: "sb_1",
    });
    // Another key's sandbox of that id is not this one.
    expect(demands.of(http, "other", undefined)).toEqual({ runs: 1, cpuMs: 4_000, program: "sb_1" });
    expect(demands.of(http, undefined, undefined)).toEqual({ runs: 1, cpuMs: 4_000, program: "sb_1" });
    expect(routeOf("POST", "/sandboxes").sandbox).toBeUndefined();
  });

  it("forgets a sandbox's budget when it is redefined, under every key, and learns nothing from runs begun before", () => {
    const demands = new Demands(budgets);
    const run = routeOf("POST", "/sandboxes/sb_1/execute");
    const put = routeOf("PUT", "/sandboxes/sb_1");
    expect(put.redefines).toBe("sb_1");
    expect(routeOf("DELETE", "/sandboxes/sb_1").redefines).toBe("sb_1");
    expect(routeOf("GET", "/sandboxes/sb_1").redefines).toBeUndefined();
    expect(run.redefines).toBeUndefined();
    demands.learn(run, "k", 1, demands.stamp());
    demands.learn(run, "k2", 1, demands.stamp());
    expect(demands.of(run, "k", undefined).cpuMs).toBe(1);
    // A run that read the old definition, answered after the new one was stored.
    const before = demands.stamp();
    demands.redefining(put);
    expect(demands.of(run, "k", undefined).cpuMs).toBe(4_000);
    expect(demands.of(run, "k2", undefined).cpuMs).toBe(4_000);
    expect(demands.redefinedSince(run, before)).toBe(true);
    demands.redefining(put);
    demands.learn(run, "k", 1, before);
    expect(demands.of(run, "k", undefined).cpuMs).toBe(4_000);
    // Runs begun after it learn again; another sandbox is not affected.
    demands.learn(run, "k", 2_000, demands.stamp());
    expect(demands.of(run, "k", undefined).cpuMs).toBe(2_000);
    expect(demands.redefinedSince(routeOf("POST", "/sandboxes/sb_2/execute"), before)).toBe(false);
  });
});

describe("keepDotSegments", () => {
  it.each([
    ["/files/ns1/../ns2/x", "/files/ns1/%2E%2E/ns2/x"],
    ["/files/ns1/a/./b", "/files/ns1/a/%2E/b"],
    ["/files/ns1/a/..", "/files/ns1/a/%2E%2E"],
    ["/files/../execute?x=/../y", "/files/%2E%2E/execute?x=/../y"],
  ])("encodes the dot segments of %s, which workerd would resolve", (path, forwarded) => {
    expect(keepDotSegments(path)).toBe(forwarded);
    // Classified as the route the loader will run: /files, never /execute.
    expect(routeOf("POST", keepDotSegments(path)).program).toBe(false);
  });

  it.each(["/files/ns/a.b/..c/...", "/files/ns/%2e%2e/x", "/execute?x=../y", "/"])("leaves %s alone", (path) => {
    expect(keepDotSegments(path)).toBe(path);
  });
});

describe("routeOf", () => {
  // The loader's router (Hono) matches the percent-decoded path, without query or fragment, with
  // or without one trailing slash: each spelling it runs as a program must take a slot here too.
  it.each([
    ["POST", "/execute/"],
    ["POST", "/execute/?x=1"],
    ["POST", "/execute#x"],
    ["POST", "/%65xecute"],
    ["POST", "/sandboxes/sb_1/execute/"],
    ["POST", "/sandboxes/sb_1/%65xecute"],
    ["POST", "/sandboxes/"],
    ["POST", "/%73andboxes"],
    ["PUT", "/sandboxes/sb_1/"],
    ["POST", "/mcp/"],
    ["POST", "/%6Dcp"],
    ["GET", "/sandboxes/sb_1/%68ttp/x"],
  ])("classifies %s %s as the program route the loader runs", (method, path) => {
    expect(routeOf(method, path).program).toBe(true);
  });

  it.each([
    ["POST", "/execute/", "program"],
    ["PUT", "/%66iles/ns/k", "file"],
    ["PUT", "/credentials/c1/", "credential"],
    ["PUT", "/%63redentials/c1", "credential"],
    ["PUT", "/credentials/c1#x", "credential"],
  ])("applies the loader's own body cap to %s %s", (method, path, cap) => {
    expect(routeOf(method, path).loaderBodyCap).toBe(cap);
  });

  it.each(["/healthz/", "/%68ealthz", "/healthz?x"])("takes %s for the health probe", (path) => {
    expect(routeOf("GET", path).health).toBe(true);
  });

  it.each([
    ["POST", "/execute//"],
    ["POST", "/EXECUTE"],
    ["POST", "/%2Fexecute"],
    ["POST", "/execute%2F"],
    ["PUT", "/files/%2E%2E/execute"],
  ])("does not take %s %s, which the loader does not run, for a program", (method, path) => {
    expect(routeOf(method, path).program).toBe(false);
  });
});

describe("originForm", () => {
  it.each([
    ["/execute?x=1", "/execute?x=1"],
    ["http://evil.example/execute", "/execute"],
    ["HTTPS://evil.example:8443/sandboxes/sb_1/http/a/../b?q", "/sandboxes/sb_1/http/a/../b?q"],
    ["http://evil.example", "/"],
    ["http://evil.example?x", "/?x"],
  ])("takes %s as %s, the path the loader runs", (target, path) => {
    expect(originForm(target)).toBe(path);
  });

  it.each(["*", "evil.example:443", ""])("refuses %s, which names no path", (target) => {
    expect(originForm(target)).toBeUndefined();
  });
});
