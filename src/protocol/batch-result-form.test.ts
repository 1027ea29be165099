// The shell form of a batch workspace's result turned into the node helper's result, and each field
// that is not what the form says refused by name.
import { describe, expect, it } from 'vitest';
import { decodeBatchResultForm } from './batch-result-form.js';

const fields = (extra: Record<string, string | Buffer> = {}) =>
  new Map(
    Object.entries({ version: '1', state: 'null', index: '0', skipped: 'false', exitCode: '0', stdout: 'out\n', stderr: '', changes: 'M\0a.txt\0A\0b.txt\0R100\0c.txt\0d.txt\0D\0e.txt\0', diff: 'diff --git a/a.txt b/a.txt\n', ...extra }).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]),
  );

describe('the batch result form', () => {
  it('is the result the node helper sends: the steps before from the state, the last one from git\'s lists', () => {
    expect(decodeBatchResultForm(fields())).toEqual({
      version: 1,
      diff: 'diff --git a/a.txt b/a.txt\n',
      outputs: {},
      steps: [{ index: 0, skipped: false, exitCode: 0, stdout: 'out\n', stderr: '', modifiedFiles: ['a.txt'], addedFiles: ['b.txt'], deletedFiles: ['e.txt'], renamedFiles: ['d.txt'], outputs: {} }],
    });
    const before = { index: 0, skipped: false, exitCode: 0, stdout: '', stderr: '', modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [], outputs: { n: 1 } };
    const later = decodeBatchResultForm(fields({ state: JSON.stringify({ version: 1, baseTree: 'x', results: [before], outputs: { n: 1 } }), index: '1', skipped: 'true', exitCode: 'null', stdout: Buffer.from([0x63, 0xff]) }));
    expect(later.outputs).toEqual({ n: 1 });
    expect(later.steps).toEqual([before, expect.objectContaining({ index: 1, skipped: true, exitCode: null, stdout: 'c\ufffd', modifiedFiles: [], renamedFiles: [] })]);
  });

  it('names the field that is missing, unknown or not what it should be', () => {
    const refused = (extra: Record<string, string>, drop?: string) => {
      const f = fields(extra);
      if (drop) f.delete(drop);
      return () => decodeBatchResultForm(f);
    };
    expect(refused({}, 'diff')).toThrow('diff: missing');
    expect(refused({ extra: 'x' })).toThrow('extra: not a field of the result form');
    expect(refused({ version: '2' })).toThrow('version: expected 1, got "2"');
    expect(refused({ index: '-1' })).toThrow('index: expected a step index');
    expect(refused({ skipped: 'yes' })).toThrow('skipped: expected true or false');
    expect(refused({ exitCode: '1e3' })).toThrow('exitCode: expected a number or null');
    expect(refused({ state: '{' })).toThrow(/^state: not JSON/);
    expect(refused({ state: '{"results":[{"index":"zero"}],"outputs":{}}' })).toThrow(/^state: results\.0\.index: /);
  });
});
