/**
 * @module python/places
 * One-off Python children alive at once in this loader isolate. A scope past
 * `server.pythonMaxChildren` warm children (sandbox/load.ts) runs each program in a child of its
 * own, ~130 MB until the run ends; unbounded, a handful of such runs at once took the local
 * runtime past the supervisor's memory cap and cut every other tenant's runs short. Past
 * `server.pythonMaxOneOff` of them, a run waits its turn, at most its own timeoutMs, then is
 * refused with 429. One tenant holds at most its share of the places, warm or one-off, so that
 * a tenant that keeps its children busy (or replaces them by failing) leaves the others theirs.
 * A run whose client left while it waited is not started.
 */
import { DwlHttpError } from "../errors.ts";
import type { ServerLimits } from "../limits.ts";
import type { ChildOutcome } from "../sandbox/child-protocol.ts";
import { SlotWaitExpired, slotsOf } from "../slots.ts";
import { currentRequestCancelled } from "../supervision/cancel.ts";

/** The places one tenant may hold of `bound` in all: half, and at least one. */
export function tenantShare(bound: number): number {
  return Math.max(1, Math.floor(bound / 2));
}

/** When each run holding a place reaches its own deadline: the latest its place is free again. */
const holderDeadlines = new Set<{ at: number }>();

/**
 * Runs `work` (a one-off child's creation, boot and run) in a place, waiting at most `timeoutMs`
 * for one; answers without running it when its client left meanwhile. The child must be created
 * inside `work`: one created before (~90 MB at once) would be held by a run the places do not count.
 */
export async function inOneOffPlace(
  server: Pick<ServerLimits, "pythonMaxOneOff">,
  tenant: string,
  timeoutMs: number,
  work: () => Promise<ChildOutcome>,
): Promise<ChildOutcome> {
  const bound = server.pythonMaxOneOff;
  const places = slotsOf("python one-off children", bound > 0 ? bound : Number.POSITIVE_INFINITY);
  const share = bound > 0 ? tenantShare(bound) : Number.POSITIVE_INFINITY;
  const own = slotsOf(`python one-off children of ${tenant}`, share);
  const waitUntil = Date.now() + timeoutMs;
  try {
    return await own.run(
      () =>
        places.run(
          async () => {
            if (currentRequestCancelled()) return CLIENT_LEFT;
            const deadline = { at: Date.now() + timeoutMs };
            holderDeadlines.add(deadline);
            try {
              return await work();
            } finally {
              holderDeadlines.delete(deadline);
            }
          },
          Math.max(1, waitUntil - Date.now()),
        ),
      timeoutMs,
    );
  } catch (err) {
    if (!(err instanceof SlotWaitExpired)) throw err;
    const retryAfter = retryAfterSeconds();
    throw DwlHttpError.of(
      "rate_limited",
      `this run waited its whole timeoutMs (${timeoutMs} ms) for a Python child: ` +
        `${bound} one-off children run at once (DWL_PYTHON_MAX_ONE_OFF; one tenant holds at most ${share}) ` +
        `for tenant scopes past the DWL_PYTHON_MAX_CHILDREN kept started, and all stayed busy; retry in ${retryAfter} s`,
      undefined,
      { "retry-after": String(retryAfter) },
    );
  }
}

/** What a run whose client left before it got a place answers (nobody reads it). */
const CLIENT_LEFT: ChildOutcome = {
  ok: false,
  error: { type: "runtime", name: "ClientGoneError", message: "the client went away before the run started" },
  logs: [],
  logsTruncated: false,
  egress: [],
  runMs: 0,
};

/** Seconds until the first holder's deadline, when a place is free at the latest. */
function retryAfterSeconds(): number {
  let first = Number.POSITIVE_INFINITY;
  for (const { at } of holderDeadlines) first = Math.min(first, at);
  return Number.isFinite(first) ? Math.max(1, Math.ceil((first - Date.now()) / 1000)) : 1;
}
