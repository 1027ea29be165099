import { describe, expect, it } from 'vitest';
import { rfc3339Problem } from './rfc3339.js';

describe('rfc3339Problem', () => {
  it('accepts the times Go marshals, leap days and the zero time included', () => {
    for (const t of ['2024-01-02T15:04:05Z', '2024-02-29T23:59:59.999999999Z', '0001-01-01T00:00:00Z', '2024-01-01 00:00:00+15:59', '2000-12-31t00:00:00z', '1999-06-30T12:00:00-07:00']) {
      expect(rfc3339Problem(t), t).toBeNull();
    }
  });

  it('names what is impossible about a time the pattern alone would let through', () => {
    const cases: Array<[string, RegExp]> = [
      ['2023-02-29T00:00:00Z', /no day 29 in 2023-02/],
      ['2024-04-31T00:00:00Z', /no day 31/],
      ['2024-13-01T00:00:00Z', /no month 13/],
      ['2024-01-00T00:00:00Z', /no day 00/],
      ['2024-01-01T24:00:00Z', /no time of day 24:00:00/],
      ['2024-01-01T23:60:00Z', /no time of day/],
      ['2024-01-01T23:59:60Z', /no time of day/],
      ['0000-01-01T00:00:00Z', /0001 or later/],
      ['2024-01-01T00:00:00+16:00', /offset \+16:00 is out of range/],
      ['2024-01-01', /expected an RFC 3339 time/],
      ['2024-01-01T00:00:00', /expected an RFC 3339 time/],
    ];
    for (const [t, problem] of cases) expect(rfc3339Problem(t), t).toMatch(problem);
  });
});
