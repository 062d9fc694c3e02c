/**
 * @module resend-turns
 * Whose request is resent next after a crash. Resends go one at a time (a culprit among them
 * then crashes alone and is judged), so their order decides how long each waits: taken in
 * arrival order, one key's eight 4-second runs held another tenant's 1.5-second run for 35 s.
 * Turns go round robin by admission group, so a tenant waits for at most one resend of each
 * other tenant per resend of its own. A resend that no longer needs to go alone (every crash it
 * was in has had its culprit judged) is excused: it goes at once, beside the others.
 */

interface Waiter {
  /** Called with whether it holds the turn (false: excused). */
  resolve: (holdsTurn: boolean) => void;
  excused: () => boolean;
}

export class ResendTurns {
  /** Waiting resends by group; a group is in the map only while it has some. */
  readonly #waiting = new Map<string, Waiter[]>();
  /** Groups in the order their turns come, each once. */
  #order: string[] = [];
  #busy = false;

  /**
   * Waits for this group's turn, or until `excused` holds ({@link excuse}); the returned function
   * ends the turn (once is enough; a no-op for an excused resend).
   */
  async take(group: string, excused: () => boolean = () => false): Promise<() => void> {
    if (excused()) return () => {};
    if (this.#busy) {
      const holdsTurn = await new Promise<boolean>((resolve) => {
        const waiter = { resolve, excused };
        const queue = this.#waiting.get(group);
        if (queue) queue.push(waiter);
        else {
          this.#waiting.set(group, [waiter]);
          this.#order.push(group);
        }
      });
      if (!holdsTurn) return () => {};
    }
    this.#busy = true;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#next(group);
    };
  }

  /** Lets every waiter that is now excused go at once, without the turn. */
  excuse(): void {
    for (const [group, queue] of this.#waiting) {
      const kept = queue.filter((waiter) => {
        if (!waiter.excused()) return true;
        waiter.resolve(false);
        return false;
      });
      if (kept.length > 0) this.#waiting.set(group, kept);
      else {
        this.#waiting.delete(group);
        this.#order = this.#order.filter((other) => other !== group);
      }
    }
  }

  /** Hands the turn to the oldest waiter of the next group (the one whose turn `ended`, last), or frees it. */
  #next(ended: string): void {
    const at = this.#order.indexOf(ended);
    if (at >= 0) this.#order.push(...this.#order.splice(at, 1));
    const group = this.#order.shift();
    if (group === undefined) {
      this.#busy = false;
      return;
    }
    const queue = this.#waiting.get(group) as Waiter[];
    const waiter = queue.shift() as Waiter;
    if (queue.length > 0) this.#order.push(group);
    else this.#waiting.delete(group);
    waiter.resolve(true);
  }
}
