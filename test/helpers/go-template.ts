// The Sprig functions Helm charts use, on top of the Go text/template engine in src/shared/go-template, for
// rendering deploy/helm/executor in tests: no `helm` binary installs on these machines. Helm's options are
// kept: missingkey=zero (a missing value is nil, so a field of it fails as helm fails: "nil pointer
// evaluating interface {}.x"), `include`, `toYaml` with sorted keys and no trailing newline. A function
// the chart calls that is not here fails at parse time naming it, so a template that uses more fails here
// instead of rendering wrong.
import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import { GoTemplateSet, formatValue, isTrue, type GoFunction } from '../../src/shared/go-template/index.js';

type Value = unknown;

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
export const truthy = isTrue;

function toYaml(value: Value): string {
  if (value === null || value === undefined) return 'null';
  return yaml.dump(value, { sortKeys: true, lineWidth: -1, noRefs: true }).replace(/\n$/, '');
}

/** Sprig's toString / the string form of a value (fmt's %v). */
const str = (v: Value): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : formatValue(v));

/** A parsed template file, to render with GoTemplateEngine.render. */
export interface ParsedTemplate {
  name: string;
}

export class GoTemplateEngine {
  private readonly set: GoTemplateSet;
  private anonymous = 0;

  constructor() {
    const functions: Record<string, GoFunction> = {
      include: (name: Value, data: Value) => this.set.execute(String(name), data),
      toYaml: (v: Value) => toYaml(v),
      toJson: (v: Value) => JSON.stringify(v ?? null),
      toPrettyJson: (v: Value) => JSON.stringify(v ?? null, null, 2),
      nindent: (n: Value, s: Value) => `\n${indent(Number(n), str(s))}`,
      indent: (n: Value, s: Value) => indent(Number(n), str(s)),
      quote: (...vs: Value[]) => vs.map((v) => JSON.stringify(str(v))).join(' '),
      squote: (...vs: Value[]) => vs.map((v) => `'${str(v)}'`).join(' '),
      default: (fallback: Value, v?: Value) => (isTrue(v) ? v : fallback),
      required: (message: Value, v: Value) => {
        if (v === null || v === undefined || v === '') throw new Error(String(message));
        return v;
      },
      fail: (message: Value) => {
        throw new Error(String(message));
      },
      empty: (v: Value) => !isTrue(v),
      trunc: (n: Value, s: Value) => str(s).slice(0, Number(n)),
      trimSuffix: (suffix: Value, s: Value) => (str(s).endsWith(str(suffix)) ? str(s).slice(0, -str(suffix).length) : str(s)),
      trim: (s: Value) => str(s).trim(),
      lower: (s: Value) => str(s).toLowerCase(),
      upper: (s: Value) => str(s).toUpperCase(),
      replace: (from: Value, to: Value, s: Value) => str(s).split(str(from)).join(str(to)),
      contains: (sub: Value, s: Value) => str(s).includes(str(sub)),
      hasPrefix: (prefix: Value, s: Value) => str(s).startsWith(str(prefix)),
      b64enc: (s: Value) => Buffer.from(str(s)).toString('base64'),
      sha256sum: (s: Value) => createHash('sha256').update(str(s)).digest('hex'),
      toString: (v: Value) => str(v),
      int: (v: Value) => Math.trunc(Number(v)),
      join: (sep: Value, list: Value) => ((list as Value[] | null) ?? []).map(str).join(str(sep)),
      list: (...vs: Value[]) => vs,
      append: (list: Value, v: Value) => [...((list as Value[] | null) ?? []), v],
      dict: (...kv: Value[]) => Object.fromEntries(Array.from({ length: kv.length / 2 }, (_, i) => [String(kv[2 * i]), kv[2 * i + 1]])),
      set: (d: Value, k: Value, v: Value) => {
        (d as Record<string, Value>)[String(k)] = v;
        return d;
      },
      hasKey: (d: Value, k: Value) => typeof d === 'object' && d !== null && Object.prototype.hasOwnProperty.call(d, String(k)),
      deepCopy: (v: Value) => structuredClone(v),
      kindIs: (kind: Value, v: Value) => kindOf(v) === kind,
      ternary: (a: Value, b: Value, cond: Value) => (isTrue(cond) ? a : b),
    };
    this.set = new GoTemplateSet({ missingKey: 'zero', functions });
  }

  /**
   * Adds a template file: its defines become available to `include` and `template`, and so does the file
   * itself under `name` (as Helm names each file, e.g. `executor/templates/configmap.yaml`).
   */
  add(source: string, name?: string): ParsedTemplate {
    const templateName = name ?? `anonymous-${++this.anonymous}`;
    this.set.parse(templateName, source);
    return { name: templateName };
  }

  /** Renders a file added before with `data` as both `.` and `$`. */
  render(template: ParsedTemplate, data: Value): string {
    return this.set.execute(template.name, data);
  }
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return s
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

function kindOf(v: Value): string {
  if (v === null || v === undefined) return 'invalid';
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  return typeof v === 'boolean' ? 'bool' : 'string';
}
