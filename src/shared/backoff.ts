// Exponential backoff with full jitter, and an abortable sleep: how the executor waits between retries
// of a coordinator call (STYLE.md, Errors: "retryable: back off with jitter").

/** Raw options of a Backoff. */
export interface BackoffOptions {
  /** The ceiling of the first delay (attempt 0), in ms. Must be > 0. */
  initialMs: number;
  /** No delay is ever longer than this, in ms. Must be >= initialMs. */
  maxMs: number;
  /** Growth of the ceiling per attempt. Default 2. */
  multiplier?: number;
  /** A uniform random number in [0, 1); injectable so tests are deterministic. Default Math.random. */
  random?: () => number;
}

/**
 * "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay is uniform in
 * [0, min(maxMs, initialMs × multiplier^attempt)). Spreading retries over the whole window keeps a
 * fleet of executors from hammering a coordinator that comes back in lockstep.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions) {
    if (!(options.initialMs > 0)) throw new Error(`Backoff: initialMs must be > 0, got ${options.initialMs}`);
    if (!(options.maxMs >= options.initialMs)) throw new Error(`Backoff: maxMs (${options.maxMs}) must be >= initialMs (${options.initialMs})`);
    const multiplier = options.multiplier ?? 2;
    if (!(multiplier >= 1)) throw new Error(`Backoff: multiplier must be >= 1, got ${multiplier}`);
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
    this.multiplier = multiplier;
    this.random = options.random ?? Math.random;
  }

  /** The ceiling of the delay before retry number `attempt` (0-based), in ms, before jitter. */
  ceilingMs(attempt: number): number {
    const n = Math.max(0, Math.floor(attempt));
    // multiplier^n overflows to Infinity for large n; min() then gives maxMs, which is what we want.
    return Math.min(this.maxMs, this.initialMs * this.multiplier ** n);
  }

  /** The delay before retry number `attempt` (0-based), in whole ms, uniform in [0, ceilingMs(attempt)). */
  nextDelayMs(attempt: number): number {
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.floor(r * this.ceilingMs(attempt));
  }
}

/**
 * Waits `ms`, or less when `signal` aborts. Never rejects: resolves `true` when the whole time passed
 * and `false` when the signal aborted (at once if it already had), so a loop reads
 * `while (await sleep(intervalMs, signal)) { … }`.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
