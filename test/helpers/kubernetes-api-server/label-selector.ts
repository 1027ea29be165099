// Label selectors as the API server reads `?labelSelector=`: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
// `k in (a,b)`, `k notin (a,b)`, comma-separated (all must hold).

export type Requirement =
  | { key: string; op: 'eq' | 'ne'; value: string }
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

/** Parses a selector; throws an Error naming the bad requirement. */
export function parseSelector(selector: string): Requirement[] {
  const requirements: Requirement[] = [];
  // Split on commas that are not inside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '') parts.push(current);
  for (const raw of parts.map((p) => p.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(raw))) requirements.push({ key: m[1]!, op: m[2] === '!=' ? 'ne' : 'eq', value: m[3]! });
    else if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(raw))) requirements.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) });
    else if ((m = /^!(\S+)$/.exec(raw))) requirements.push({ key: m[1]!, op: 'notexists' });
    else if (/^\S+$/.test(raw)) requirements.push({ key: raw, op: 'exists' });
    else throw new Error(`unable to parse requirement: ${JSON.stringify(raw)}`);
  }
  return requirements;
}

export function matchesSelector(requirements: readonly Requirement[], labels: Record<string, string>): boolean {
  return requirements.every((r) => {
    const value = labels[r.key];
    switch (r.op) {
      case 'eq':
        return value === r.value;
      case 'ne':
        return value !== r.value;
      case 'exists':
        return value !== undefined;
      case 'notexists':
        return value === undefined;
      case 'in':
        return value !== undefined && r.values.includes(value);
      case 'notin':
        return value === undefined || !r.values.includes(value);
    }
  });
}
