import { describe, expect, it } from 'vitest';
import { Backoff } from '../../shared/backoff.js';
import { CoordinatorRequestError, CoordinatorRetryableError, CoordinatorUnauthorizedError } from './client-errors.js';
import { withRetry } from './with-retry.js';

const fast = () => new Backoff({ initialMs: 1, maxMs: 2, random: () => 0.5 });
const retryable = () => new CoordinatorRetryableError('POST /x: HTTP 503', { call: 'POST /x', status: 503 });

describe('withRetry', () => {
  it('retries retryable errors until the call succeeds', async () => {
    let tries = 0;
    const result = await withRetry(
      async () => {
        if (++tries < 3) throw retryable();
        return 'done';
      },
      { signal: new AbortController().signal, maxAttempts: 5, backoff: fast() },
    );
    expect(result).toBe('done');
    expect(tries).toBe(3);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let tries = 0;
    const retries: number[] = [];
    await expect(
      withRetry(
        async () => {
          tries++;
          throw retryable();
        },
        { signal: new AbortController().signal, maxAttempts: 3, backoff: fast(), onRetry: (_e, attempt) => retries.push(attempt) },
      ),
    ).rejects.toBeInstanceOf(CoordinatorRetryableError);
    expect(tries).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('never retries unauthorized or rejected requests', async () => {
    for (const error of [new CoordinatorUnauthorizedError({ call: 'GET /a', status: 401 }), new CoordinatorRequestError('bad', { call: 'GET /a', status: 400 })]) {
      let tries = 0;
      await expect(
        withRetry(
          async () => {
            tries++;
            throw error;
          },
          { signal: new AbortController().signal, maxAttempts: 5, backoff: fast() },
        ),
      ).rejects.toBe(error);
      expect(tries).toBe(1);
    }
  });

  it('stops before a try that would start after untilEpochMs', async () => {
    let tries = 0;
    const backoff = new Backoff({ initialMs: 1000, maxMs: 1000, random: () => 0.5 });
    await expect(
      withRetry(
        async () => {
          tries++;
          throw retryable();
        },
        { signal: new AbortController().signal, untilEpochMs: Date.now() + 100, backoff },
      ),
    ).rejects.toBeInstanceOf(CoordinatorRetryableError);
    expect(tries).toBe(1);
  });

  it('rejects with the abort reason when aborted during the wait', async () => {
    const controller = new AbortController();
    const backoff = new Backoff({ initialMs: 60_000, maxMs: 60_000, random: () => 0.9 });
    const reason = new Error('shutting down');
    const retrying = withRetry(
      async () => {
        throw retryable();
      },
      { signal: controller.signal, backoff },
    );
    setTimeout(() => controller.abort(reason), 10);
    await expect(retrying).rejects.toBe(reason);
  });

  it('waits at least the Retry-After the server sent, capped at maxMs', async () => {
    const delays: number[] = [];
    let tries = 0;
    await withRetry(
      async () => {
        if (++tries === 1) throw new CoordinatorRetryableError('429', { call: 'POST /x', status: 429, retryAfterMs: 5000 });
        return true;
      },
      { signal: new AbortController().signal, backoff: new Backoff({ initialMs: 1, maxMs: 20, random: () => 0 }), onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(delays).toEqual([20]);
  });
});
