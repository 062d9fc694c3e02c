/**
 * @module admission
 * Who runs next inside the runtime: a bounded number of program runs per API key and in all,
 * the rest waiting here, served round robin by key.
 *
 * Under workerd every run shares one thread, so a quiet tenant's run waits for every run the
 * runtime already holds, and a computing run holds the thread until it ends. Keeping each key's
 * runs there few (`perKey`), their CPU budgets small together (`keyCpuMs`: one key's runs may
 * keep the thread from others for about that long at most) and the thread time they are expected
 * to take small together (`keyThreadMs`, from what the key's recent runs took as the loader
 * measured it: a flood of runs computing 20 ms each held another key's trivial runs ~300 ms), and
 * handing freed slots to the waiting keys in turn, keeps one key's flood from slowing another. And a key yields: once one of its
 * runs ends, its next run waits for the runs of other keys that began while that one ran (for at
 * most as long as it ran). Such a run, begun while the thread was held, still has its steps to
 * take, and each gives the thread back: the key's next computing run would otherwise take it
 * between two of them, and a run with several steps would wait behind all of the key's runs
 * after all.
 *
 * A burst is queued, not refused: a request is refused only when its expected wait is longer
 * than its own timeout or `maxWaitMs` (it would time out anyway), or when the queue's count or
 * memory bound is reached; the refusal says how long the wait is expected to be.
 */
export interface AdmissionLimits {
  perKey: number;
  total: number;
  /** CPU budget (`limits.cpuMs`) of one key's runs inside the runtime together; a run asking more runs alone. */
  keyCpuMs: number;
  /**
   * Thread time one key's runs inside the runtime are expected to take together, ms, each
   * expected to take what the recent runs of its program took on average (as the loader reported
   * them; the key's, until its program has some); a key whose runs take more runs one at a time.
   */
  keyThreadMs: number;
  queueMax: number;
  queueBodyBytes: number;
  maxWaitMs: number;
}

export type Refusal = {
  /** `waited`: it was queued, and waited its longest wait without a slot (a prediction can be wrong). */
  refused: "expected_wait" | "waited" | "queue_full" | "queue_memory";
  retryAfterSeconds: number;
  expectedWaitMs: number;
  /** The longest the request could wait: its own timeout, at most `maxWaitMs`. */
  maxWaitMs: number;
};

/** What a request takes inside the runtime: the runs it starts and their CPU budgets together, ms. */
export interface Demand {
  runs: number;
  cpuMs: number;
  /**
   * Its runs' wall-clock timeout (`limits.timeoutMs` as the loader gives it), when known: it
   * waits no longer than that for a slot (nor longer than `maxWaitMs`).
   */
  timeoutMs?: number;
  /**
   * What it runs, when it can be told apart from the key's other requests (a stored sandbox's
   * id; a hash of a program request's body): its thread time is predicted from the earlier runs
   * of the same, and from all the key's runs until there are some.
   */
  program?: string;
  /**
   * It defines a program rather than runs one (a sandbox's creation, which bundles it): its
   * thread time says nothing of the key's runs, so it is predicted and kept apart from theirs.
   */
  definition?: boolean;
}

export interface Ticket {
  /** Whether it got its slot at once (`admitted` is then already resolved). */
  immediate: boolean;
  /** Resolves once the request may go to the runtime. */
  admitted: Promise<void>;
  /** Resolves if it waited its longest wait without a slot: it has left the queue, refused. */
  outwaited: Promise<Refusal>;
  /**
   * Gives the slot back (or leaves the queue), with the thread time the request's work took if
   * the loader reported it; safe to call more than once.
   */
  release: (threadMs?: number) => void;
}

/** A request inside the runtime: whose, its place in the order of admission, and since when (ms). */
interface Run {
  key: string;
  seq: number;
  at: number;
  /** The thread time it was expected to take when admitted (ms), counted in its key's until it ends. */
  threadMs: number;
  /** The most runs its key had inside the runtime while it was there, itself included. */
  beside: number;
}

/** What one request weighs in its key's share: slots, CPU budget, and whose thread times predict its own. */
interface Weight {
  /** Slots it takes: the runs one request starts (an MCP batch can start several). */
  slots: number;
  cpuMs: number;
  /** The thread times of the key's runs, and of its runs of this program (Demand.program). */
  keyThread: ThreadTimes;
  programThread: ThreadTimes | undefined;
  /** How long its program's runs (the key's, when it names none) held their slots: its wait is predicted from them. */
  runs: RunTimes;
}

interface Waiter {
  key: string;
  /** Its run, once it is admitted. */
  run: Run | undefined;
  weight: Weight;
  bodyBytes: number;
  admit: () => void;
  /** Whether it still waits (a client that left is skipped). */
  waiting: boolean;
  /** When it began to wait (ms): past its `maxWaitMs` the sweep refuses it. */
  since: number;
  /** The longest it may wait (ms): its own timeout, at most `maxWaitMs`. */
  maxWaitMs: number;
  /** Ends its wait with a refusal. */
  refuseLate: (refusal: Refusal) => void;
}

interface KeyState {
  running: number;
  /** CPU budgets of its runs inside the runtime, together. */
  runningCpuMs: number;
  /** The thread time its runs inside the runtime were expected to take, together. */
  runningThreadMs: number;
  /** Its runs inside the runtime, oldest first. */
  inRuntime: Set<Run>;
  queue: Waiter[];
  /** How long its runs take (kept while the key is idle too). */
  runs: RunTimes;
  /** While it yields: the other keys' runs it waits for, and the timer that ends the wait. */
  yieldingTo: Set<Run> | undefined;
  yieldTimer: NodeJS.Timeout | undefined;
}

/**
 * Runs measured before a wait is predicted from them. Their median is the prediction: a key's
 * first run in a burst is slow (its program is bundled and its isolate started), and one such
 * run must not make the whole burst look long.
 */
const RUN_SAMPLES = 31;
/** How often waiting requests are checked against their longest wait, at most (ms). */
const SWEEP_MS = 250;
/** Keys (and keys' programs) whose run times and thread times are kept (the most recently used; ~300 bytes each). */
const RUN_TIMES_KEPT = 10_000;
/**
 * Runs whose thread time is averaged: few, so that a key whose runs start computing is held back
 * after a handful of them. An average, not a median or another quantile: a key that sends three
 * runs computing 40 ms among five trivial ones kept a median near 0 and another key's p95 at
 * 318 ms; it takes the thread for what its runs take together.
 */
const THREAD_SAMPLES = 8;

/** How long a key's latest runs held their slots, ms. */
interface RunTimes {
  samples: number[];
  /** With each, its key's runs inside the runtime while it ran (Run.beside). */
  beside: number[];
  /** Their median as the key runs now (`running`), computed once per new run or change of it. */
  median: { running: number; ms: number } | undefined;
}

/** How long the latest runs of a key (or of one of its programs) held the runtime's thread, ms. */
interface ThreadTimes {
  samples: number[];
  /** Their average (0 before any was reported), computed once per new sample. */
  mean: number;
}

/** A refusal whose `Retry-After` is the expected wait, in whole seconds (at least 1). */
const refusal = (refused: Refusal["refused"], expectedWaitMs: number, maxWaitMs: number): Refusal => ({
  refused,
  expectedWaitMs,
  maxWaitMs,
  retryAfterSeconds: Math.max(1, Math.ceil(expectedWaitMs / 1000)),
});

/** The `outwaited` of a request admitted at once. */
const NEVER = new Promise<Refusal>(() => {});

export class Admission {
  private readonly keys = new Map<string, KeyState>();
  /** Each key's run times, kept past its idle moments: a key's next burst is predicted at once. */
  private readonly runTimes = new Map<string, RunTimes>();
  /** Thread times by key and program (`Demand.program`), kept the same way. */
  private readonly threadTimes = new Map<string, ThreadTimes>();
  /** Keys with waiters, in the order they get the next free slot. */
  private readonly turn: string[] = [];
  private running = 0;
  /** Every run inside the runtime (a request of several runs is one). */
  private readonly inFlight = new Set<Run>();
  private admittedRuns = 0;
  /** Keys yielding now. */
  private readonly yielding = new Set<string>();
  private waiting = 0;
  /** Refuses requests that waited too long, while any wait. */
  private sweep: NodeJS.Timeout | undefined;
  private waitingBodyBytes = 0;
  readonly limits: AdmissionLimits;

  constructor(limits: AdmissionLimits) {
    this.limits = limits;
  }

  /**
   * A place for one request of `key` that takes `demand` (at most `perKey` runs are counted, so
   * that any request can be admitted), holding `bodyBytes` while it waits.
   */
  enter(key: string, bodyBytes = 0, demand: Demand = { runs: 1, cpuMs: 0 }): Ticket | Refusal {
    const state = this.stateOf(key);
    const weight: Weight = {
      slots: Math.max(1, Math.min(demand.runs, this.limits.perKey, this.limits.total)),
      cpuMs: Math.max(0, demand.cpuMs),
      keyThread: this.threadTimesOf(demand.definition ? `${key}\n\0definitions` : `${key}\n`),
      programThread: demand.program === undefined ? undefined : this.threadTimesOf(`${key}\n${demand.program}`),
      runs: demand.program === undefined ? state.runs : this.runTimesOf(`${key}\n${demand.program}`),
    };
    if (this.fits(state, weight) && state.queue.length === 0) {
      const run = this.start(key, state, weight);
      return this.ticket(key, state, weight, { admitted: Promise.resolve(), outwaited: NEVER }, run);
    }
    const expectedWaitMs = this.expectedWaitMs(state, weight.runs);
    const maxWaitMs = Math.min(this.limits.maxWaitMs, demand.timeoutMs ?? Number.POSITIVE_INFINITY);
    const refuse = (refused: Refusal["refused"]): Refusal => refusal(refused, expectedWaitMs ?? 0, maxWaitMs);
    if (expectedWaitMs !== undefined && expectedWaitMs > maxWaitMs) return refuse("expected_wait");
    if (this.waiting >= this.limits.queueMax) return refuse("queue_full");
    if (this.waitingBodyBytes + bodyBytes > this.limits.queueBodyBytes) return refuse("queue_memory");
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    let refuseLate!: (refusal: Refusal) => void;
    const outwaited = new Promise<Refusal>((resolve) => (refuseLate = resolve));
    const since = Date.now();
    const waiter: Waiter = {
      key,
      run: undefined,
      weight,
      bodyBytes,
      admit,
      waiting: true,
      since,
      maxWaitMs,
      refuseLate,
    };
    state.queue.push(waiter);
    if (!this.turn.includes(key)) this.turn.push(key);
    this.waiting++;
    this.waitingBodyBytes += bodyBytes;
    this.sweepWhileWaiting();
    return this.ticket(key, state, weight, { admitted, outwaited }, waiter);
  }

  /** Requests waiting, all keys (for tests and logs). */
  get queued(): number {
    return this.waiting;
  }

  /** Keys currently tracked (idle keys are forgotten). */
  get size(): number {
    return this.keys.size;
  }

  /**
   * The requests ahead and this one, as many at a time as the key runs now, each for a measured
   * run's time: of the same program (`runs`), since a key's runs of another program say nothing
   * of these (a key whose last runs waited 300 ms had its next burst of trivial runs refused, a
   * 46 s wait predicted for a burst that took 1.6 s); undefined until enough runs were measured
   * (until then only the count and memory bounds refuse, and a request's own longest wait). Runs,
   * not the gaps between slots coming free: runs of one burst end together, and a median gap of
   * ~0 predicted no wait at all (200 runs of 5 s, 16 at a time: 120 answered after more than
   * 30 s, none refused).
   */
  private expectedWaitMs(
    state: KeyState,
    runs: RunTimes,
    position = state.queue.length,
    now = Date.now(),
  ): number | undefined {
    if (runs.samples.length < RUN_SAMPLES) return undefined;
    const running = Math.max(1, state.running);
    const median = medianAt(runs, running);
    // The first slot comes free when the oldest run inside ends: what it has run already is not
    // waited again (counted whole, a run of 2 s with a 3 s timeout was refused after 1 s in line,
    // when its turn came at 2 s).
    const oldest = state.inRuntime.values().next().value;
    const begun = oldest === undefined ? 0 : Math.min(median, Math.max(0, now - oldest.at));
    return Math.ceil((position + 1) / running) * median - begun;
  }

  /**
   * Refuses, every SWEEP_MS at most, the requests that have waited their longest wait, and those
   * whose wait so far and expected wait together pass it: queued before the key's runs were
   * measured (a first burst), they are refused once they are, not when they have waited it out.
   * One timer while anything waits, not one per waiter (one per waiter cost ~10 % of the
   * throughput at c=100).
   */
  private sweepWhileWaiting(): void {
    if (this.sweep || this.waiting === 0) return;
    const period = Math.max(1, Math.min(SWEEP_MS, Math.floor(this.limits.maxWaitMs / 10)));
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [key, state] of [...this.keys]) {
        // From the back: refusing one moves only those behind it, already swept.
        for (let at = state.queue.length - 1; at >= 0; at--) {
          const waiter = state.queue[at] as Waiter;
          const waited = now - waiter.since;
          const expected = this.expectedWaitMs(state, waiter.weight.runs, at, now);
          const refused =
            waited >= waiter.maxWaitMs
              ? "waited"
              : expected !== undefined && waited + expected > waiter.maxWaitMs
                ? "expected_wait"
                : undefined;
          if (refused === undefined) continue;
          this.dropWaiter(key, state, waiter, at);
          waiter.refuseLate(refusal(refused, expected ?? waiter.maxWaitMs, waiter.maxWaitMs));
        }
      }
      if (this.waiting === 0) {
        clearInterval(this.sweep);
        this.sweep = undefined;
      }
    }, period);
    this.sweep.unref();
  }

  /** Takes `waiter` (at `at` in `key`'s queue) out of the queue: it never held a slot. */
  private dropWaiter(key: string, state: KeyState, waiter: Waiter, at = state.queue.indexOf(waiter)): void {
    waiter.waiting = false;
    this.leaveQueue(waiter);
    state.queue.splice(at, 1);
    this.forgetIfIdle(key, state);
  }

  private ticket(
    key: string,
    state: KeyState,
    weight: Weight,
    { admitted, outwaited }: Pick<Ticket, "admitted" | "outwaited">,
    admittedAs: Waiter | Run,
  ): Ticket {
    let released = false;
    const waiter = "waiting" in admittedAs ? admittedAs : undefined;
    return {
      immediate: waiter === undefined,
      admitted,
      outwaited,
      release: (threadMs?: number) => {
        if (released) return;
        released = true;
        if (waiter?.waiting) {
          // Left before its turn: it never held a slot.
          this.dropWaiter(key, state, waiter);
          return;
        }
        // Refused after a long wait: it never held a slot either.
        if (waiter && waiter.run === undefined) return;
        const run = (waiter ? waiter.run : admittedAs) as Run;
        const heldMs = Date.now() - run.at;
        recordRun(state.runs, heldMs, run.beside);
        if (weight.runs !== state.runs) recordRun(weight.runs, heldMs, run.beside);
        recordThread(weight.keyThread, threadMs);
        if (weight.programThread) recordThread(weight.programThread, threadMs);
        state.running -= weight.slots;
        state.runningCpuMs -= weight.cpuMs;
        state.runningThreadMs -= run.threadMs;
        this.running -= weight.slots;
        this.inFlight.delete(run);
        state.inRuntime.delete(run);
        this.endYieldsTo(run);
        if (state.queue.length > 0) this.yieldAfter(key, state, run);
        this.next();
        this.forgetIfIdle(key, state);
      },
    };
  }

  /** Whether a request fits beside what runs now; a key running nothing fits any CPU budget and thread time. */
  private fits(state: KeyState, weight: Weight): boolean {
    const { slots, cpuMs } = weight;
    return (
      state.yieldingTo === undefined &&
      state.running + slots <= this.limits.perKey &&
      this.running + slots <= this.limits.total &&
      (state.running === 0 ||
        (state.runningCpuMs + cpuMs <= this.limits.keyCpuMs &&
          state.runningThreadMs + predictedThreadMs(weight) <= this.limits.keyThreadMs))
    );
  }

  /** Admits a request: its weight counts in its key's until it ends (the thread time as predicted now). */
  private start(key: string, state: KeyState, weight: Weight): Run {
    const { slots, cpuMs } = weight;
    const threadMs = predictedThreadMs(weight);
    state.running += slots;
    state.runningCpuMs += cpuMs;
    state.runningThreadMs += threadMs;
    this.running += slots;
    const run = { key, seq: this.admittedRuns++, at: Date.now(), threadMs, beside: state.running };
    this.inFlight.add(run);
    state.inRuntime.add(run);
    for (const other of state.inRuntime) other.beside = Math.max(other.beside, state.running);
    return run;
  }

  /** `key`'s `run` ended with more of its requests waiting: they wait for the runs begun meanwhile. */
  private yieldAfter(key: string, state: KeyState, run: Run): void {
    if (state.yieldingTo) return;
    let begunSince: Set<Run> | undefined;
    for (const other of this.inFlight) {
      if (other.key !== key && other.seq > run.seq) (begunSince ??= new Set()).add(other);
    }
    if (!begunSince) return;
    state.yieldingTo = begunSince;
    this.yielding.add(key);
    state.yieldTimer = setTimeout(() => {
      this.endYield(key, state);
      this.next();
    }, Date.now() - run.at);
    state.yieldTimer.unref();
  }

  /** `run` ended: keys yielding to it wait for it no longer. */
  private endYieldsTo(run: Run): void {
    for (const key of this.yielding) {
      const state = this.keys.get(key);
      state?.yieldingTo?.delete(run);
      if (!state || state.yieldingTo?.size === 0) this.endYield(key, state);
    }
  }

  private endYield(key: string, state: KeyState | undefined): void {
    this.yielding.delete(key);
    if (!state) return;
    clearTimeout(state.yieldTimer);
    state.yieldingTo = undefined;
    state.yieldTimer = undefined;
  }

  private leaveQueue(waiter: Waiter): void {
    this.waiting--;
    this.waitingBodyBytes -= waiter.bodyBytes;
  }

  /** Hands free slots to waiting keys in turn, one request each per pass. */
  private next(): void {
    let skipped = 0;
    while (this.running < this.limits.total && this.turn.length > skipped) {
      const key = this.turn.shift() as string;
      const state = this.keys.get(key);
      if (!state || state.queue.length === 0) continue;
      const head = state.queue[0] as Waiter;
      if (!this.fits(state, head.weight)) {
        this.turn.push(key);
        skipped++;
        continue;
      }
      const waiter = state.queue.shift() as Waiter;
      waiter.waiting = false;
      this.leaveQueue(waiter);
      waiter.run = this.start(key, state, waiter.weight);
      waiter.admit();
      if (state.queue.length > 0 && !this.turn.includes(key)) this.turn.push(key);
      skipped = 0;
    }
  }

  private stateOf(key: string): KeyState {
    let state = this.keys.get(key);
    if (!state)
      this.keys.set(
        key,
        (state = {
          running: 0,
          runningCpuMs: 0,
          runningThreadMs: 0,
          inRuntime: new Set(),
          yieldingTo: undefined,
          yieldTimer: undefined,
          queue: [],
          runs: this.runTimesOf(key),
        }),
      );
    return state;
  }

  /** `key`'s run times, made the most recently used (the least recently used forgotten past RUN_TIMES_KEPT). */
  private runTimesOf(key: string): RunTimes {
    return mostRecentlyUsed(this.runTimes, key, () => ({ samples: [], beside: [], median: undefined }));
  }

  /** The thread times of `name` (a key and a program), kept as run times are. */
  private threadTimesOf(name: string): ThreadTimes {
    return mostRecentlyUsed(this.threadTimes, name, () => ({ samples: [], mean: 0 }));
  }

  private forgetIfIdle(key: string, state: KeyState): void {
    if (state.running !== 0 || state.queue.length !== 0) return;
    this.endYield(key, state);
    this.keys.delete(key);
  }
}

/** `map`'s entry for `name` (made by `fresh` if absent), now the most recently used; the least recently used past RUN_TIMES_KEPT is forgotten. */
function mostRecentlyUsed<T>(map: Map<string, T>, name: string, fresh: () => T): T {
  const entry = map.get(name) ?? fresh();
  map.delete(name);
  map.set(name, entry);
  if (map.size > RUN_TIMES_KEPT) map.delete(map.keys().next().value as string);
  return entry;
}

/** Records a run that held its slot `heldMs`. */
function recordRun(runs: RunTimes, heldMs: number, beside: number): void {
  runs.samples.push(heldMs);
  runs.beside.push(beside);
  if (runs.samples.length > RUN_SAMPLES) {
    runs.samples.shift();
    runs.beside.shift();
  }
  runs.median = undefined;
}

/**
 * The median time a run holds its slot while its key runs `running` at once. A run that shared the
 * thread with more of its key's runs than that held its slot longer than it will now, by at most
 * that many times (for computing runs; a waiting one takes as long either way, and such a key is
 * not held to fewer runs than it ran): its time counts scaled down. The first runs of a Python
 * burst, 16 at once behind Pyodide's start, held their slots ~1.2 s; held to one at a time by
 * their thread time, the next ones' waits were predicted at 19 s, past their 10 s timeout, and
 * 95 of 408 were refused where each took ~60 ms.
 */
function medianAt(runs: RunTimes, running: number): number {
  if (runs.median?.running === running) return runs.median.ms;
  const scaled = runs.samples.map((ms, i) => ms * Math.min(1, running / Math.max(1, runs.beside[i] as number)));
  scaled.sort((a, b) => a - b);
  const ms = scaled[scaled.length >> 1] as number;
  runs.median = { running, ms };
  return ms;
}

/** Records the runtime's thread time of a run, `threadMs`, if the loader reported it. */
function recordThread(thread: ThreadTimes, threadMs: number | undefined): void {
  if (threadMs === undefined || !Number.isFinite(threadMs) || threadMs < 0) return;
  thread.samples.push(threadMs);
  if (thread.samples.length > THREAD_SAMPLES) thread.samples.shift();
  let sum = 0;
  for (const sample of thread.samples) sum += sample;
  thread.mean = sum / thread.samples.length;
}

/** The thread time a request is expected to take: its program's runs' average, or its key's until there are some. */
function predictedThreadMs({ slots, keyThread, programThread }: Weight): number {
  const from = programThread && programThread.samples.length > 0 ? programThread : keyThread;
  return from.mean * slots;
}
