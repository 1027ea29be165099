// This build's version: `version` of the package.json beside src/ and dist/, read once; the start lines
// of both programs say it, so a log tells which build ran.
import fs from 'node:fs';

let cached: string | undefined;

/** The package's version (`0.1.0`), or `unknown` when package.json cannot be read (a copied dist/). */
export function packageVersion(): string {
  if (cached === undefined) {
    try {
      // src/shared/ and dist/shared/ are both two levels below the package root.
      const json = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cached = typeof json.version === 'string' ? json.version : 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
