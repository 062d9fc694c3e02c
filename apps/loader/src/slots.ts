/**
 * @module slots
 * A counting semaphore for work whose cost adds up across concurrent requests of one loader
 * isolate (tarball unpacking, Python starts, Python children alive at once). A freed slot goes
 * straight to the oldest waiter, so a newcomer never overtakes the queue.
 */

/** A wait for a slot that outlasted its bound. */
export class SlotWaitExpired extends Error {
  constructor(readonly waitedMs: number) {
    super(`no slot was free within ${waitedMs} ms`);
    this.name = "SlotWaitExpired";
  }
}

export class Slots {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  /** `size`: slots in all; `Infinity` makes `run` never wait. */
  constructor(private readonly size: number) {}

  /** Runs `fn` in a slot, waiting at most `maxWaitMs` for one (then throws {@link SlotWaitExpired}). */
  async run<T>(fn: () => Promise<T>, maxWaitMs = Number.POSITIVE_INFINITY): Promise<T> {
    await this.#take(maxWaitMs);
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #take(maxWaitMs: number): Promise<void> {
    if (this.#active < this.size) {
      this.#active += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grant = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      if (Number.isFinite(maxWaitMs)) {
        timer = setTimeout(() => {
          const at = this.#waiting.indexOf(grant);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(new SlotWaitExpired(maxWaitMs));
        }, maxWaitMs);
      }
      this.#waiting.push(grant);
    });
  }

  /** Hands the slot to the oldest waiter, or frees it. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active -= 1;
  }
}

/** Slots by what they bound and their size (one setting per loader isolate, read per request). */
const named = new Map<string, Slots>();

/** The one Slots of `size` for `what` (e.g. "python boots"), made on first use. */
export function slotsOf(what: string, size: number): Slots {
  const key = `${what}|${size}`;
  let slots = named.get(key);
  if (!slots) named.set(key, (slots = new Slots(size)));
  return slots;
}
