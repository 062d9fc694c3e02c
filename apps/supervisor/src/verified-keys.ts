/**
 * @module verified-keys
 * Which credentials the runtime has accepted, so that admission can group by them.
 *
 * Admission gives each credential its own slots, but a client can mint a new (invalid)
 * credential for every request: each would get slots of its own, and together they would reach
 * the runtime unbounded (measured: 700 connections sending random keys took a quiet tenant's p95
 * from 5 ms to ~1 s). So every credential the runtime has not accepted yet shares one group, and
 * the first answer other than 401 to an authenticated route gives a credential its own (public
 * routes, `GET /` and the playground, answer 200 to any key). Bounded: past `max` the least
 * recently seen is forgotten, and shares the unverified group again until its next accepted
 * request. The keys the loader's configuration names (DWL_API_KEYS, the dev key) have their own
 * group from the start: sharing one until their first answer, a new tenant's first run would
 * wait behind another new tenant's computing runs.
 */
export const UNVERIFIED_GROUP = "unverified credentials";

export class VerifiedKeys {
  private readonly keys = new Set<string>();
  private readonly configured = new Set<string>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Credentials (hashed) the loader is configured to accept: never forgotten. */
  configure(keys: Iterable<string>): void {
    for (const key of keys) this.configured.add(key);
  }

  /** The admission group of a (hashed) credential; a known one counts as recently seen. */
  groupOf(key: string): string {
    if (this.configured.has(key)) return key;
    if (!this.keys.delete(key)) return UNVERIFIED_GROUP;
    this.keys.add(key);
    return key;
  }

  /**
   * The runtime answered a request carrying `key` with `status`, on a route behind the loader's
   * auth middleware (routes.ts `authenticated`): with an unknown key those answer 401 before
   * anything else, so any other answer means the key was accepted.
   */
  answered(key: string, status: number): void {
    if (status === 401 || this.keys.has(key) || this.configured.has(key)) return;
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value as string);
  }

  get size(): number {
    return this.keys.size;
  }
}
