// Executes Go text/template templates (Go's text/template/exec semantics): a set of named templates
// parsed with configurable delimiters and a function map injected by the caller on top of Go's builtins,
// the missingkey option, Go's truthiness, field access on maps, variables and their scopes, range over
// lists/maps (sorted keys)/integers with break and continue, template/block calls.
//
// Values are plain JavaScript data: objects are Go's map[string]interface{}, arrays its []interface{};
// `null` is a nil interface value, `undefined` Go's "no value" (a missing key under missingkey=default).
// A value of class GoUnknown stands for one not known yet (a partial evaluation: see GoUnknown).
import { formatValue, goTypeName } from './go-fmt.js';
import { GO_BUILTINS, isTrue, type GoFunction } from './go-builtins.js';
import { GoTemplateError } from './go-template-error.js';
import { parseGoTemplate, positionOf, type ArgNode, type CommandNode, type PipeNode, type TemplateNode } from './parse-go-template.js';

/** What a missing map key evaluates to, as Go's `missingkey=` option: default (no value), zero (nil), error. */
export type MissingKeyOption = 'default' | 'zero' | 'error';

export interface GoTemplateOptions {
  /** Default `{{` and `}}`; batch specs use `${{` and `}}`. */
  delimiters?: [string, string];
  /** Default 'default'. */
  missingKey?: MissingKeyOption;
  /** Functions beside Go's builtins (a name here replaces a builtin). */
  functions?: Record<string, GoFunction>;
  /** Deepest template-call nesting before an error; default 1000. */
  maxCallDepth?: number;
}

/**
 * A value not known yet. Partial evaluation (a batch spec's static `if:`): fields of an unknown value and
 * functions called with one are unknown too (`and`/`or` decide on the known operands before it); printing
 * one, or branching or ranging on one, throws GoUnknownValueError — the result depends on it.
 */
export class GoUnknown {
  constructor(readonly description: string) {}
}

/** Thrown when a template's output depends on a GoUnknown value. */
export class GoUnknownValueError extends Error {
  constructor(readonly value: GoUnknown) {
    super(`the template's result depends on ${value.description}, which is not known yet`);
    this.name = 'GoUnknownValueError';
  }
}

interface TemplateEntry {
  nodes: TemplateNode[];
  /** The source it was parsed from and that source's name (for positions in errors). */
  source: string;
  fileName: string;
}

const NO_FINAL = Symbol('no final value');
type Final = unknown;

class BreakSignal {}
class ContinueSignal {}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof GoUnknown);

/** A set of named templates sharing delimiters, options and functions (Go's *template.Template). */
export class GoTemplateSet {
  private readonly templates = new Map<string, TemplateEntry>();
  private readonly functions: Record<string, GoFunction>;
  readonly leftDelim: string;
  readonly rightDelim: string;
  readonly missingKey: MissingKeyOption;
  private readonly maxCallDepth: number;

  constructor(options: GoTemplateOptions = {}) {
    [this.leftDelim, this.rightDelim] = options.delimiters ?? ['{{', '}}'];
    if (this.leftDelim === '' || this.rightDelim === '') throw new Error('template delimiters must not be empty');
    this.missingKey = options.missingKey ?? 'default';
    this.functions = { ...GO_BUILTINS, ...options.functions };
    this.maxCallDepth = options.maxCallDepth ?? 1000;
  }

  /** Adds functions (Go's Funcs); templates parsed afterwards may call them. */
  addFunctions(functions: Record<string, GoFunction>): this {
    Object.assign(this.functions, functions);
    return this;
  }

  /** The argument counts a function declared (withArity); undefined: any. */
  functionArity(name: string): { min: number; max?: number } | undefined {
    return this.hasFunction(name) ? this.functions[name]!.goArity : undefined;
  }

  hasFunction(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.functions, name);
  }

  /** Parses `source` as the template `name`; its `define`s and `block`s join the set. Throws GoTemplateError. */
  parse(name: string, source: string): this {
    const parsed = parseGoTemplate(name, source, { leftDelim: this.leftDelim, rightDelim: this.rightDelim, hasFunction: (n) => this.hasFunction(n) });
    this.templates.set(name, { nodes: parsed.root, source, fileName: name });
    for (const [defined, nodes] of parsed.defines) this.templates.set(defined, { nodes, source, fileName: name });
    return this;
  }

  has(name: string): boolean {
    return this.templates.has(name);
  }

  /** The parsed nodes of a template (for callers that inspect a template statically). */
  nodes(name: string): TemplateNode[] | undefined {
    return this.templates.get(name)?.nodes;
  }

  /** Renders the template `name` with `data` as `.` and `$`. Throws GoTemplateError (or GoUnknownValueError). */
  execute(name: string, data: unknown): string {
    const entry = this.templates.get(name);
    if (!entry) throw new Error(`template: no template ${JSON.stringify(name)} associated with template set`);
    const state = new ExecState(this, this.functions, name, entry, data, 0);
    state.walk(data, entry.nodes);
    return state.out.join('');
  }

  /** @internal a nested {{template}} call. */
  callTemplate(caller: ExecState, name: string, data: unknown, depth: number): string {
    const entry = this.templates.get(name);
    if (!entry) caller.fail(`no such template ${JSON.stringify(name)}`);
    if (depth >= this.maxCallDepth) caller.fail(`exceeded maximum template depth (${this.maxCallDepth})`);
    const state = new ExecState(this, this.functions, name, entry, data, depth);
    state.walk(data, entry.nodes);
    return state.out.join('');
  }
}

class ExecState {
  readonly out: string[] = [];
  private vars: Array<{ name: string; value: unknown }>;
  private node: { pos: number; text: string } = { pos: 0, text: '' };

  constructor(
    private readonly set: GoTemplateSet,
    private readonly functions: Record<string, GoFunction>,
    private readonly name: string,
    private readonly entry: TemplateEntry,
    data: unknown,
    private readonly depth: number,
  ) {
    this.vars = [{ name: '$', value: data }];
  }

  fail(detail: string): never {
    const { line, column } = positionOf(this.entry.source, this.node.pos);
    throw new GoTemplateError('exec', this.entry.fileName, line, column, detail, this.node.text, this.name);
  }

  private at(node: { pos: number; text?: string }): void {
    this.node = { pos: node.pos, text: node.text ?? this.node.text };
  }

  private mark(): number {
    return this.vars.length;
  }
  private pop(mark: number): void {
    this.vars.length = mark;
  }
  private push(name: string, value: unknown): void {
    this.vars.push({ name, value });
  }
  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.fail(`undefined variable: ${name}`);
  }
  private varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return this.fail(`undefined variable: ${name}`);
  }

  walk(dot: unknown, nodes: TemplateNode[]): void {
    for (const node of nodes) {
      switch (node.type) {
        case 'text':
          this.out.push(node.text);
          break;
        case 'action': {
          this.at({ pos: node.pipe.pos, text: node.pipe.cmds.map((c) => c.text).join(' | ') });
          const value = this.evalPipeline(dot, node.pipe);
          if (node.pipe.decl.length === 0) this.out.push(this.printValue(value));
          break;
        }
        case 'if':
        case 'with': {
          const mark = this.mark();
          const value = this.evalPipeline(dot, node.pipe);
          if (this.truth(value)) this.walk(node.type === 'with' ? value : dot, node.list);
          else if (node.elseList) this.walk(dot, node.elseList);
          this.pop(mark);
          break;
        }
        case 'range':
          this.walkRange(dot, node.pipe, node.list, node.elseList);
          break;
        case 'template': {
          this.at({ pos: node.pos, text: `template ${JSON.stringify(node.name)}` });
          const data = node.pipe ? this.evalPipeline(dot, node.pipe) : undefined;
          this.out.push(this.set.callTemplate(this, node.name, data, this.depth + 1));
          break;
        }
        case 'break':
          throw new BreakSignal();
        case 'continue':
          throw new ContinueSignal();
      }
    }
  }

  private truth(value: unknown): boolean {
    if (value instanceof GoUnknown) throw new GoUnknownValueError(value);
    return isTrue(value);
  }

  private walkRange(dot: unknown, pipe: PipeNode, list: TemplateNode[], elseList: TemplateNode[] | undefined): void {
    const mark = this.mark();
    this.at({ pos: pipe.pos, text: pipe.cmds.map((c) => c.text).join(' | ') });
    const value = this.evalPipeline(dot, { ...pipe, decl: [] });
    if (value instanceof GoUnknown) throw new GoUnknownValueError(value);
    let entries: Array<[unknown, unknown]>;
    if (value === null || value === undefined) entries = [];
    else if (Array.isArray(value)) entries = value.map((v, i) => [i, v]);
    else if (isMap(value)) entries = Object.keys(value).sort().map((k) => [k, value[k] ?? null]);
    else if (typeof value === 'number' && Number.isInteger(value)) entries = Array.from({ length: Math.max(0, value) }, (_, i) => [i, i]);
    else return this.fail(`range can't iterate over ${formatValue(value)}`);
    if (typeof value === 'number' && pipe.decl.length > 1) this.fail(`can't use ${value} to iterate over more than one variable`);
    for (const [key, elem] of entries) {
      const iterationMark = this.mark();
      if (pipe.decl.length === 1) {
        if (pipe.isAssign) this.setVar(pipe.decl[0]!, elem);
        else this.push(pipe.decl[0]!, elem);
      } else if (pipe.decl.length === 2) {
        if (pipe.isAssign) {
          this.setVar(pipe.decl[0]!, key);
          this.setVar(pipe.decl[1]!, elem);
        } else {
          this.push(pipe.decl[0]!, key);
          this.push(pipe.decl[1]!, elem);
        }
      }
      try {
        this.walk(elem, list);
      } catch (signal) {
        if (signal instanceof BreakSignal) {
          this.pop(iterationMark);
          break;
        }
        if (!(signal instanceof ContinueSignal)) throw signal;
      }
      this.pop(iterationMark);
    }
    if (entries.length === 0 && elseList) this.walk(dot, elseList);
    this.pop(mark);
  }

  /** How an action prints its value: "<no value>" for nil, fmt's %v otherwise. */
  private printValue(value: unknown): string {
    if (value instanceof GoUnknown) throw new GoUnknownValueError(value);
    if (value === null || value === undefined) return '<no value>';
    if (containsUnknown(value)) throw new GoUnknownValueError(findUnknown(value)!);
    return formatValue(value);
  }

  private evalPipeline(dot: unknown, pipe: PipeNode): unknown {
    let value: unknown = NO_FINAL;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(dot, cmd, value);
      // Go digs a nil interface out to "no value" after each command.
    }
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, value);
      else this.push(name, value);
    }
    return value;
  }

  private notAFunction(args: ArgNode[], final: Final): void {
    if (args.length > 1 || final !== NO_FINAL) this.fail(`can't give argument to non-function ${args[0]!.text}`);
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    const first = cmd.args[0]!;
    this.at(first);
    switch (first.type) {
      case 'field':
        return this.evalFieldChain(dot, dot, first, first.idents, cmd.args, final);
      case 'chain':
        return this.evalChain(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first.pipe);
      case 'variable':
        return this.evalVariable(dot, first, cmd.args, final);
    }
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
      case 'number':
      case 'string':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        return this.fail('nil is not a command');
    }
  }

  private evalChain(dot: unknown, chain: Extract<ArgNode, { type: 'chain' }>, args: ArgNode[], final: Final): unknown {
    if (chain.node.type === 'nil') this.fail(`indirection through explicit nil in ${chain.text}`);
    const receiver = this.evalArg(dot, chain.node);
    this.at(chain);
    return this.evalFieldChain(dot, receiver, chain, chain.fields, args, final);
  }

  private evalVariable(dot: unknown, variable: Extract<ArgNode, { type: 'variable' }>, args: ArgNode[], final: Final): unknown {
    this.at(variable);
    const value = this.varValue(variable.idents[0]!);
    if (variable.idents.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, variable, variable.idents.slice(1), args, final);
  }

  private evalFieldChain(dot: unknown, receiver: unknown, node: ArgNode, idents: string[], args: ArgNode[], final: Final): unknown {
    this.at(node);
    let value = receiver;
    for (const [i, ident] of idents.entries()) {
      const last = i === idents.length - 1;
      value = this.evalField(ident, last ? args : [], last ? final : NO_FINAL, value);
    }
    void dot;
    return value;
  }

  private evalField(fieldName: string, args: ArgNode[], final: Final, receiver: unknown): unknown {
    if (receiver instanceof GoUnknown) return receiver;
    if (receiver === undefined) {
      if (this.set.missingKey === 'error') this.fail(`nil data; no entry for key ${JSON.stringify(fieldName)}`);
      return undefined;
    }
    if (receiver === null) this.fail(`nil pointer evaluating interface {}.${fieldName}`);
    if (isMap(receiver)) {
      if (args.length > 1 || final !== NO_FINAL) this.fail(`${fieldName} is not a method but has arguments`);
      if (Object.prototype.hasOwnProperty.call(receiver, fieldName)) return receiver[fieldName] ?? null;
      switch (this.set.missingKey) {
        case 'default':
          return undefined;
        case 'zero':
          return null;
        case 'error':
          return this.fail(`map has no entry for key ${JSON.stringify(fieldName)}`);
      }
    }
    return this.fail(`can't evaluate field ${fieldName} in type ${goTypeName(receiver)}`);
  }

  private evalFunction(dot: unknown, node: Extract<ArgNode, { type: 'identifier' }>, args: ArgNode[], final: Final): unknown {
    this.at(node);
    const name = node.name;
    const fn = Object.prototype.hasOwnProperty.call(this.functions, name) ? this.functions[name] : undefined;
    if (!fn) this.fail(`${JSON.stringify(name)} is not a defined function`);
    const operands = args.slice(1);
    if ((name === 'and' || name === 'or') && fn === GO_BUILTINS[name]) return this.evalShortCircuit(dot, node, name, operands, final);
    const values = operands.map((a) => this.evalArg(dot, a));
    if (final !== NO_FINAL) values.push(final);
    this.at(node);
    const arity = fn.goArity;
    if (arity) {
      if (values.length < arity.min || (arity.max !== undefined && values.length > arity.max)) {
        const want = arity.max === arity.min ? `${arity.min}` : arity.max === undefined ? `at least ${arity.min}` : `${arity.min} to ${arity.max}`;
        this.fail(`wrong number of args for ${name}: want ${want} got ${values.length}`);
      }
    }
    const unknown = values.find((v): v is GoUnknown => v instanceof GoUnknown);
    if (unknown) return unknown;
    try {
      return fn(...values);
    } catch (err) {
      if (err instanceof GoUnknownValueError) throw err;
      const message = err instanceof GoTemplateError ? err.message : (err as Error).message ?? String(err);
      return this.fail(`error calling ${name}: ${message}`);
    }
  }

  /** and/or: the operands evaluated one by one; the first that decides is the result (Go 1.18). */
  private evalShortCircuit(dot: unknown, node: ArgNode, name: 'and' | 'or', operands: ArgNode[], final: Final): unknown {
    const count = operands.length + (final === NO_FINAL ? 0 : 1);
    if (count === 0) this.fail(`wrong number of args for ${name}: want at least 1 got 0`);
    let value: unknown;
    let unknown: GoUnknown | undefined;
    const decides = (v: unknown): boolean => (name === 'and' ? !isTrue(v) : isTrue(v));
    for (let i = 0; i < count; i++) {
      value = i < operands.length ? this.evalArg(dot, operands[i]!) : final;
      this.at(node);
      if (value instanceof GoUnknown) {
        unknown ??= value;
        continue;
      }
      if (decides(value)) return unknown ?? value;
    }
    return unknown ?? value;
  }

  private evalArg(dot: unknown, arg: ArgNode): unknown {
    this.at(arg);
    switch (arg.type) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'field':
        return this.evalFieldChain(dot, dot, arg, arg.idents, [arg], NO_FINAL);
      case 'variable':
        return this.evalVariable(dot, arg, [], NO_FINAL);
      case 'pipe':
        return this.evalPipeline(dot, arg.pipe);
      case 'identifier':
        return this.evalFunction(dot, arg, [arg], NO_FINAL);
      case 'chain':
        return this.evalChain(dot, arg, [], NO_FINAL);
      case 'bool':
      case 'number':
      case 'string':
        return arg.value;
    }
  }
}

function findUnknown(value: unknown): GoUnknown | undefined {
  if (value instanceof GoUnknown) return value;
  if (Array.isArray(value)) {
    for (const v of value) {
      const u = findUnknown(v);
      if (u) return u;
    }
  } else if (isMap(value)) {
    for (const v of Object.values(value)) {
      const u = findUnknown(v);
      if (u) return u;
    }
  }
  return undefined;
}
const containsUnknown = (value: unknown): boolean => typeof value === 'object' && value !== null && findUnknown(value) !== undefined;

/** Parses and renders one template text. Throws GoTemplateError. */
export function renderGoTemplate(text: string, data: unknown, options: GoTemplateOptions & { name?: string } = {}): string {
  const name = options.name ?? 'template';
  return new GoTemplateSet(options).parse(name, text).execute(name, data);
}
