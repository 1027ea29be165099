// POSIX shell quoting of argv (the original joins indexer arguments with go-shellquote): a word with
// nothing a shell would interpret stays as it is, anything else goes in single quotes.

const SAFE = /^[A-Za-z0-9_\-.,:/@%+=]+$/;

export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}
