/**
 * @module open-connections
 * A bound on connections that may last as long as a program likes (WebSockets, a sandbox's
 * streamed HTTP answers), in all and per admission group: each holds two sockets here (file
 * descriptors, of which the process has a fixed number) and memory in the runtime, and holds
 * no admission slot, so without a bound one tenant's open connections could use up everyone's.
 */

export interface ConnectionBound {
  /** How many may be open at once, in all and per group. */
  max: number;
  perGroup: number;
  /** What they are, for the refusal ("WebSocket connections"). */
  what: string;
  /** The settings that set `max` and `perGroup`, named in the refusal. */
  maxSetting: string;
  perGroupSetting: string;
}

/** Why a connection may not open: the server's bound is reached, or its key's. */
export interface OpenRefusal {
  whose: "server" | "key";
  why: string;
}

/** One open connection's place: `moveTo` when its group changes, `close` once (more is a no-op). */
export interface OpenPlace {
  moveTo(group: string): void;
  close(): void;
}

export class OpenConnections {
  private open = 0;
  private readonly byGroup = new Map<string, number>();
  private readonly bound: ConnectionBound;

  constructor(bound: ConnectionBound) {
    this.bound = bound;
  }

  /** Why another one of `group` may not open now, if it may not. */
  refusal(group: string): OpenRefusal | undefined {
    const { max, perGroup, what, maxSetting, perGroupSetting } = this.bound;
    if (this.open >= max) return { whose: "server", why: `this server already relays ${max} ${what} (${maxSetting})` };
    if ((this.byGroup.get(group) ?? 0) >= perGroup)
      return { whose: "key", why: `this API key already has ${perGroup} ${what} open (${perGroupSetting})` };
    return undefined;
  }

  /** Takes a place in `group`, whether or not `refusal` allows it (the caller asked first). */
  take(group: string): OpenPlace {
    this.open++;
    this.count(group, 1);
    let current: string | undefined = group;
    return {
      moveTo: (next) => {
        if (current === undefined || next === current) return;
        this.count(current, -1);
        this.count(next, 1);
        current = next;
      },
      close: () => {
        if (current === undefined) return;
        this.open--;
        this.count(current, -1);
        current = undefined;
      },
    };
  }

  private count(group: string, by: 1 | -1): void {
    const count = (this.byGroup.get(group) ?? 0) + by;
    if (count > 0) this.byGroup.set(group, count);
    else this.byGroup.delete(group);
  }
}
