/**
 * @module verified-keys
 * Which credentials the runtime has accepted, so that admission can group by them.
 *
 * Admission gives each credential its own slots, but a client can mint a new (invalid)
 * credential for every request: each would get slots of its own, and together they would reach
 * the runtime unbounded (measured: 700 connections sending random keys took a quiet tenant's p95
 * from 5 ms to ~1 s). So every credential the runtime has not accepted yet shares one group, and
 * the first answer other than 401 gives a credential its own. Bounded: past `max` the oldest is
 * forgotten, and shares the unverified group again until its next accepted request.
 */
export const UNVERIFIED_GROUP = "unverified credentials";

export class VerifiedKeys {
  private readonly keys = new Set<string>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** The admission group of a (hashed) credential. */
  groupOf(key: string): string {
    return this.keys.has(key) ? key : UNVERIFIED_GROUP;
  }

  /** The runtime answered a request carrying `key` with `status`. */
  answered(key: string, status: number): void {
    if (status === 401 || this.keys.has(key)) return;
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value as string);
  }

  get size(): number {
    return this.keys.size;
  }
}
