/**
 * @module python/places
 * One-off Python children alive at once in this loader isolate. A scope past
 * `server.pythonMaxChildren` warm children (sandbox/load.ts) runs each program in a child of its
 * own, ~130 MB until the run ends; unbounded, a handful of such runs at once took the local
 * runtime past the supervisor's memory cap and cut every other tenant's runs short. Past
 * `server.pythonMaxOneOff` of them, a run waits its turn, at most its own timeoutMs, then is
 * refused with 429.
 */
import { DwlHttpError } from "../errors.ts";
import { SlotWaitExpired, Slots } from "../slots.ts";
import type { ServerLimits } from "../limits.ts";

/** Places by the bound they were made for (one setting per loader isolate); 0 = no bound. */
const placesByBound = new Map<number, Slots>();
/** When each run holding a place reaches its own deadline: the latest its place is free again. */
const holderDeadlines = new Set<{ at: number }>();

/** Runs `work` (a one-off child's boot and run) in a place, waiting at most `timeoutMs` for one. */
export async function inOneOffPlace<T>(
  server: Pick<ServerLimits, "pythonMaxOneOff">,
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  const bound = server.pythonMaxOneOff;
  let places = placesByBound.get(bound);
  if (!places) placesByBound.set(bound, (places = new Slots(bound > 0 ? bound : Number.POSITIVE_INFINITY)));
  try {
    return await places.run(async () => {
      const deadline = { at: Date.now() + timeoutMs };
      holderDeadlines.add(deadline);
      try {
        return await work();
      } finally {
        holderDeadlines.delete(deadline);
      }
    }, timeoutMs);
  } catch (err) {
    if (!(err instanceof SlotWaitExpired)) throw err;
    const retryAfter = retryAfterSeconds();
    throw DwlHttpError.of(
      "rate_limited",
      `this run waited its whole timeoutMs (${timeoutMs} ms) for a Python child: ` +
        `${bound} one-off children run at once (DWL_PYTHON_MAX_ONE_OFF) for tenant scopes past the ` +
        `DWL_PYTHON_MAX_CHILDREN kept started, and all stayed busy; retry in ${retryAfter} s`,
      undefined,
      { "retry-after": String(retryAfter) },
    );
  }
}

/** Seconds until the first holder's deadline, when a place is free at the latest. */
function retryAfterSeconds(): number {
  let first = Number.POSITIVE_INFINITY;
  for (const { at } of holderDeadlines) first = Math.min(first, at);
  return Number.isFinite(first) ? Math.max(1, Math.ceil((first - Date.now()) / 1000)) : 1;
}
