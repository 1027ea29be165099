// SCIP symbol strings (scip.proto, "Symbol"): `local <id>`, or `<scheme> <manager> <name> <version>
// <descriptors>` where a space inside a part is written as two spaces and `.` stands for an empty part.

export interface ScipPackage {
  scheme: string;
  manager: string;
  name: string;
  version: string;
}

export function isLocalSymbol(symbol: string): boolean {
  return symbol.startsWith('local ');
}

/** The scheme and package of a global symbol, or null for a local or malformed one. */
export function symbolPackage(symbol: string): ScipPackage | null {
  if (isLocalSymbol(symbol)) return null;
  const parts: string[] = [];
  let current = '';
  let i = 0;
  while (i < symbol.length && parts.length < 4) {
    const c = symbol[i]!;
    if (c === ' ') {
      if (symbol[i + 1] === ' ') {
        current += ' ';
        i += 2;
        continue;
      }
      parts.push(current);
      current = '';
      i++;
      continue;
    }
    current += c;
    i++;
  }
  if (parts.length < 4) return null;
  const [scheme, manager, name, version] = parts.map((p) => (p === '.' ? '' : p)) as [string, string, string, string];
  return { scheme, manager, name, version };
}
