// Checks that parseGoBool accepts exactly what Go's strconv.ParseBool accepts.
import { describe, expect, it } from 'vitest';
import { parseGoBool } from './go-bool.js';

describe('parseGoBool', () => {
  it('reads every spelling strconv.ParseBool accepts', () => {
    for (const s of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(s)).toBe(true);
    for (const s of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(s)).toBe(false);
  });

  it('rejects what Go rejects, naming the input', () => {
    for (const bad of ['', 'yes', 'no', 'on', 'off', 'tRUE', 'y', '2', ' true']) {
      expect(() => parseGoBool(bad)).toThrow(JSON.stringify(bad));
    }
  });
});
