/**
 * In-process timing for the opt-in speed probes (bundle-speed, child-start): every case runs
 * once per round, in turn, so a busy machine slows them alike and their ratios hold. workerd's
 * clock moves only between I/O events, so each sample sits between two timers.
 */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/**
 * The mean of the middle 80 %: workerd's clock reads whole milliseconds here, so a p50 cannot
 * show a fraction of one, and a plain mean is at the mercy of a few garbage collections.
 */
export const trimmedMean = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const cut = Math.floor(sorted.length / 10);
  return mean(sorted.slice(cut, sorted.length - cut));
};

/** `samples` timings of each case after `warmup` unrecorded rounds; logs each case's p50, mean and trimmed mean. */
export async function measureInterleaved(
  cases: Record<string, (round: number) => Promise<unknown>>,
  { samples, warmup }: { samples: number; warmup: number },
): Promise<Record<string, number[]>> {
  const timings: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 0; round < warmup + samples; round++) {
    for (const [name, run] of Object.entries(cases)) {
      await tick();
      const started = performance.now();
      await run(round);
      await tick();
      if (round >= warmup) timings[name]?.push(performance.now() - started);
    }
  }
  for (const [name, xs] of Object.entries(timings))
    console.log(
      `${name}: p50 ${median(xs)} ms, mean ${mean(xs).toFixed(2)} ms, trimmed mean ${trimmedMean(xs).toFixed(2)} ms`,
    );
  return timings;
}
