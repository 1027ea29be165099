// The source of a mirrored repository: which kinds git may fetch from (https, http, ssh, git, file and
// local paths — no transport helpers such as `fd::` or `ext::`), and the credential in a URL's userinfo,
// which is kept apart from the URL: stored encrypted, handed to git through a credential helper, and
// never written into the mirror's config, a log line or an API answer.
import path from 'node:path';

/** The protocols git may use for a mirror (`protocol.<name>.allow=always`, everything else `never`). */
export const ALLOWED_GIT_PROTOCOLS = ['https', 'http', 'ssh', 'git', 'file'] as const;

/** What an API answer shows instead of a URL's credential. */
export const REDACTED_USERINFO = 'REDACTED';

export interface RepositorySource {
  /** The URL or path without the credential: what git's remote and the database's `source_url` hold. */
  url: string;
  /** `https`, `http`, `ssh`, `git`, `file`, or `local` for a path. */
  kind: 'https' | 'http' | 'ssh' | 'git' | 'file' | 'local';
  /** For http(s), the userinfo taken out of the URL (decoded); undefined without one. */
  credential: { username: string; password: string } | undefined;
}

/** A source URL that git must not be asked to fetch: the caller's mistake (400). */
export class RepositoryUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepositoryUrlError';
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f\ufffd]/;
/** scp-like `[user@]host:path` (git's rule: a `:` before any `/`, and not `<transport>::`). */
const SCP_LIKE = /^(?:[A-Za-z0-9._~-]+@)?(?<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?!:)/;

/**
 * Parses and checks `raw` (a URL, an scp-like `host:path`, or a local path), and takes the http(s)
 * userinfo out. Throws RepositoryUrlError saying what is wrong and what is allowed.
 */
export function parseRepositorySource(raw: string): RepositorySource {
  if (raw === '') throw new RepositoryUrlError('must not be empty');
  if (CONTROL.test(raw)) throw new RepositoryUrlError('must not contain NUL or other control characters');
  if (raw.startsWith('-')) throw new RepositoryUrlError("must not start with '-'");
  const allowed = 'https://, http://, ssh://, git://, file://, [user@]host:path or a local path';
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(raw)) {
    throw new RepositoryUrlError(`git transport helpers (${raw.slice(0, raw.indexOf('::') + 2)}) are not allowed: use ${allowed}`);
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!(ALLOWED_GIT_PROTOCOLS as readonly string[]).includes(scheme)) throw new RepositoryUrlError(`the scheme ${scheme}:// is not allowed: use ${allowed}`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new RepositoryUrlError(`${JSON.stringify(redactSourceUrl(raw))} is not a URL`);
    }
    const kind = scheme as RepositorySource['kind'];
    if (kind !== 'file' && url.hostname === '') throw new RepositoryUrlError(`a ${scheme}:// URL needs a host`);
    if (kind === 'file' && url.host !== '') throw new RepositoryUrlError('a file:// URL names a path on this machine (file:///path), not a host');
    if ((kind === 'http' || kind === 'https') && (url.username !== '' || url.password !== '')) {
      let credential: { username: string; password: string };
      try {
        credential = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
      } catch {
        throw new RepositoryUrlError('the credential in the URL is not valid percent-encoding');
      }
      // They go to git's credential protocol line by line: a newline would add lines of its own.
      if (CONTROL.test(credential.username) || CONTROL.test(credential.password)) throw new RepositoryUrlError('the credential in the URL must not contain control characters');
      url.username = '';
      url.password = '';
      return { url: url.toString(), kind, credential };
    }
    // ssh:// and git:// keep a user name (ssh's login, not a secret); a password there is refused.
    if (url.password !== '') throw new RepositoryUrlError(`a ${scheme}:// URL cannot carry a password: use an SSH key, or https:// with the credential`);
    return { url: raw, kind, credential: undefined };
  }
  if (SCP_LIKE.test(raw)) return { url: raw, kind: 'ssh', credential: undefined };
  if (raw.includes(':')) {
    // A path with a ':' before any '/' would be read by git as host:path; make it unambiguous.
    throw new RepositoryUrlError(`${JSON.stringify(raw)} is neither a URL nor a [user@]host:path: use ${allowed} (write a local path as ./${raw} or an absolute path)`);
  }
  return { url: path.resolve(raw), kind: 'local', credential: undefined };
}

/** Text with the userinfo of every URL in it replaced: `https://user:token@host/x` → `https://REDACTED@host/x`. */
export function redactSourceUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, `$1${REDACTED_USERINFO}@`);
}

/** What the API shows of a stored source: the URL, with REDACTED where a credential is kept. */
export function displaySourceUrl(url: string, hasCredential: boolean): string {
  if (!hasCredential) return url;
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)/i, `$1${REDACTED_USERINFO}@`);
}
