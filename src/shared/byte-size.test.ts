import { describe, expect, it } from 'vitest';
import { parseByteSize } from './byte-size.js';

describe('parseByteSize', () => {
  it('reads decimal and binary units', () => {
    expect(parseByteSize('12G')).toBe(12e9);
    expect(parseByteSize('20GB')).toBe(20e9);
    expect(parseByteSize('64KiB')).toBe(65536);
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('1.5Mi')).toBe(1572864);
  });
  it('rejects unknown units and junk, naming the input', () => {
    for (const bad of ['', '12 parsecs', '-1G', 'G', '1e3']) expect(() => parseByteSize(bad)).toThrow(JSON.stringify(bad));
  });
});
