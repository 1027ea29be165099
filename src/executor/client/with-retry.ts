// Retrying a coordinator call: only CoordinatorRetryableError (network, 5xx, 429) is retried, with
// full-jitter backoff; everything else (unauthorized, a rejected request, an abort) ends at once.
import { Backoff, sleep } from '../../shared/backoff.js';
import { CoordinatorRetryableError } from './client-errors.js';

/** 500 ms, doubling to 10 s: 8 tries span about 18 s on average (35 s at most), a coordinator restart. */
export function defaultRetryBackoff(): Backoff {
  return new Backoff({ initialMs: 500, maxMs: 10_000 });
}

export interface RetryOptions {
  /** Aborting stops the retries; `withRetry` then rejects with `signal.reason`. */
  signal: AbortSignal;
  /** Tries in all, the first included. Default: no limit (until `untilEpochMs` or the signal). */
  maxAttempts?: number;
  /** No try starts after this time (ms since the epoch). Default: no deadline. */
  untilEpochMs?: number;
  /** Default `defaultRetryBackoff()`. */
  backoff?: Backoff;
  /** Called before each wait, e.g. to log; `attempt` is the number of the try that failed (1-based). */
  onRetry?: (error: CoordinatorRetryableError, attempt: number, delayMs: number) => void;
}

/**
 * Runs `fn` until it resolves, retrying CoordinatorRetryableError with backoff. Rejects with the last
 * error when the tries or the time run out, at once with any other error, and with `signal.reason` when
 * the signal aborts. A `Retry-After` the server sent is honoured up to the backoff's `maxMs`.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const backoff = options.backoff ?? defaultRetryBackoff();
  for (let attempt = 0; ; attempt++) {
    if (options.signal.aborted) throw options.signal.reason;
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof CoordinatorRetryableError) || options.signal.aborted) throw err;
      if (options.maxAttempts !== undefined && attempt + 1 >= options.maxAttempts) throw err;
      let delayMs = backoff.nextDelayMs(attempt);
      if (err.retryAfterMs !== undefined) delayMs = Math.max(delayMs, Math.min(err.retryAfterMs, backoff.maxMs));
      if (options.untilEpochMs !== undefined && Date.now() + delayMs > options.untilEpochMs) throw err;
      options.onRetry?.(err, attempt + 1, delayMs);
      if (!(await sleep(delayMs, options.signal))) throw options.signal.reason;
    }
  }
}
