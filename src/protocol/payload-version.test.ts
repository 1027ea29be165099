import { describe, expect, it } from 'vitest';
import { payloadVersionFor } from './payload-version.js';

describe('payloadVersionFor', () => {
  it('gives v2 from 4.3.0 on and v1 before, as the original (reference §2.7)', () => {
    expect(payloadVersionFor('4.3.0')).toBe(2);
    expect(payloadVersionFor('4.3.0-rc.1')).toBe(2);
    expect(payloadVersionFor('5.3.0')).toBe(2);
    expect(payloadVersionFor('4.2.9')).toBe(1);
    expect(payloadVersionFor('3.43.0')).toBe(1);
    expect(payloadVersionFor(undefined)).toBe(1);
    expect(payloadVersionFor('garbage')).toBe(1);
  });
  it('gives v2 to insiders builds dated after 2022-11-24', () => {
    expect(payloadVersionFor('213051_2023-04-04_5.0-d2c2d6a1a3b9')).toBe(2);
    expect(payloadVersionFor('190000_2022-11-01_4.2-abcdef')).toBe(1);
    expect(payloadVersionFor('0.0.0+dev')).toBe(2);
  });
});
