import { describe, expect, it } from 'vitest';
import { parseRepositoriesQuery, pathMatches, repositoryMatches } from './repositories-query.js';

describe('parseRepositoriesQuery', () => {
  it('reads repo:, file: and the rest as one literal content pattern', () => {
    const q = parseRepositoriesQuery('repo:^github\\.com/acme/ file:\\.go$ fmt.Println( "hello world" count:all');
    expect(repositoryMatches(q, 'github.com/acme/app')).toBe(true);
    expect(repositoryMatches(q, 'github.com/other/app')).toBe(false);
    expect(pathMatches(q, 'cmd/main.go')).toBe(true);
    expect(pathMatches(q, 'README.md')).toBe(false);
    expect(q.content).toEqual({ pattern: 'fmt.Println( hello world', regexp: false });
    expect(q.caseSensitive).toBe(false);
  });

  it('matches repository names case-insensitively unless case:yes, and honours -repo: and -file:', () => {
    const q = parseRepositoriesQuery('repo:ACME -repo:legacy -file:_test\\.go$');
    expect(repositoryMatches(q, 'github.com/acme/app')).toBe(true);
    expect(repositoryMatches(q, 'github.com/acme/legacy-app')).toBe(false);
    expect(pathMatches(q, 'a_test.go')).toBe(false);
    expect(pathMatches(q, 'a.go')).toBe(true);
    const strict = parseRepositoriesQuery('repo:ACME case:yes');
    expect(repositoryMatches(strict, 'github.com/acme/app')).toBe(false);
    expect(strict.caseSensitive).toBe(true);
  });

  it('has no content pattern for a repo-only query, and a regexp one with patterntype:regexp', () => {
    expect(parseRepositoriesQuery('repo:x').content).toBeUndefined();
    expect(parseRepositoriesQuery('patterntype:regexp foo.*bar').content).toEqual({ pattern: 'foo.*bar', regexp: true });
  });

  it('refuses an unsupported filter, a bad regular expression and an open quote, naming the term', () => {
    expect(() => parseRepositoriesQuery('repo:x lang:go')).toThrow(/lang:.*the filter lang: is not supported.*supported: repo:, -repo:, file:/);
    expect(() => parseRepositoriesQuery('repo:(')).toThrow(/repo:\(: not a valid regular expression/);
    expect(() => parseRepositoriesQuery('"open')).toThrow(/a quote is not closed/);
    expect(() => parseRepositoriesQuery('repo:x@v1')).toThrow(/a revision after @ is not supported/);
    expect(() => parseRepositoriesQuery('file:')).toThrow(/file: needs a value/);
  });
});
