import { describe, expect, it } from 'vitest';
import { TokenScanner } from './token-scanner.js';

const TOKEN = '\u0000END-1234\u0000';

/** Feeds `chunks` and returns what was forwarded, chunk by chunk. */
function feed(scanner: TokenScanner, chunks: string[]): string[] {
  return chunks.map((c) => scanner.push(Buffer.from(c)).toString());
}

describe('TokenScanner', () => {
  it('forwards text at once: nothing is held back without a NUL', () => {
    const scanner = new TokenScanner(TOKEN);
    expect(feed(scanner, ['line 1\n', 'line 2 no newline'])).toEqual(['line 1\n', 'line 2 no newline']);
    expect(scanner.found).toBe(false);
  });

  it('finds a token split over chunks, forwards what came before it and drops what comes after', () => {
    const scanner = new TokenScanner(TOKEN);
    expect(feed(scanner, ['last line\n\u0000EN', 'D-12', '34\u0000late', 'more'])).toEqual(['last line\n', '', '', '']);
    expect(scanner.found).toBe(true);
  });

  it('releases held bytes that turn out not to be the token', () => {
    const scanner = new TokenScanner(TOKEN);
    expect(feed(scanner, ['a\u0000EN', 'X then', '\u0000END-1234\u0000'])).toEqual(['a', '\u0000ENX then', '']);
    expect(scanner.found).toBe(true);
  });

  it('finds a token that is the whole stream', () => {
    const scanner = new TokenScanner(TOKEN);
    expect(feed(scanner, [TOKEN])).toEqual(['']);
    expect(scanner.found).toBe(true);
  });
});
