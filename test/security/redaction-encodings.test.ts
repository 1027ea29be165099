// Secrets that leave a step in another form (issue 11, "Redaction"): base64 at each of its three
// alignments (wrapped as base64(1) wraps it), base64url, hex, URL-encoding, and a secret whose characters
// arrive split between stdout and stderr. The attack that found this: a step printed the base64 of the
// executor's /proc/<pid>/environ; the log redacted the token but kept its base64.
import { describe, expect, it } from 'vitest';
import { LogEntryStream } from '../../src/executor/worker/log-entry-stream.js';
import { Redactor } from '../../src/executor/worker/redactor.js';

const SECRET = 'sgp_3f9a61c0d2b84e7591aa0c6e5d2b7f40-token';
const REPLACEMENT = 'SECRET_REMOVED';

/** The characters of `encoded(prefix + SECRET + suffix)` that depend on SECRET alone, for every prefix length mod 3. */
function base64Cores(secret: string, encode: (b: Buffer) => string): string[] {
  const bytes = Buffer.from(secret);
  return [0, 1, 2].map((a) => {
    const text = encode(Buffer.concat([Buffer.alloc(a), bytes, Buffer.alloc(3)]));
    return text.slice(Math.ceil((8 * a) / 6), Math.floor((8 * (a + bytes.length)) / 6));
  });
}
const base64 = (b: Buffer) => b.toString('base64');
const base64url = (b: Buffer) => b.toString('base64url');

/** Runs `chunks` (pipe, text) through one log entry with the job's redactor; returns its out. */
function logOf(chunks: ReadonlyArray<readonly ['stdout' | 'stderr', string]>): string {
  const entry = new LogEntryStream({ key: 'step.docker.0', command: ['sh'], redactor: new Redactor({ [SECRET]: REPLACEMENT }) });
  for (const [pipe, text] of chunks) entry.write(pipe, Buffer.from(text));
  entry.finalize(0);
  return entry.out;
}

/** The log's text with line prefixes and line breaks removed: what a reader would paste into a decoder. */
const joined = (out: string) =>
  out
    .split('\n')
    .map((line) => line.replace(/^(stdout|stderr): /, ''))
    .join('');

/** Whether any `window` consecutive characters of `needle` appear in `haystack`. */
function containsWindow(haystack: string, needle: string, window: number): boolean {
  for (let i = 0; i + window <= needle.length; i++) if (haystack.includes(needle.slice(i, i + window))) return true;
  return false;
}

describe('redaction of encoded secrets in job logs', () => {
  it.each([0, 1, 2, 3, 4, 5])('hides the base64 of a secret %i bytes into the encoded text, wrapped at 76 columns', (offset) => {
    const payload = Buffer.concat([Buffer.from('HOME=/root\0PATH=/usr/bin\0'.slice(0, 20 + offset)), Buffer.from(`EXECUTOR_FRONTEND_PASSWORD=${SECRET}\0`), Buffer.from('USER=root\0')]);
    const wrapped = base64(payload).replace(/.{76}/g, '$&\n') + '\n';
    const out = logOf([['stdout', wrapped]]);
    expect(out).toContain(REPLACEMENT);
    for (const core of base64Cores(SECRET, base64)) expect(containsWindow(joined(out), core, 8), core).toBe(false);
    // What is left does not decode to the token either.
    expect(Buffer.from(joined(out).replaceAll(REPLACEMENT, ''), 'base64').toString('latin1')).not.toContain(SECRET.slice(4, 16));
  });

  it('hides base64url, hex in either case (also as xxd -p wraps it) and URL-encoding', () => {
    const weird = `${SECRET}/+?&= é`;
    const redactor = new Redactor({ [weird]: REPLACEMENT });
    const forms = [
      ...base64Cores(weird, base64url),
      Buffer.from(weird).toString('hex'),
      Buffer.from(weird).toString('hex').toUpperCase(),
      encodeURIComponent(weird),
      encodeURIComponent(weird).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
      new URLSearchParams([['p', weird]]).toString().slice(2),
    ];
    for (const form of forms) {
      const out = redactor.redact(`before ${form} after`);
      expect(out, form).toBe(`before ${REPLACEMENT} after`);
    }
    const xxd = Buffer.from(`x${weird}y`).toString('hex').replace(/.{60}/g, '$&\n');
    expect(containsWindow(joined(redactor.redact(xxd)), Buffer.from(weird).toString('hex'), 8)).toBe(false);
  });

  it('hides a secret whose characters arrive alternately on stdout and stderr', () => {
    const chunks: Array<['stdout' | 'stderr', string]> = [['stdout', 'token is ']];
    [...SECRET].forEach((ch, i) => chunks.push([i % 2 === 0 ? 'stdout' : 'stderr', ch]));
    chunks.push(['stdout', ' done\n'], ['stderr', '\n']);
    const out = logOf(chunks);
    const stdout = out.split('\n').filter((l) => l.startsWith('stdout: ')).map((l) => l.slice(8)).join('');
    const stderr = out.split('\n').filter((l) => l.startsWith('stderr: ')).map((l) => l.slice(8)).join('');
    // Neither pipe keeps its half: interleaving them again gives no part of the secret back.
    const half = (parity: number) => [...SECRET].filter((_, i) => i % 2 === parity).join('');
    expect(containsWindow(stdout, half(0), 6)).toBe(false);
    expect(containsWindow(stderr, half(1), 6)).toBe(false);
    expect(out).toContain(REPLACEMENT);
    expect(stdout).toContain('token is ');
    expect(stdout).toContain(' done');
  });

  it('still hides a secret written whole to one pipe while the other writes in between', () => {
    const out = logOf([
      ['stdout', SECRET.slice(0, 10)],
      ['stderr', 'progress 10%\n'],
      ['stdout', SECRET.slice(10) + '\n'],
    ]);
    expect(out).not.toContain(SECRET.slice(0, 10));
    expect(out).toContain(`stdout: ${REPLACEMENT}\n`);
    expect(out).toContain('stderr: progress 10%\n');
  });

  it('hides a secret broken over two lines, and leaves unrelated short base64 words alone', () => {
    const out = logOf([['stdout', `key: ${SECRET.slice(0, 20)}\n${SECRET.slice(20)} end\nQUJD and 4142 stay\n`]]);
    expect(out).not.toContain(SECRET.slice(0, 20));
    expect(out).not.toContain(SECRET.slice(20));
    expect(out).toContain('QUJD and 4142 stay');
  });
});
