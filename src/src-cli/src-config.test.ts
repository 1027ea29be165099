import { describe, expect, it } from 'vitest';
import { flagUsage, parseFlags, FlagError } from './go-flags.js';
import { repoNameFromRemote } from './main.js';
import { loadSrcConfig, parseAdditionalHeaders } from './src-config.js';

describe('src configuration and flags', () => {
  it('reads SRC_HEADER_<NAME> lowercased and SRC_HEADERS lines, as src-cli does', () => {
    expect(parseAdditionalHeaders({ SRC_HEADER_AUTHORIZATION: 'Bearer abc', SRC_HEADER_X_FOO: 'bar', SRC_HEADERS: 'X-Sourcegraph-Job-ID: 7\\nX-Sourcegraph-Executor-Name: ex-1', SRC_HEADER_EMPTY: '' })).toEqual({
      authorization: 'Bearer abc',
      x_foo: 'bar',
      'x-sourcegraph-job-id': '7',
      'x-sourcegraph-executor-name': 'ex-1',
    });
    expect(loadSrcConfig({ SRC_ENDPOINT: 'http://h:1/' }).endpoint).toBe('http://h:1');
    expect(loadSrcConfig({}).endpoint).toBe('https://sourcegraph.com');
    expect(() => loadSrcConfig({ SRC_ACCESS_TOKEN: 't', SRC_HEADER_AUTHORIZATION: 'x' })).toThrow(/SRC_ACCESS_TOKEN must never be set/);
  });

  it('parses flags the way Go does', () => {
    const specs = { file: { kind: 'string', default: '', usage: 'f' }, n: { kind: 'int', default: -1, usage: 'n' }, quiet: { kind: 'bool', default: false, usage: 'q' } } as const;
    const { values, set, rest } = parseFlags(specs, ['-file', 'a.scip', '--n=3', '-quiet', 'extra', '-file', 'ignored']);
    expect(values).toEqual({ file: 'a.scip', n: 3, quiet: true });
    expect([...set]).toEqual(['file', 'n', 'quiet']);
    expect(rest).toEqual(['extra', '-file', 'ignored']);
    expect(parseFlags(specs, ['-quiet=false']).values.quiet).toBe(false);
    expect(() => parseFlags(specs, ['-nope'])).toThrow(new FlagError('flag provided but not defined: -nope'));
    expect(() => parseFlags(specs, ['-n', 'x'])).toThrow(/invalid value "x" for flag -n/);
    expect(() => parseFlags(specs, ['-file'])).toThrow(/flag needs an argument: -file/);
    expect(flagUsage(specs)).toContain('  -n int\n    \tn (default -1)');
  });

  it('names the repository from the origin remote', () => {
    expect(repoNameFromRemote('https://github.com/foo/bar.git')).toBe('github.com/foo/bar');
    expect(repoNameFromRemote('git@github.com:foo/bar.git')).toBe('github.com/foo/bar');
    expect(repoNameFromRemote('github.com/foo/bar')).toBe('github.com/foo/bar');
  });
});
