import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from './backoff.js';

describe('Backoff', () => {
  it('doubles the ceiling per attempt up to maxMs', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    expect([0, 1, 2, 3, 4, 5].map((a) => b.ceilingMs(a))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3, 4, 5].map((a) => b.nextDelayMs(a))).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('draws the delay uniformly from zero to the ceiling (full jitter)', () => {
    const draws = [0, 0.5, 0.25];
    const b = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => draws.shift()! });
    expect(b.nextDelayMs(3)).toBe(0);
    expect(b.nextDelayMs(3)).toBe(400);
    expect(b.nextDelayMs(0)).toBe(25);
  });

  it('stays at maxMs for huge attempt numbers instead of overflowing', () => {
    const b = new Backoff({ initialMs: 1, maxMs: 30_000, random: () => 0.5 });
    expect(b.nextDelayMs(5000)).toBe(15_000);
    expect(Number.isFinite(b.nextDelayMs(Number.MAX_SAFE_INTEGER))).toBe(true);
  });

  it('honours a custom multiplier', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 10_000, multiplier: 3, random: () => 0.999999 });
    expect(b.ceilingMs(2)).toBe(90);
  });

  it('refuses options that make no sense, naming them', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10 })).toThrow(/initialMs/);
    expect(() => new Backoff({ initialMs: 100, maxMs: 10 })).toThrow(/maxMs/);
    expect(() => new Backoff({ initialMs: 1, maxMs: 10, multiplier: 0.5 })).toThrow(/multiplier/);
  });
});

describe('sleep', () => {
  it('resolves true after the whole delay', async () => {
    const started = Date.now();
    expect(await sleep(30)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('resolves false as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    setTimeout(() => controller.abort(), 10);
    expect(await slept).toBe(false);
  });

  it('resolves false at once for an already-aborted signal', async () => {
    expect(await sleep(60_000, AbortSignal.abort())).toBe(false);
  });
});
