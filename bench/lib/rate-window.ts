// Measures a rate over a fixed window after a warm-up: reads a monotonically increasing completion
// counter at the window's edges, with the CPU split of the same window.
import { CpuMeter, type CpuReport } from './cpu-usage.js';
import { sleep } from './sleep.js';

export interface RateResult {
  completed: number;
  seconds: number;
  perSecond: number;
  cpu: CpuReport;
  /** True when the work ran out before the window ended (the rate is then over the time until it did). */
  drained: boolean;
  /** How much `counter` grew over the window (e.g. WAL bytes), when one was given. */
  counterDelta: number | undefined;
}

export interface RateWindowOptions {
  warmupMs: number;
  windowMs: number;
  /** Completions so far. */
  count: () => number;
  /** True once no work is left; the window then ends early. */
  isDrained?: () => boolean;
  /** Processes whose CPU time is reported apart (e.g. the coordinator). */
  pids?: readonly number[];
  /** A monotonically increasing server-side counter read at the window's edges (e.g. the WAL position). */
  counter?: () => Promise<number>;
}

export async function measureRate(options: RateWindowOptions): Promise<RateResult> {
  await sleep(options.warmupMs);
  const counterStart = await options.counter?.();
  const meter = new CpuMeter(options.pids);
  const startCount = options.count();
  const startMs = performance.now();
  const endMs = startMs + options.windowMs;
  let drained = false;
  while (performance.now() < endMs) {
    await sleep(Math.min(50, endMs - performance.now()));
    if (options.isDrained?.()) {
      drained = true;
      break;
    }
  }
  const seconds = (performance.now() - startMs) / 1000;
  const completed = options.count() - startCount;
  const cpu = meter.report();
  const counterEnd = await options.counter?.();
  const counterDelta = counterStart === undefined || counterEnd === undefined ? undefined : counterEnd - counterStart;
  return { completed, seconds, perSecond: completed / seconds, cpu, drained, counterDelta };
}

/** `n` concurrent loops of `cycle(i)` until stopped; a cycle resolving false means "no work": that loop ends. */
export function runLoops(n: number, cycle: (worker: number) => Promise<boolean>): { stop: () => Promise<void>; emptyLoops: () => number } {
  let stopped = false;
  let empty = 0;
  const loops = Array.from({ length: n }, async (_, i) => {
    while (!stopped) {
      if (!(await cycle(i))) {
        empty++;
        return;
      }
    }
  });
  const all = Promise.all(loops);
  // A failing loop rejects stop(); until then, keep the rejection from counting as unhandled.
  all.catch(() => {});
  return {
    stop: async () => {
      stopped = true;
      await all;
    },
    emptyLoops: () => empty,
  };
}
