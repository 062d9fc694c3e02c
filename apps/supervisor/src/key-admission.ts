/**
 * @module key-admission
 * Per-API-key admission in front of the runtime, so one flooding client cannot starve another.
 *
 * Under `wrangler dev` every request shares one path: this process → wrangler's proxy → the
 * runtime, each a FIFO. The loader's own per-tenant limits answer 429 only once a request has
 * made it through that path, so 1,000 connections from one tenant put a quiet tenant's request
 * behind all of theirs (measured: its p95 went from ~12 ms to ~4 s; `npm run load`). Here, each
 * key gets at most `concurrency` requests in the runtime and `queue` more waiting in this
 * process; past that, 429 with Retry-After at once, without touching the runtime. And once the
 * loader has answered a key's execution with 429 and Retry-After, further executions of that key
 * get the same answer here until then, instead of costing the runtime a round trip each.
 */
export interface KeyAdmissionOptions {
  /** Requests of one key in the runtime at once. */
  concurrency: number;
  /** Requests of one key waiting here for one of those slots. */
  queue: number;
}

export type Refusal = { refused: "queue_full" | "retry_after"; retryAfterSeconds: number };

interface KeyState {
  running: number;
  waiting: (() => void)[];
  /** Executions are refused until this time (ms epoch): the loader's last Retry-After. */
  blockedUntil: number;
}

export class KeyAdmission {
  private readonly keys = new Map<string, KeyState>();
  readonly limits: KeyAdmissionOptions;

  constructor(limits: KeyAdmissionOptions) {
    this.limits = limits;
  }

  /**
   * A slot for one request of `key`: resolves with its release function once the request may
   * go to the runtime, or is a refusal (answer 429 with its Retry-After).
   */
  enter(key: string, execution: boolean, now = Date.now()): Promise<() => void> | Refusal {
    const state = this.stateOf(key);
    if (execution && state.blockedUntil > now) return { refused: "retry_after", retryAfterSeconds: Math.max(1, Math.ceil((state.blockedUntil - now) / 1000)) };
    if (state.running < this.limits.concurrency) {
      state.running++;
      return Promise.resolve(this.releaser(key, state));
    }
    if (state.waiting.length >= this.limits.queue) return { refused: "queue_full", retryAfterSeconds: 1 };
    return new Promise((resolve) => state.waiting.push(() => resolve(this.releaser(key, state))));
  }

  /** The loader refused one of this key's executions: hold the others back for as long. */
  block(key: string, retryAfterSeconds: number, now = Date.now()): void {
    const state = this.stateOf(key);
    state.blockedUntil = Math.max(state.blockedUntil, now + retryAfterSeconds * 1000);
  }

  /** Keys currently tracked (for tests: idle keys are forgotten). */
  get size(): number {
    return this.keys.size;
  }

  private stateOf(key: string): KeyState {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = { running: 0, waiting: [], blockedUntil: 0 }));
    return state;
  }

  private releaser(key: string, state: KeyState): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = state.waiting.shift();
      // The slot passes straight to the next waiter of the same key.
      if (next) next();
      else if (--state.running === 0 && state.blockedUntil <= Date.now()) this.keys.delete(key);
    };
  }
}
