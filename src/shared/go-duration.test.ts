import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDurationMs } from './go-duration.js';

describe('parseGoDurationMs', () => {
  it('reads Go durations the way time.ParseDuration does', () => {
    expect(parseGoDurationMs('1s')).toBe(1000);
    expect(parseGoDurationMs('1m30s')).toBe(90_000);
    expect(parseGoDurationMs('168h')).toBe(168 * 3_600_000);
    expect(parseGoDurationMs('1.5h')).toBe(5_400_000);
    expect(parseGoDurationMs('250ms')).toBe(250);
    expect(parseGoDurationMs('0')).toBe(0);
    expect(parseGoDurationMs('500us')).toBeCloseTo(0.5);
  });
  it('rejects what Go rejects, naming the input', () => {
    for (const bad of ['', '1', '10 s', 's', '1d', '5m-3s', 'abc']) {
      expect(() => parseGoDurationMs(bad)).toThrow(JSON.stringify(bad));
    }
  });
  it('formats like Go prints', () => {
    expect(formatGoDuration(90_000)).toBe('1m30s');
    expect(formatGoDuration(30 * 60_000)).toBe('30m0s');
    expect(formatGoDuration(250)).toBe('250ms');
  });
});
