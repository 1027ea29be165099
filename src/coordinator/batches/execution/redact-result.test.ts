import { describe, expect, it } from 'vitest';
import { redactResult } from './redact-result.js';

describe('redactResult', () => {
  it('replaces secret values in the steps\' output and the outputs, not in the diff', () => {
    const result = {
      version: 1 as const,
      diff: '+token=abc123\n',
      outputs: { a: 'x abc123 y', nested: { list: ['abc123abc123-long', 1] } },
      steps: [{ index: 0, skipped: false, exitCode: 0, stdout: 'abc123\n', stderr: 'err abc123-long', modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [], outputs: { a: 'abc123' } }],
    };
    const out = redactResult(result, new Map([['SHORT', 'abc123'], ['LONG', 'abc123-long']]));
    expect(out.diff).toBe('+token=abc123\n');
    expect(out.outputs).toEqual({ a: 'x ${{ secrets.SHORT }} y', nested: { list: ['${{ secrets.SHORT }}${{ secrets.LONG }}', 1] } });
    expect(out.steps[0]).toMatchObject({ stdout: '${{ secrets.SHORT }}\n', stderr: 'err ${{ secrets.LONG }}', outputs: { a: '${{ secrets.SHORT }}' } });
    expect(redactResult(result, new Map())).toBe(result);
  });
});
