// A small Go text/template engine with the Sprig functions Helm charts use, for rendering
// deploy/helm/executor in tests: no `helm` binary installs on these machines. It implements the language
// (actions with `{{-`/`-}}` trimming, comments, pipelines, parentheses, variables, if/else if/else,
// with, range, define/template/include) and the functions the chart calls; anything else is an error
// naming it, so a template that uses more fails here instead of rendering wrong. Go's semantics kept:
// truthiness (false, 0, nil, empty string, list or map), field access on a nil value is an error,
// `toYaml` has sorted keys and no trailing newline.
import { createHash } from 'node:crypto';
import yaml from 'js-yaml';

type Value = unknown;

interface TextNode { kind: 'text'; text: string }
interface ActionNode { kind: 'action'; pipeline: Pipeline }
interface IfNode { kind: 'if' | 'with'; branches: Array<{ pipeline: Pipeline | undefined; body: Node[] }> }
interface RangeNode { kind: 'range'; pipeline: Pipeline; body: Node[]; elseBody: Node[] }
interface TemplateNode { kind: 'template'; name: string; pipeline: Pipeline | undefined }
type Node = TextNode | ActionNode | IfNode | RangeNode | TemplateNode;

/** `$x := …` / `$x = …` / `$i, $v := …` (range), then commands joined by `|`. */
interface Pipeline { declare: string[]; assign: boolean; commands: Command[] }
type Arg =
  | { kind: 'field'; base: 'dot' | 'root' | string; path: string[] }
  | { kind: 'literal'; value: Value }
  | { kind: 'ident'; name: string }
  | { kind: 'sub'; pipeline: Pipeline };
type Command = Arg[];

// --- lexing and parsing ----------------------------------------------------------------------------

/** Splits a template into text and action sources, trimming where `{{-` and `-}}` say. */
function lex(source: string): Array<{ kind: 'text' | 'action'; value: string }> {
  const out: Array<{ kind: 'text' | 'action'; value: string }> = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open === -1) {
      out.push({ kind: 'text', value: source.slice(i) });
      break;
    }
    let text = source.slice(i, open);
    let start = open + 2;
    if (source[start] === '-' && /\s/.test(source[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    out.push({ kind: 'text', value: text });
    // Find the closing braces outside string literals.
    let j = start;
    let quote: string | undefined;
    for (; j < source.length; j++) {
      const ch = source[j]!;
      if (quote) {
        if (ch === '\\' && quote === '"') j++;
        else if (ch === quote) quote = undefined;
      } else if (ch === '"' || ch === '`') quote = ch;
      else if (source.startsWith('}}', j)) break;
    }
    if (j >= source.length) throw new Error('unclosed action');
    let inner = source.slice(start, j);
    i = j + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const rest = source.slice(i);
      i += rest.length - rest.replace(/^\s+/, '').length;
    }
    out.push({ kind: 'action', value: inner.trim() });
  }
  return out;
}

/** Tokens of one action: strings, numbers, `(`, `)`, `|`, `:=`, `=`, `,`, and words. */
function tokenize(action: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < action.length) {
    const ch = action[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < action.length && action[j] !== '"') j += action[j] === '\\' ? 2 : 1;
      tokens.push(action.slice(i, j + 1));
      i = j + 1;
    } else if (ch === '`') {
      const j = action.indexOf('`', i + 1);
      tokens.push(action.slice(i, j + 1));
      i = j + 1;
    } else if ('()|,'.includes(ch)) {
      tokens.push(ch);
      i++;
    } else if (action.startsWith(':=', i)) {
      tokens.push(':=');
      i += 2;
    } else if (ch === '=' ) {
      tokens.push('=');
      i++;
    } else {
      let j = i;
      while (j < action.length && !/[\s()|,]/.test(action[j]!) && !action.startsWith(':=', j)) j++;
      tokens.push(action.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

function parsePipeline(tokens: string[]): Pipeline {
  let pos = 0;
  const declare: string[] = [];
  let assign = false;
  // `$a, $b :=` or `$a :=` or `$a =`
  const decl = tokens.findIndex((t) => t === ':=' || t === '=');
  if (decl > 0 && tokens.slice(0, decl).every((t) => t === ',' || t.startsWith('$'))) {
    declare.push(...tokens.slice(0, decl).filter((t) => t !== ','));
    assign = tokens[decl] === '=';
    pos = decl + 1;
  }
  const parseArg = (): Arg => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error('unexpected end of action');
    if (t === '(') {
      let depth = 1;
      const start = pos;
      while (pos < tokens.length && depth > 0) {
        if (tokens[pos] === '(') depth++;
        if (tokens[pos] === ')') depth--;
        pos++;
      }
      const sub = parsePipeline(tokens.slice(start, pos - 1));
      return { kind: 'sub', pipeline: sub };
    }
    if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) as string };
    if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
    if (/^-?\d+(\.\d+)?$/.test(t)) return { kind: 'literal', value: Number(t) };
    if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
    if (t === 'nil') return { kind: 'literal', value: null };
    if (t === '.') return { kind: 'field', base: 'dot', path: [] };
    if (t.startsWith('.')) return { kind: 'field', base: 'dot', path: t.slice(1).split('.') };
    if (t === '$') return { kind: 'field', base: 'root', path: [] };
    if (t.startsWith('$.')) return { kind: 'field', base: 'root', path: t.slice(2).split('.') };
    if (t.startsWith('$')) {
      const [name, ...path] = t.split('.');
      return { kind: 'field', base: name!, path };
    }
    return { kind: 'ident', name: t };
  };
  const commands: Command[] = [];
  let current: Command = [];
  while (pos < tokens.length) {
    if (tokens[pos] === '|') {
      commands.push(current);
      current = [];
      pos++;
      continue;
    }
    current.push(parseArg());
  }
  commands.push(current);
  return { declare, assign, commands };
}

/** Parses a template into nodes, and collects its `define`s into `defines`. */
function parse(source: string, defines: Map<string, Node[]>): Node[] {
  const items = lex(source);
  let pos = 0;
  const parseList = (stopAt: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (pos < items.length) {
      const item = items[pos++]!;
      if (item.kind === 'text') {
        if (item.value !== '') nodes.push({ kind: 'text', text: item.value });
        continue;
      }
      const action = item.value;
      if (action.startsWith('/*')) continue;
      const [word] = action.split(/\s+/);
      const rest = action.slice(word!.length).trim();
      if (stopAt.includes(word!) || (word === 'else' && stopAt.includes('else'))) return { nodes, stop: action };
      if (word === 'if' || word === 'with') {
        const node: IfNode = { kind: word, branches: [] };
        let pipeline: Pipeline | undefined = parsePipeline(tokenize(rest));
        for (;;) {
          const { nodes: body, stop } = parseList(['else', 'end']);
          node.branches.push({ pipeline, body });
          if (stop === 'end') break;
          const elseRest = stop.slice(4).trim();
          if (elseRest.startsWith('if ')) pipeline = parsePipeline(tokenize(elseRest.slice(3)));
          else if (elseRest.startsWith('with ')) pipeline = parsePipeline(tokenize(elseRest.slice(5)));
          else pipeline = undefined;
          if (pipeline === undefined) {
            const { nodes: elseBody } = parseList(['end']);
            node.branches.push({ pipeline: undefined, body: elseBody });
            break;
          }
        }
        nodes.push(node);
      } else if (word === 'range') {
        const pipeline = parsePipeline(tokenize(rest));
        const { nodes: body, stop } = parseList(['else', 'end']);
        const elseBody = stop === 'end' ? [] : parseList(['end']).nodes;
        nodes.push({ kind: 'range', pipeline, body, elseBody });
      } else if (word === 'define') {
        const name = JSON.parse(rest) as string;
        const { nodes: body } = parseList(['end']);
        defines.set(name, body);
      } else if (word === 'template') {
        const m = /^("(?:[^"\\]|\\.)*")\s*(.*)$/.exec(rest);
        if (!m) throw new Error(`template: bad name in {{${action}}}`);
        nodes.push({ kind: 'template', name: JSON.parse(m[1]!) as string, pipeline: m[2] ? parsePipeline(tokenize(m[2])) : undefined });
      } else if (word === 'end' || word === 'else') {
        throw new Error(`unexpected {{${action}}}`);
      } else {
        nodes.push({ kind: 'action', pipeline: parsePipeline(tokenize(action)) });
      }
    }
    if (stopAt.length > 0) throw new Error(`missing {{end}} (expected one of ${stopAt.join(', ')})`);
    return { nodes, stop: '' };
  };
  return parseList([]).nodes;
}

// --- evaluation ------------------------------------------------------------------------------------

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
export function truthy(value: Value): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** How Go's template prints a value. */
function print(value: Value): string {
  if (value === null || value === undefined) return '<no value>';
  if (typeof value === 'object') return Array.isArray(value) ? `[${value.map(print).join(' ')}]` : `map[${Object.entries(value).sort().map(([k, v]) => `${k}:${print(v)}`).join(' ')}]`;
  return String(value);
}

function toYaml(value: Value): string {
  if (value === null || value === undefined) return 'null';
  return yaml.dump(value, { sortKeys: true, lineWidth: -1, noRefs: true }).replace(/\n$/, '');
}

function sprintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%([-0-9.]*)([svdqt%])/g, (_m, _flags, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[i++];
    if (verb === 'q') return JSON.stringify(String(arg));
    if (verb === 'd') return String(Math.trunc(Number(arg)));
    return typeof arg === 'object' && arg !== null ? print(arg) : String(arg ?? '');
  });
}

/** Variables: a block declares in its own frame; `$x = …` assigns where `$x` was declared, as in Go. */
class Vars {
  private readonly own = new Map<string, Value>();
  constructor(private readonly parent?: Vars) {}
  child(): Vars {
    return new Vars(this);
  }
  has(name: string): boolean {
    return this.own.has(name) || (this.parent?.has(name) ?? false);
  }
  get(name: string): Value {
    return this.own.has(name) ? this.own.get(name) : this.parent?.get(name);
  }
  declare(name: string, value: Value): void {
    this.own.set(name, value);
  }
  assign(name: string, value: Value): void {
    if (this.own.has(name)) this.own.set(name, value);
    else if (this.parent?.has(name)) this.parent.assign(name, value);
    else throw new Error(`undefined variable: ${name}`);
  }
}

interface Scope {
  dot: Value;
  root: Value;
  vars: Vars;
}

function rootVars(data: Value): Vars {
  const vars = new Vars();
  vars.declare('$', data);
  return vars;
}

export class GoTemplateEngine {
  private readonly defines = new Map<string, Node[]>();
  private readonly functions: Record<string, (...args: Value[]) => Value>;

  constructor() {
    this.functions = {
      include: (name, data) => this.renderDefine(String(name), data),
      toYaml: (v) => toYaml(v),
      toJson: (v) => JSON.stringify(v ?? null),
      toPrettyJson: (v) => JSON.stringify(v ?? null, null, 2),
      nindent: (n, s) => `\n${indent(Number(n), String(s))}`,
      indent: (n, s) => indent(Number(n), String(s)),
      quote: (...vs) => vs.map((v) => JSON.stringify(v === null || v === undefined ? '' : String(v))).join(' '),
      squote: (...vs) => vs.map((v) => `'${v === null || v === undefined ? '' : String(v)}'`).join(' '),
      default: (fallback, v) => (truthy(v) ? v : fallback),
      required: (message, v) => {
        if (v === null || v === undefined || v === '') throw new Error(String(message));
        return v;
      },
      fail: (message) => {
        throw new Error(String(message));
      },
      eq: (a, ...bs) => bs.some((b) => a === b),
      ne: (a, b) => a !== b,
      lt: (a, b) => (a as number) < (b as number),
      gt: (a, b) => (a as number) > (b as number),
      not: (v) => !truthy(v),
      and: (...vs) => vs.find((v) => !truthy(v)) ?? vs.at(-1),
      or: (...vs) => vs.find((v) => truthy(v)) ?? vs.at(-1),
      empty: (v) => !truthy(v),
      printf: (format, ...args) => sprintf(String(format), args),
      print: (...vs) => vs.map((v) => (typeof v === 'string' ? v : print(v))).join(''),
      trunc: (n, s) => String(s).slice(0, Number(n)),
      trimSuffix: (suffix, s) => (String(s).endsWith(String(suffix)) ? String(s).slice(0, -String(suffix).length) : String(s)),
      trim: (s) => String(s).trim(),
      lower: (s) => String(s).toLowerCase(),
      upper: (s) => String(s).toUpperCase(),
      replace: (from, to, s) => String(s).split(String(from)).join(String(to)),
      contains: (sub, s) => String(s).includes(String(sub)),
      hasPrefix: (prefix, s) => String(s).startsWith(String(prefix)),
      b64enc: (s) => Buffer.from(String(s)).toString('base64'),
      sha256sum: (s) => createHash('sha256').update(String(s)).digest('hex'),
      toString: (v: Value) => (typeof v === 'string' ? v : print(v)),
      int: (v) => Math.trunc(Number(v)),
      len: (v) => (typeof v === 'string' || Array.isArray(v) ? v.length : typeof v === 'object' && v !== null ? Object.keys(v).length : 0),
      join: (sep, list) => (list as Value[]).map((v) => (typeof v === 'string' ? v : print(v))).join(String(sep)),
      list: (...vs) => vs,
      append: (list, v) => [...((list as Value[] | null) ?? []), v],
      dict: (...kv) => Object.fromEntries(Array.from({ length: kv.length / 2 }, (_, i) => [String(kv[2 * i]), kv[2 * i + 1]])),
      set: (d, k, v) => {
        (d as Record<string, Value>)[String(k)] = v;
        return d;
      },
      hasKey: (d, k) => typeof d === 'object' && d !== null && Object.prototype.hasOwnProperty.call(d, String(k)),
      deepCopy: (v) => structuredClone(v),
      kindIs: (kind, v) => kindOf(v) === kind,
      ternary: (a, b, cond) => (truthy(cond) ? a : b),
    };
  }

  /**
   * Adds a template file: its defines become available to `include` and `template`, and so does the file
   * itself under `name` (as Helm names each file, e.g. `executor/templates/configmap.yaml`). Returns its nodes.
   */
  add(source: string, name?: string): Node[] {
    const nodes = parse(source, this.defines);
    if (name) this.defines.set(name, nodes);
    return nodes;
  }

  /** Renders parsed nodes with `data` as both `.` and `$`. */
  render(nodes: Node[], data: Value): string {
    return this.exec(nodes, { dot: data, root: data, vars: rootVars(data) });
  }

  private renderDefine(name: string, data: Value): string {
    const body = this.defines.get(name);
    if (!body) throw new Error(`template: no template "${name}" associated with template`);
    return this.exec(body, { dot: data, root: data, vars: rootVars(data) });
  }

  private exec(nodes: Node[], scope: Scope): string {
    let out = '';
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out += node.text;
          break;
        case 'action': {
          const value = this.pipeline(node.pipeline, scope);
          if (node.pipeline.declare.length === 0) out += print(value);
          break;
        }
        case 'if':
        case 'with':
          for (const branch of node.branches) {
            if (!branch.pipeline) {
              out += this.exec(branch.body, { ...scope, vars: scope.vars.child() });
              break;
            }
            const inner: Scope = { ...scope, vars: scope.vars.child() };
            const value = this.pipeline(branch.pipeline, inner);
            if (truthy(value)) {
              out += this.exec(branch.body, node.kind === 'with' ? { ...inner, dot: value } : inner);
              break;
            }
          }
          break;
        case 'range': {
          const inner: Scope = { ...scope, vars: scope.vars.child() };
          const declared = node.pipeline.declare;
          const value = this.pipeline({ ...node.pipeline, declare: [] }, inner);
          const entries: Array<[Value, Value]> = Array.isArray(value)
            ? value.map((v, i) => [i, v])
            : typeof value === 'object' && value !== null
              ? Object.keys(value).sort().map((k) => [k, (value as Record<string, Value>)[k]])
              : typeof value === 'number'
                ? Array.from({ length: value }, (_, i) => [i, i])
                : [];
          if (entries.length === 0) out += this.exec(node.elseBody, inner);
          for (const [key, item] of entries) {
            const vars = inner.vars.child();
            if (declared.length === 1) vars.declare(declared[0]!, item);
            if (declared.length === 2) {
              vars.declare(declared[0]!, key);
              vars.declare(declared[1]!, item);
            }
            out += this.exec(node.body, { ...inner, dot: item, vars });
          }
          break;
        }
        case 'template':
          out += this.renderDefine(node.name, node.pipeline ? this.pipeline(node.pipeline, scope) : null);
          break;
      }
    }
    return out;
  }

  private pipeline(pipeline: Pipeline, scope: Scope): Value {
    let value: Value = undefined;
    for (const [i, command] of pipeline.commands.entries()) {
      value = this.command(command, scope, i === 0 ? undefined : { value });
    }
    if (pipeline.declare.length > 0) {
      if (pipeline.assign) scope.vars.assign(pipeline.declare[0]!, value);
      else scope.vars.declare(pipeline.declare[0]!, value);
    }
    return value;
  }

  private command(command: Command, scope: Scope, piped: { value: Value } | undefined): Value {
    const [head, ...rest] = command;
    if (!head) throw new Error('empty command');
    if (head.kind === 'ident') {
      const fn = this.functions[head.name];
      if (!fn) throw new Error(`function "${head.name}" not defined (this test renderer implements: ${Object.keys(this.functions).sort().join(', ')})`);
      const args = rest.map((a) => this.arg(a, scope));
      if (piped) args.push(piped.value);
      return fn(...args);
    }
    if (rest.length > 0 || piped) throw new Error(`can't give argument to non-function ${JSON.stringify(head)}`);
    return this.arg(head, scope);
  }

  private arg(arg: Arg, scope: Scope): Value {
    switch (arg.kind) {
      case 'literal':
        return arg.value;
      case 'sub':
        return this.pipeline(arg.pipeline, { ...scope, vars: scope.vars.child() });
      case 'ident': {
        const fn = this.functions[arg.name];
        if (!fn) throw new Error(`function "${arg.name}" not defined`);
        return fn();
      }
      case 'field': {
        let value: Value = arg.base === 'dot' ? scope.dot : arg.base === 'root' ? scope.root : scope.vars.get(arg.base);
        if (arg.base !== 'dot' && arg.base !== 'root' && !scope.vars.has(arg.base)) throw new Error(`undefined variable: ${arg.base}`);
        for (const [i, key] of arg.path.entries()) {
          if (value === null || value === undefined) throw new Error(`nil pointer evaluating interface {}.${key} (at .${arg.path.slice(0, i + 1).join('.')})`);
          if (typeof value !== 'object') throw new Error(`can't evaluate field ${key} in type ${typeof value}`);
          value = (value as Record<string, Value>)[key];
        }
        return value;
      }
    }
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
