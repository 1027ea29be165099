import { describe, expect, it } from 'vitest';
import { SECRET_REMOVED } from '../config.js';
import { encodedForms, MIN_ENCODED_FORM_LENGTH, Redactor, type StreamRedactor } from './redactor.js';

/** Feeds `pieces` to a stream redactor; returns what each push gave and the whole output. */
function stream(redactor: StreamRedactor, pieces: readonly string[]): { outputs: string[]; whole: string } {
  const outputs = pieces.map((piece) => redactor.push(piece));
  const whole = outputs.join('') + redactor.flush();
  return { outputs, whole };
}

/** The specification, written the slow and obvious way: every occurrence, overlaps merged, longest wins. */
function referenceRedact(values: Record<string, string>, text: string): string {
  const secrets = Object.keys(values).filter((s) => s !== '');
  const occurrences: Array<{ start: number; end: number; secret: string }> = [];
  for (const secret of secrets) {
    for (let i = text.indexOf(secret); i >= 0; i = text.indexOf(secret, i + 1)) occurrences.push({ start: i, end: i + secret.length, secret });
  }
  occurrences.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (let i = 0; i < occurrences.length; ) {
    const first = occurrences[i]!;
    let end = first.end;
    let best = first;
    for (i++; i < occurrences.length && occurrences[i]!.start < end; i++) {
      const o = occurrences[i]!;
      end = Math.max(end, o.end);
      if (o.secret.length > best.secret.length) best = o;
    }
    out += text.slice(at, first.start) + values[best.secret];
    at = end;
  }
  return out + text.slice(at);
}

/** A small deterministic PRNG, so a failing random case can be replayed. */
function prng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

/** Cuts `text` into random pieces of 0–`max` characters. */
function randomPieces(text: string, random: () => number, max: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; ) {
    const n = Math.floor(random() * (max + 1));
    pieces.push(text.slice(i, i + n));
    i += n;
  }
  return pieces;
}

describe('Redactor.redact', () => {
  it('replaces every occurrence of every secret and ignores empty secrets', () => {
    const r = new Redactor({ hunter2: '[pw]', tok_abc: '[token]', '': 'NEVER' });
    expect(r.secretCount).toBe(2);
    expect(r.redact('login hunter2 then hunter2hunter2 with tok_abc.')).toBe('login [pw] then [pw][pw] with [token].');
    expect(r.redact('nothing to see')).toBe('nothing to see');
    expect(r.redact('')).toBe('');
    expect(new Redactor({ '': 'x' }).redact('abc')).toBe('abc');
  });

  it('replaces overlapping secrets with the longest one, leaving no character of either', () => {
    const r = new Redactor({ pass: '[short]', password: '[long]', abc: '[abc]', bcdef: '[bcdef]' });
    // A secret that begins another: the longer wins wherever it matches, the shorter elsewhere.
    expect(r.redact('password1 pass passwor')).toBe('[long]1 [short] [short]wor');
    // Secrets that overlap partly: replaced together, so neither `de f` of bcdef nor `a` of abc shows.
    expect(r.redact('xabcdefx')).toBe('x[bcdef]x');
    expect(r.redact('abc bcdef')).toBe('[abc] [bcdef]');
    // Equally long: the earlier one names the whole chain.
    expect(new Redactor({ abcd: '[1]', cdef: '[2]' }).redact('abcdef')).toBe('[1]');
  });

  it('replaces in one pass: a replacement is never scanned for secrets again', () => {
    const r = new Redactor({ a: 'b', b: 'c', secret: 'secret' });
    expect(r.redact('ab secret')).toBe('bc secret');
  });

  it('treats regular-expression metacharacters in secrets and replacements literally', () => {
    const r = new Redactor({ 'a.b*': '[dot-star]', '(?:x)|y': '[group]', '\\d+': '[digits]', '$1^': '$&', '[x]': '$1' });
    expect(r.redact('a.b* axb aab (?:x)|y y x \\d+ 42 $1^ [x] x')).toBe('[dot-star] axb aab [group] y x [digits] 42 $& $1 x');
  });

  it('lets the executor’s own replacement win over the job’s for the same secret', () => {
    const r = Redactor.forJob({ 'frontend-pw': 'JOB', gh_token: '[gh]' }, { 'frontend-pw': SECRET_REMOVED });
    expect(r.redact('frontend-pw gh_token')).toBe(`${SECRET_REMOVED} [gh]`);
  });

  it('agrees with the obvious specification on random texts and secrets', () => {
    const random = prng(7);
    for (let round = 0; round < 500; round++) {
      const word = (max: number) => Array.from({ length: 1 + Math.floor(random() * max) }, () => 'ab'[Math.floor(random() * 2)]).join('');
      const values: Record<string, string> = {};
      for (let i = 0; i < 1 + Math.floor(random() * 4); i++) values[word(4)] = `<${i}>`;
      const text = word(40);
      const r = new Redactor(values);
      const expected = referenceRedact(values, text);
      expect(r.redact(text), JSON.stringify({ values, text })).toBe(expected);
      expect(stream(r.createStreamRedactor(), randomPieces(text, random, 5)).whole, JSON.stringify({ values, text })).toBe(expected);
    }
  });

  it('handles 200 secrets over a large input', () => {
    const values: Record<string, string> = {};
    for (let i = 0; i < 200; i++) values[`secret-${i.toString(36).padStart(4, '0')}-${'x'.repeat(i % 17)}`] = `[s${i}]`;
    const r = new Redactor(values);
    const secrets = Object.keys(values);
    const lines: string[] = [];
    for (let i = 0; i < 40_000; i++) lines.push(i % 10 === 0 ? `line ${i} uses ${secrets[i % 200]} here` : `line ${i} secret-ish text with no secret at all`);
    const text = lines.join('\n');
    const out = r.redact(text);
    for (const secret of secrets) expect(out.includes(secret)).toBe(false);
    expect(out.match(/\[s\d+\]/g)).toHaveLength(4000);
    const random = prng(3);
    expect(stream(r.createStreamRedactor(), randomPieces(text, random, 4096)).whole).toBe(out);
  });
});

describe('Redactor.createStreamRedactor', () => {
  it('catches a secret delivered one character per push', () => {
    const r = new Redactor({ 'ghp_0123456789abcdef': '[gh]' });
    const text = 'cloning with ghp_0123456789abcdef done\n';
    const { outputs, whole } = stream(r.createStreamRedactor(), [...text]);
    expect(whole).toBe('cloning with [gh] done\n');
    // Nothing was left for flush: the pushes alone returned all of it.
    expect(outputs.join('')).toBe(whole);
    // While the secret arrived, its beginning was held back, not returned.
    const upTo = text.indexOf('ghp_') + 10;
    expect(outputs.slice(0, upTo).join('')).toBe('cloning with ');
  });

  it('returns a completed secret at once, and holds back one a longer secret could still extend until flush', () => {
    const r = new Redactor({ token: '[t]', 'token-long': '[tl]' });
    const s = r.createStreamRedactor();
    expect(s.push('a tok')).toBe('a ');
    expect(s.push('en')).toBe('');
    expect(s.flush()).toBe('[t]');
    const leaf = new Redactor({ token: '[t]' }).createStreamRedactor();
    expect(leaf.push('a token')).toBe('a [t]');
    expect(leaf.push(' and tok')).toBe(' and ');
    expect(leaf.flush()).toBe('tok');
  });

  it('passes a long stream with no secret through, holding back less than the longest secret', () => {
    const r = new Redactor({ 'correct-horse-battery-staple': '[pw]', 'sk-live-0000': '[key]' });
    const s = r.createStreamRedactor();
    let inputLength = 0;
    let outputLength = 0;
    const random = prng(11);
    for (let i = 0; i < 5000; i++) {
      // Text full of secret beginnings: `correct-horse`, `sk-live-00`, ….
      const piece = ['correct-horse-', 'battery ', 'sk-', 'live-00', 'staple ', 'c', 'x\n'][Math.floor(random() * 7)]!;
      inputLength += piece.length;
      outputLength += s.push(piece).length;
      expect(inputLength - outputLength).toBeLessThanOrEqual(r.maxSecretLength - 1);
    }
    expect(outputLength + s.flush().length).toBe(inputLength);
    // Text that begins no secret is not held back at all.
    expect(s.push('plain output\n')).toBe('plain output\n');
  });

  it('keeps its hold-back bounded on a long chain of overlapping occurrences, still hiding every character', () => {
    const r = new Redactor({ aa: '#' });
    const s = r.createStreamRedactor();
    let out = '';
    for (let i = 0; i < 200; i++) out += s.push('a'.repeat(1000));
    // 200 000 characters of one chain: replaced piecewise as it grew, not all held until the end.
    expect(out.length).toBeGreaterThanOrEqual(2);
    out += s.flush();
    expect(out).toMatch(/^#+$/);
  });

  it('starts afresh after flush', () => {
    const s = new Redactor({ secret: 'X' }).createStreamRedactor();
    expect(s.push('sec')).toBe('');
    expect(s.flush()).toBe('sec');
    expect(s.push('ret')).toBe('ret');
    expect(s.push(' secret')).toBe(' X');
    expect(s.flush()).toBe('');
  });

  it('passes everything through unchanged when there are no secrets', () => {
    const s = new Redactor({}).createStreamRedactor();
    expect(s.push('abc')).toBe('abc');
    expect(s.flush()).toBe('');
  });
});

describe('encoded forms and line breaks', () => {
  it('lists the base64 characters that depend on the secret alone, at each alignment, and drops short forms', () => {
    const forms = encodedForms('password');
    // 'password' at byte offset 0, 1 and 2 of a base64 group: the first characters of each encoding
    // that no neighbouring byte touches.
    expect(forms).toContain('cGFzc3dvcm'); // base64('password') = cGFzc3dvcmQ=
    // Whatever comes before it, one of the forms is in the base64 of the text.
    for (const before of ['', 'x', 'xy', 'xyz', 'PASS=', 'PASSWD=']) {
      const text = Buffer.from(`${before}password;`).toString('base64');
      expect(forms.some((f) => text.includes(f)), before).toBe(true);
    }
    expect(forms).toContain('70617373776f7264');
    expect(forms).toContain('70617373776F7264');
    expect(forms.every((f) => f.length >= MIN_ENCODED_FORM_LENGTH)).toBe(true);
    expect(encodedForms('abc')).toEqual([]);
    // URL-encoding only where it differs from the secret.
    expect(encodedForms('p@ss w/rd!')).toEqual(expect.arrayContaining(['p%40ss%20w%2Frd!', 'p%40ss+w%2Frd%21']));
    expect(encodedForms('plainsecret')).not.toContain('plainsecret');
  });

  it('finds a secret cut by one line break, \\n, \\r or \\r\\n, but not across a blank line', () => {
    const r = new Redactor({ 'token-0123456789': '[t]' });
    expect(r.redact('a token-01234\n56789 b')).toBe('a [t] b');
    expect(r.redact('a token-01234\r\n56789 b')).toBe('a [t] b');
    expect(r.redact('a token-01234\r56789 b')).toBe('a [t] b');
    expect(r.redact('a token-01234\n\n56789 b')).toBe('a token-01234\n\n56789 b');
  });

  it('finds the rest of a pattern that a line break cuts after fewer than four characters', () => {
    const r = new Redactor({ 'token-0123456789': '[t]' });
    expect(r.redact('tok\nen-0123456789 end')).toBe('tok\n[t] end');
  });

  it('does not hold back a line that only ends in the first characters of a secret', () => {
    const s = new Redactor({ 'token-0123456789': '[t]' }).createStreamRedactor();
    expect(s.push('it was tok\n')).toBe('it was tok\n');
    // Four characters or more: that line waits for the next character.
    expect(s.push('the toke\n')).toBe('the ');
    expect(s.push('x')).toBe('toke\nx');
  });

  it('keeps its hold-back bounded when line breaks fall inside partial matches', () => {
    const r = new Redactor({ 'abcdefghijklmnop': '[s]' });
    const s = r.createStreamRedactor();
    let held = 0;
    for (let i = 0; i < 1000; i++) {
      const piece = 'abcdefg\r\n';
      held += piece.length - s.push(piece).length;
      expect(held).toBeLessThanOrEqual(3 * r.maxSecretLength);
    }
    expect(s.flush().length).toBe(held);
  });
});

describe('Redactor.createPipePairRedactor', () => {
  it('replaces a secret whose characters alternate between stdout and stderr in both pipes', () => {
    const pair = new Redactor({ 'secret-value-42': '[s]' }).createPipePairRedactor();
    const out = { stdout: '', stderr: '' };
    const add = (t: { stdout: string; stderr: string }) => ((out.stdout += t.stdout), (out.stderr += t.stderr));
    [...'secret-value-42'].forEach((ch, i) => add(pair.push(i % 2 === 0 ? 'stdout' : 'stderr', ch)));
    add(pair.push('stdout', ' ok\n'));
    add(pair.flush());
    expect(out).toEqual({ stdout: '[s] ok\n', stderr: '[s]' });
  });

  it('finds a secret whole in one pipe while the other writes in between, and releases the other pipe at once', () => {
    const pair = new Redactor({ 'secret-value-42': '[s]' }).createPipePairRedactor();
    expect(pair.push('stdout', 'secret-')).toEqual({ stdout: '', stderr: '' });
    // stderr's line does not continue the secret in either view: it is shown now.
    expect(pair.push('stderr', 'warning\n')).toEqual({ stdout: '', stderr: 'warning\n' });
    expect(pair.push('stdout', 'value-42\n')).toEqual({ stdout: '[s]\n', stderr: '' });
    expect(pair.flush()).toEqual({ stdout: '', stderr: '' });
  });

  it('gives each pipe the same text as a single stream redactor when the other pipe stays silent', () => {
    const r = new Redactor({ hunter2: '[pw]', 'sk-0000000000': '[k]' });
    const text = 'a hunter2 b sk-000\n0000000 c hunter\n2\n';
    const pair = r.createPipePairRedactor();
    let stdout = '';
    for (const ch of text) stdout += pair.push('stdout', ch).stdout;
    stdout += pair.flush().stdout;
    expect(stdout).toBe(r.redact(text));
    expect(stdout).toBe('a [pw] b [k] c [pw]\n');
  });
});
