/**
 * @module supervision/io-turn
 * Lets the runtime read its sockets during a long chain of in-process calls, so that the
 * supervisor's notices (a cancel: supervision/cancel.ts) reach the loader while a run is still
 * doing what they are about.
 *
 * workerd runs every isolate on one event loop, and that loop reads its sockets only when it has
 * no event left to run (KJ polls for I/O when its queue is empty, never between events). A run
 * whose every await stays in the process (a loop of `env.KV.put`: child → ScopedKv → the local KV
 * service, none of it a socket) keeps the queue full: measured, no `epoll_wait` for the 1.3 s of
 * 400 writes, and the supervisor's cancel, sent 150 ms in, accepted only once all 400 were done.
 *
 * A timer fires only after such a poll, so one that has not fired says the loop has not read its
 * sockets since it was armed. An effect arms one when none is pending (kept alive by its call's
 * waitUntil, so that it fires at the loop's next poll however soon the call ends); an effect that
 * finds it armed IO_STARVED_MS ago or more waits for a timer of its own, which empties the queue: the
 * loop polls, takes in whatever was waiting (the cancel), and the timer fires. That wait is ~1 ms
 * (a workerd timer fires about 1 ms after the loop goes idle, however long it has been due;
 * settling a promise across requests does not make the loop poll), so a chain that never lets the
 * runtime read pays 1 ms per IO_STARVED_MS; an effect of a run that does not starve the loop finds
 * the timer fired and waits for nothing. A cancel taken in during the wait stops its runs from
 * their own requests (cancel.ts), a hop that needs the loop to poll once more: the effect waits
 * for that turn too, so that the run it may belong to is stopped before it is performed.
 */
import { IO_STARVED_MS, MAX_IO_TURNS } from "../limits.ts";
import { cancelNotices } from "./cancel.ts";

/** When the timer armed by an effect and not fired yet was armed: the runtime has not polled since. */
let armedAt: number | undefined;
/** cancelNotices() when an effect last waited for a turn. */
let noticesSeen = 0;

/**
 * Returns a promise to wait for when the runtime has not read its sockets for IO_STARVED_MS, or a
 * cancel came in since an effect last waited (its stop needs a turn to reach its run); it settles
 * once the loop has polled. Otherwise undefined.
 */
export function ioTurn(ctx: Pick<ExecutionContext, "waitUntil"> | undefined): Promise<void> | undefined {
  const now = Date.now();
  if (cancelNotices() !== noticesSeen) return turns(MAX_IO_TURNS);
  if (armedAt === undefined) {
    armedAt = now;
    const armed = now;
    const fired = new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => {
      if (armedAt === armed) armedAt = undefined;
    });
    ctx?.waitUntil(fired);
    return undefined;
  }
  if (now - armedAt < IO_STARVED_MS) return undefined;
  return turns(MAX_IO_TURNS);
}

async function turns(left: number): Promise<void> {
  // The loop will have polled once this settles, whether or not the armed timer could fire (its
  // call may have been torn down): the next effect arms another.
  armedAt = undefined;
  noticesSeen = cancelNotices();
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  if (cancelNotices() !== noticesSeen && left > 1) await turns(left - 1);
}
