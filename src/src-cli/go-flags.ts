// Command-line flags the way Go's `flag` package reads them (src-cli is a Go program and index jobs
// call it so): `-name value`, `-name=value`, `--name` alike; a boolean flag takes no value unless it is
// written `-name=false`; parsing stops at the first argument that is not a flag, or after `--`.

export type FlagSpec = { kind: 'string'; default: string; usage: string } | { kind: 'int'; default: number; usage: string } | { kind: 'bool'; default: boolean; usage: string };

export type FlagValues<T extends Record<string, FlagSpec>> = {
  [K in keyof T]: T[K] extends { kind: 'string' } ? string : T[K] extends { kind: 'int' } ? number : boolean;
};

/** A usage error: Go's message, printed with the usage; exit status 2. */
export class FlagError extends Error {}

export function parseFlags<T extends Record<string, FlagSpec>>(specs: T, args: readonly string[]): { values: FlagValues<T>; set: Set<string>; rest: string[] } {
  const values: Record<string, string | number | boolean> = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.default;
  const set = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === 'h' || name === 'help') throw new FlagError('help requested');
    const spec = specs[name];
    if (!spec) throw new FlagError(`flag provided but not defined: -${name}`);
    let raw: string | undefined = eq < 0 ? undefined : body.slice(eq + 1);
    if (spec.kind === 'bool') {
      if (raw === undefined) values[name] = true;
      else if (/^(1|t|true|T|TRUE|True)$/.test(raw)) values[name] = true;
      else if (/^(0|f|false|F|FALSE|False)$/.test(raw)) values[name] = false;
      else throw new FlagError(`invalid boolean value ${JSON.stringify(raw)} for -${name}`);
    } else {
      if (raw === undefined) {
        if (i + 1 >= args.length) throw new FlagError(`flag needs an argument: -${name}`);
        raw = args[++i]!;
      }
      if (spec.kind === 'int') {
        if (!/^-?\d+$/.test(raw)) throw new FlagError(`invalid value ${JSON.stringify(raw)} for flag -${name}: parse error`);
        values[name] = Number(raw);
      } else {
        values[name] = raw;
      }
    }
    set.add(name);
  }
  return { values: values as FlagValues<T>, set, rest: args.slice(i) };
}

/** The flags' usage lines, as Go's PrintDefaults writes them. */
export function flagUsage(specs: Record<string, FlagSpec>): string {
  return Object.entries(specs)
    .map(([name, spec]) => {
      const type = spec.kind === 'bool' ? '' : ` ${spec.kind}`;
      const def = spec.kind === 'bool' ? (spec.default ? ' (default true)' : '') : spec.default === '' ? '' : ` (default ${JSON.stringify(spec.default)})`;
      return `  -${name}${type}\n    \t${spec.usage}${def}`;
    })
    .join('\n');
}
