import { describe, expect, it } from 'vitest';
import { executorCompatibility } from './compatibility.js';

describe('executorCompatibility', () => {
  it('allows one minor version of skew either way (reference §7.4)', () => {
    expect(executorCompatibility('5.3.0', '5.3.0', true)).toBe('UP_TO_DATE');
    expect(executorCompatibility('5.2.7', '5.3.0', true)).toBe('UP_TO_DATE');
    expect(executorCompatibility('5.4.0', '5.3.0', true)).toBe('UP_TO_DATE');
    expect(executorCompatibility('5.1.0', '5.3.0', true)).toBe('OUTDATED');
    expect(executorCompatibility('4.5.0', '5.3.0', true)).toBe('OUTDATED');
    expect(executorCompatibility('5.5.0', '5.3.0', true)).toBe('VERSION_AHEAD');
  });
  it('is null for inactive executors and dev builds', () => {
    expect(executorCompatibility('5.3.0', '5.3.0', false)).toBeNull();
    expect(executorCompatibility('0.0.0+dev-abc', 'dev', true)).toBeNull();
    expect(executorCompatibility('', '5.3.0', true)).toBeNull();
  });
  it('compares insiders builds by date within a 35-day cycle', () => {
    expect(executorCompatibility('1_2023-04-04_5.0-a', '2_2023-04-20_5.0-b', true)).toBe('UP_TO_DATE');
    expect(executorCompatibility('1_2023-01-01_5.0-a', '2_2023-04-20_5.0-b', true)).toBe('OUTDATED');
    expect(executorCompatibility('1_2023-09-01_5.0-a', '2_2023-04-20_5.0-b', true)).toBe('VERSION_AHEAD');
  });
});
