// The glob patterns of `matches` in batch spec templates and of `published` rules (the original uses
// github.com/gobwas/glob with no separators): `*` any run of characters (slashes included), `?` one
// character, `[abc]` `[a-z]` `[!abc]` classes, `{a,b}` alternatives (nesting allowed), `\` escaping.

const cache = new Map<string, RegExp>();

/** The pattern as an anchored regular expression. Throws naming the pattern when it does not parse. */
export function globToRegExp(pattern: string): RegExp {
  const cached = cache.get(pattern);
  if (cached) return cached;
  let i = 0;
  const escape = (ch: string): string => ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const escapeInClass = (ch: string): string => ch.replace(/[\\\][^-]/g, '\\$&');
  const fail = (message: string): never => {
    throw new Error(`glob pattern ${JSON.stringify(pattern)}: ${message}`);
  };
  const parse = (inAlternative: boolean): string => {
    let out = '';
    while (i < pattern.length) {
      const ch = pattern[i]!;
      if (inAlternative && (ch === ',' || ch === '}')) return out;
      i++;
      if (ch === '\\') {
        if (i >= pattern.length) fail('unexpected end of input after \\');
        out += escape(pattern[i++]!);
      } else if (ch === '*') {
        while (pattern[i] === '*') i++;
        out += '[\\s\\S]*';
      } else if (ch === '?') {
        out += '[\\s\\S]';
      } else if (ch === '[') {
        let negate = false;
        if (pattern[i] === '!') {
          negate = true;
          i++;
        }
        let cls = '';
        let closed = false;
        while (i < pattern.length) {
          const c = pattern[i++]!;
          if (c === ']') {
            closed = true;
            break;
          }
          if (c === '\\' && i < pattern.length) cls += escapeInClass(pattern[i++]!);
          else if (c === '-' && cls !== '' && pattern[i] !== ']') cls += '-';
          else cls += escapeInClass(c);
        }
        if (!closed) fail('unclosed [ character class');
        if (cls === '') fail('empty [] character class');
        out += `[${negate ? '^' : ''}${cls}]`;
      } else if (ch === '{') {
        const alternatives: string[] = [];
        for (;;) {
          alternatives.push(parse(true));
          if (i >= pattern.length) fail('unclosed { alternatives');
          if (pattern[i++] === '}') break;
        }
        out += `(?:${alternatives.join('|')})`;
      } else {
        out += escape(ch);
      }
    }
    return out;
  };
  const re = new RegExp(`^${parse(false)}$`, 'u');
  cache.set(pattern, re);
  return re;
}

/** Whether `text` matches the glob `pattern`. Throws when the pattern does not parse. */
export function matchesGlob(text: string, pattern: string): boolean {
  return globToRegExp(pattern).test(text);
}
