// The warm pool's bookkeeping with stand-in guests (numbers): no QEMU is needed to see what it keeps, hands
// out, retries, empties and destroys. The pool of real guests is tested in vm-runtime.test.ts.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../shared/logger.js';
import { WarmPool, type WarmPoolOptions } from './warm-pool.js';

/** Waits (polling) until `check` holds; fails after a generous bound, never on timing alone. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never: ${what}`);
}

function pool(extra: Partial<WarmPoolOptions<number>> = {}) {
  let next = 0;
  const created: number[] = [];
  const destroyed: number[] = [];
  const p = new WarmPool<number>({
    size: 2,
    idleTimeoutMs: 0,
    create: () => {
      const guest = ++next;
      created.push(guest);
      return Promise.resolve(guest);
    },
    destroy: (guest) => {
      destroyed.push(guest);
      return Promise.resolve();
    },
    logger: silentLogger,
    ...extra,
  });
  return { p, created, destroyed };
}

describe('WarmPool', () => {
  it('keeps its size ready, hands each guest out once, and refills behind a take', async () => {
    const { p, created } = pool();
    p.start();
    await eventually(() => p.readyCount === 2, 'two guests ready');
    expect(p.state).toBe('full');
    const first = p.take();
    const second = p.take();
    expect([first, second]).toEqual([1, 2]);
    await eventually(() => p.readyCount === 2, 'refilled');
    expect(created).toEqual([1, 2, 3, 4]);
    expect(p.take()).toBe(3);
    await p.stop();
  });

  it('answers undefined when no guest is ready yet, and never with size 0', async () => {
    let release: (() => void) | undefined;
    // Each create waits to be released; the pool's stop aborts the ones still waiting.
    const slow = pool({
      size: 1,
      create: (signal) =>
        new Promise<number>((resolve, reject) => {
          release = () => resolve(7);
          signal.addEventListener('abort', () => reject(signal.reason as Error));
        }),
    });
    slow.p.start();
    expect(slow.p.take()).toBeUndefined();
    release!();
    await eventually(() => slow.p.readyCount === 1, 'the slow guest ready');
    expect(slow.p.take()).toBe(7);
    await slow.p.stop();

    const none = pool({ size: 0 });
    none.p.start();
    expect(none.p.take()).toBeUndefined();
    expect(none.created).toEqual([]);
  });

  it('destroys the ready guests and the ones being made when it stops, and stays stopped', async () => {
    let release: (() => void) | undefined;
    let calls = 0;
    const { p, destroyed } = pool({
      create: () => {
        calls++;
        if (calls === 2) return new Promise<number>((resolve) => (release = () => resolve(2)));
        return Promise.resolve(calls);
      },
    });
    p.start();
    await eventually(() => p.readyCount === 1 && release !== undefined, 'one ready, one being made');
    const stopped = p.stop();
    expect(p.stop()).toBe(stopped);
    release!();
    await stopped;
    expect(destroyed.sort()).toEqual([1, 2]);
    expect(p.take()).toBeUndefined();
    expect(p.state).toBe('stopped');
  });

  it('retries a failing create after a delay and fills once it works again', async () => {
    let failures = 2;
    const errors: unknown[] = [];
    const { p } = pool({
      size: 1,
      retryDelayMs: 5,
      create: () => (failures-- > 0 ? Promise.reject(new Error('restore failed')) : Promise.resolve(9)),
      logger: { ...silentLogger, warn: (_msg: string, fields?: Record<string, unknown>) => errors.push(fields?.error) } as typeof silentLogger,
    });
    p.start();
    await eventually(() => p.readyCount === 1, 'filled after the failures');
    expect(errors).toHaveLength(2);
    expect(p.take()).toBe(9);
    await p.stop();
  });

  it('empties itself after the idle timeout and fills again at the next take', async () => {
    const { p, destroyed, created } = pool({ size: 1, idleTimeoutMs: 300 });
    p.start();
    await eventually(() => p.readyCount === 1, 'filled');
    await eventually(() => p.state === 'idle', 'idle');
    expect(p.readyCount).toBe(0);
    expect(destroyed).toEqual([1]);
    // The job that wakes the pool finds nothing ready; the ones after it do.
    expect(p.take()).toBeUndefined();
    await eventually(() => p.readyCount === 1, 'filled again');
    expect(created).toEqual([1, 2]);
    expect(p.take()).toBe(2);
    await p.stop();
  });
});
