import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { displaySourceUrl, parseRepositorySource, redactSourceUrl } from './repository-url.js';

describe('parseRepositorySource', () => {
  it('takes the credential out of an http(s) URL, decoded', () => {
    expect(parseRepositorySource('https://bot:s%40cret@github.com/acme/app.git')).toEqual({
      url: 'https://github.com/acme/app.git',
      kind: 'https',
      credential: { username: 'bot', password: 's@cret' },
    });
    expect(parseRepositorySource('http://ghp_token@example.com/x').credential).toEqual({ username: 'ghp_token', password: '' });
  });

  it('keeps ssh and scp-like sources and local paths as they are (a relative path made absolute)', () => {
    expect(parseRepositorySource('ssh://git@github.com/acme/app.git')).toMatchObject({ kind: 'ssh', url: 'ssh://git@github.com/acme/app.git', credential: undefined });
    expect(parseRepositorySource('git@github.com:acme/app.git')).toMatchObject({ kind: 'ssh', url: 'git@github.com:acme/app.git' });
    expect(parseRepositorySource('file:///srv/git/app.git')).toMatchObject({ kind: 'file' });
    expect(parseRepositorySource('repos/app')).toEqual({ kind: 'local', url: path.resolve('repos/app'), credential: undefined });
  });

  it('refuses transport helpers, other schemes and ambiguous or hostile sources, saying why', () => {
    const cases: Array<[string, RegExp]> = [
      ['fd::17', /transport helpers \(fd::\) are not allowed/],
      ['ext::sh -c touch% /tmp/x', /transport helpers \(ext::\)/],
      ['ftp://example.com/x', /scheme ftp:\/\/ is not allowed/],
      ['-uecho', /must not start with '-'/],
      ['https://exa\u0000mple.com/x', /control characters/],
      ['https://a%0Ahost=x:p@example.com/x', /credential .* control characters/],
      ['http://[::1', /is not a URL/],
      ['file://host/x', /not a host/],
      ['ssh://u:secret@host/x', /cannot carry a password/],
      ['', /empty/],
    ];
    for (const [url, problem] of cases) expect(() => parseRepositorySource(url), url).toThrow(problem);
  });

  it('never repeats a credential in its messages', () => {
    expect(() => parseRepositorySource('http://u:topsecret@[::1')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('topsecret') }));
  });
});

describe('redactSourceUrl and displaySourceUrl', () => {
  it('replace userinfo with REDACTED', () => {
    expect(redactSourceUrl("fatal: unable to access 'https://u:t@h/x/': 403")).toBe("fatal: unable to access 'https://REDACTED@h/x/': 403");
    expect(displaySourceUrl('https://github.com/acme/app', true)).toBe('https://REDACTED@github.com/acme/app');
    expect(displaySourceUrl('https://github.com/acme/app', false)).toBe('https://github.com/acme/app');
  });
});
