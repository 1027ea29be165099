// The lexer and parser of Go's text/template language (the grammar of Go's text/template/parse): text and
// actions between configurable delimiters, `{{-`/`-}}` trimming, comments, pipelines with declarations and
// assignments, parenthesised pipelines, field chains, if/else if/else, with/else with, range (with break and
// continue), define/template/block. Go's parse-time checks are kept: an undefined function or variable, an
// unexpected token, a missing {{end}} fail here, naming the line and column.
import { GoTemplateError } from './go-template-error.js';

export interface TextNode { type: 'text'; pos: number; text: string }
export interface ActionNode { type: 'action'; pos: number; pipe: PipeNode }
export interface BranchNode { type: 'if' | 'with' | 'range'; pos: number; pipe: PipeNode; list: TemplateNode[]; elseList?: TemplateNode[] }
export interface TemplateCallNode { type: 'template'; pos: number; name: string; pipe?: PipeNode }
export interface LoopControlNode { type: 'break' | 'continue'; pos: number }
export type TemplateNode = TextNode | ActionNode | BranchNode | TemplateCallNode | LoopControlNode;

export interface PipeNode {
  pos: number;
  /** `=` rather than `:=`. */
  isAssign: boolean;
  /** The variables declared or assigned (`$x`, or `$i, $e` in range). */
  decl: string[];
  cmds: CommandNode[];
}
export interface CommandNode { pos: number; args: ArgNode[]; text: string }
export type ArgNode =
  /** `.a.b` (idents `['a','b']`). */
  | { type: 'field'; pos: number; text: string; idents: string[] }
  /** `$x.a.b` (idents `['$x','a','b']`); `$` alone is the data. */
  | { type: 'variable'; pos: number; text: string; idents: string[] }
  /** `(pipe).a.b`, or `fn.a.b`: a function's result or a parenthesised pipeline's, then fields. */
  | { type: 'chain'; pos: number; text: string; node: ArgNode; fields: string[] }
  | { type: 'identifier'; pos: number; text: string; name: string }
  | { type: 'dot'; pos: number; text: string }
  | { type: 'nil'; pos: number; text: string }
  | { type: 'bool'; pos: number; text: string; value: boolean }
  | { type: 'number'; pos: number; text: string; value: number; isInt: boolean }
  | { type: 'string'; pos: number; text: string; value: string }
  | { type: 'pipe'; pos: number; text: string; pipe: PipeNode };

export interface ParseOptions {
  leftDelim: string;
  rightDelim: string;
  /** Whether a function name is known (Go refuses an unknown one at parse time). */
  hasFunction: (name: string) => boolean;
}

/** A parsed template file: its main body and the templates it defines (`define`, `block`). */
export interface ParsedTemplates {
  root: TemplateNode[];
  defines: Map<string, TemplateNode[]>;
}

type ItemType =
  | 'text' | 'leftDelim' | 'rightDelim' | 'space' | 'identifier' | 'keyword' | 'field' | 'variable' | 'dot' | 'nil' | 'bool'
  | 'number' | 'charConstant' | 'string' | 'rawString' | 'char' | 'pipe' | 'leftParen' | 'rightParen' | 'declare' | 'assign' | 'eof';
interface Item { type: ItemType; pos: number; val: string }

const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with']);
const isSpace = (ch: string | undefined): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
const isAlphaNumeric = (ch: string | undefined): boolean => ch !== undefined && /[\p{L}\p{Nd}_]/u.test(ch);

/** 1-based line and column of `offset` in `source`. */
export function positionOf(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

function lex(name: string, source: string, left: string, right: string): Item[] {
  const items: Item[] = [];
  const fail = (pos: number, message: string): never => {
    const { line, column } = positionOf(source, pos);
    throw new GoTemplateError('parse', name, line, column, message);
  };
  const atRightDelim = (p: number): { delim: boolean; trim: boolean } => {
    if (isSpace(source[p]) && source[p + 1] === '-' && source.startsWith(right, p + 2)) return { delim: true, trim: true };
    return { delim: source.startsWith(right, p), trim: false };
  };
  const atTerminator = (p: number): boolean => {
    const ch = source[p];
    if (ch === undefined || isSpace(ch) || '.,|:()'.includes(ch)) return true;
    return source.startsWith(right, p);
  };
  let pos = 0;
  let trimNextText = false;
  for (;;) {
    const open = source.indexOf(left, pos);
    let text = open === -1 ? source.slice(pos) : source.slice(pos, open);
    if (trimNextText) text = text.replace(/^[ \t\r\n]+/, '');
    const textStart = open === -1 ? source.length - text.length : open - text.length;
    let start = open + left.length;
    const trimLeft = open !== -1 && source[start] === '-' && isSpace(source[start + 1]);
    if (trimLeft) text = text.replace(/[ \t\r\n]+$/, '');
    if (text !== '') items.push({ type: 'text', pos: textStart, val: text });
    if (open === -1) break;
    if (trimLeft) start += 2;
    // A comment: `{{/* … */}}`, the delimiters right against it (or with trim markers).
    if (source.startsWith('/*', start)) {
      const close = source.indexOf('*/', start + 2);
      if (close === -1) fail(open, 'unclosed comment');
      const end = atRightDelim(close + 2);
      if (!end.delim) fail(close, 'comment ends before closing delimiter');
      pos = close + 2 + (end.trim ? 2 : 0) + right.length;
      trimNextText = end.trim;
      continue;
    }
    items.push({ type: 'leftDelim', pos: open, val: left });
    let p = start;
    let parenDepth = 0;
    for (;;) {
      const end = atRightDelim(p);
      if (end.delim) {
        if (parenDepth > 0) fail(p, 'unclosed left paren');
        items.push({ type: 'rightDelim', pos: p, val: right });
        p += (end.trim ? 2 : 0) + right.length;
        trimNextText = end.trim;
        break;
      }
      const ch = source[p];
      if (ch === undefined) throw fail(open, 'unclosed action');
      if (isSpace(ch)) {
        let q = p;
        while (isSpace(source[q]) && !atRightDelim(q).trim) q++;
        if (q > p) items.push({ type: 'space', pos: p, val: source.slice(p, q) });
        p = q;
        continue;
      }
      if (ch === '=') {
        items.push({ type: 'assign', pos: p, val: '=' });
        p++;
      } else if (ch === ':') {
        if (source[p + 1] !== '=') fail(p, 'expected :=');
        items.push({ type: 'declare', pos: p, val: ':=' });
        p += 2;
      } else if (ch === '|') {
        items.push({ type: 'pipe', pos: p, val: '|' });
        p++;
      } else if (ch === '"') {
        let q = p + 1;
        for (;;) {
          const c = source[q];
          if (c === undefined || c === '\n') fail(p, 'unterminated quoted string');
          if (c === '\\') q += 2;
          else if (c === '"') break;
          else q++;
        }
        items.push({ type: 'string', pos: p, val: source.slice(p, q + 1) });
        p = q + 1;
      } else if (ch === '`') {
        const q = source.indexOf('`', p + 1);
        if (q === -1) fail(p, 'unterminated raw quoted string');
        items.push({ type: 'rawString', pos: p, val: source.slice(p, q + 1) });
        p = q + 1;
      } else if (ch === "'") {
        let q = p + 1;
        for (;;) {
          const c = source[q];
          if (c === undefined || c === '\n') fail(p, 'unterminated character constant');
          if (c === '\\') q += 2;
          else if (c === "'") break;
          else q++;
        }
        items.push({ type: 'charConstant', pos: p, val: source.slice(p, q + 1) });
        p = q + 1;
      } else if (ch === '$' || (ch === '.' && !/[0-9]/.test(source[p + 1] ?? ''))) {
        let q = p + 1;
        while (isAlphaNumeric(source[q])) q++;
        if (ch === '.' && q === p + 1) {
          items.push({ type: 'dot', pos: p, val: '.' });
        } else {
          if (!atTerminator(q)) fail(q, `bad character ${JSON.stringify(source[q])}`);
          items.push({ type: ch === '$' ? 'variable' : 'field', pos: p, val: source.slice(p, q) });
        }
        p = q;
      } else if (/[0-9+\-.]/.test(ch)) {
        const m = /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)/.exec(source.slice(p));
        const len = m?.[0].length ?? 0;
        if (len === 0 || (len === 1 && !/[0-9]/.test(ch)) || isAlphaNumeric(source[p + len])) {
          let q = p + Math.max(len, 1);
          while (isAlphaNumeric(source[q]) || source[q] === '.') q++;
          fail(p, `bad number syntax: ${JSON.stringify(source.slice(p, q))}`);
        }
        items.push({ type: 'number', pos: p, val: source.slice(p, p + len) });
        p += len;
      } else if (isAlphaNumeric(ch)) {
        let q = p;
        while (isAlphaNumeric(source[q])) q++;
        if (!atTerminator(q)) fail(q, `bad character ${JSON.stringify(source[q])}`);
        const word = source.slice(p, q);
        const type: ItemType = KEYWORDS.has(word) ? 'keyword' : word === 'true' || word === 'false' ? 'bool' : word === 'nil' ? 'nil' : 'identifier';
        items.push({ type, pos: p, val: word });
        p = q;
      } else if (ch === '(') {
        parenDepth++;
        items.push({ type: 'leftParen', pos: p, val: '(' });
        p++;
      } else if (ch === ')') {
        parenDepth--;
        if (parenDepth < 0) fail(p, 'unexpected right paren');
        items.push({ type: 'rightParen', pos: p, val: ')' });
        p++;
      } else if (ch === ',') {
        items.push({ type: 'char', pos: p, val: ',' });
        p++;
      } else {
        fail(p, `unrecognized character in action: ${JSON.stringify(ch)}`);
      }
    }
    pos = p;
  }
  items.push({ type: 'eof', pos: source.length, val: '' });
  return items;
}

/** Go's strconv.Unquote for a double-quoted string literal. */
function unquote(literal: string): string {
  const body = literal.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (whole, esc: string) => {
    switch (esc[0]) {
      case 'a': return '\x07';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'v': return '\v';
      case '\\': return '\\';
      case '"': return '"';
      case "'": return "'";
      case 'x': return String.fromCharCode(parseInt(esc.slice(1), 16));
      case 'u':
      case 'U': return String.fromCodePoint(parseInt(esc.slice(1), 16));
      default:
        if (/^[0-7]{3}$/.test(esc)) return String.fromCharCode(parseInt(esc, 8));
        throw new Error(`invalid escape ${whole}`);
    }
  });
}

type StopNode = { type: 'end' | 'else'; pos: number; item: Item };

class Parser {
  private p = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  readonly defines = new Map<string, TemplateNode[]>();

  constructor(
    private readonly name: string,
    private readonly source: string,
    private readonly items: Item[],
    private readonly options: ParseOptions,
  ) {}

  fail(pos: number, message: string): never {
    const { line, column } = positionOf(this.source, pos);
    throw new GoTemplateError('parse', this.name, line, column, message);
  }

  private next(): Item {
    return this.items[this.p++] ?? this.items[this.items.length - 1]!;
  }
  private backup(n = 1): void {
    this.p -= n;
  }
  private peek(): Item {
    return this.items[this.p] ?? this.items[this.items.length - 1]!;
  }
  private nextNonSpace(): Item {
    let item = this.next();
    while (item.type === 'space') item = this.next();
    return item;
  }
  private peekNonSpace(): Item {
    const save = this.p;
    const item = this.nextNonSpace();
    this.p = save;
    return item;
  }
  private describe(item: Item): string {
    if (item.type === 'eof') return 'EOF';
    if (item.type === 'keyword') return `<${item.val}>`;
    return item.val.length > 10 ? `${JSON.stringify(item.val.slice(0, 10))}...` : JSON.stringify(item.val);
  }
  private unexpected(item: Item, context: string): never {
    return this.fail(item.pos, `unexpected ${this.describe(item)} in ${context}`);
  }
  private expect(type: ItemType, context: string): Item {
    const item = this.nextNonSpace();
    if (item.type !== type) this.unexpected(item, context);
    return item;
  }

  parse(): TemplateNode[] {
    const root: TemplateNode[] = [];
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'leftDelim') {
        const delim = this.next();
        const word = this.nextNonSpace();
        if (word.type === 'keyword' && word.val === 'define') {
          this.parseDefinition(delim.pos, 'define clause');
          continue;
        }
        this.p = this.items.indexOf(delim);
      }
      const node = this.textOrAction();
      if ('item' in node) this.fail(node.pos, `unexpected {{${node.type}}}`);
      root.push(node);
    }
    return root;
  }

  private parseDefinition(pos: number, context: string): void {
    const nameItem = this.nextNonSpace();
    if (nameItem.type !== 'string' && nameItem.type !== 'rawString') this.unexpected(nameItem, context);
    const name = nameItem.type === 'string' ? unquote(nameItem.val) : nameItem.val.slice(1, -1);
    this.expect('rightDelim', context);
    const savedVars = this.vars;
    this.vars = ['$'];
    const [list, stop] = this.itemList();
    if (stop.type !== 'end') this.fail(stop.pos, `unexpected {{${stop.type}}} in ${context}`);
    this.vars = savedVars;
    void pos;
    this.defines.set(name, list);
  }

  /** Nodes until {{end}} or {{else}}; an EOF before either is an error. */
  private itemList(): [TemplateNode[], StopNode] {
    const list: TemplateNode[] = [];
    while (this.peekNonSpace().type !== 'eof') {
      const node = this.textOrAction();
      if ('item' in node) return [list, node];
      list.push(node);
    }
    return this.fail(this.source.length, 'unexpected EOF');
  }

  private textOrAction(): TemplateNode | StopNode {
    const item = this.nextNonSpace();
    if (item.type === 'text') return { type: 'text', pos: item.pos, text: item.val };
    if (item.type === 'leftDelim') return this.action();
    return this.unexpected(item, 'input');
  }

  private action(): TemplateNode | StopNode {
    const item = this.nextNonSpace();
    if (item.type === 'keyword') {
      switch (item.val) {
        case 'block': return this.blockControl(item);
        case 'break':
        case 'continue': {
          if (this.rangeDepth === 0) this.fail(item.pos, `{{${item.val}}} outside {{range}}`);
          this.expect('rightDelim', item.val);
          return { type: item.val, pos: item.pos };
        }
        case 'else': {
          const peek = this.peekNonSpace();
          // `{{else if …}}` / `{{else with …}}`: the else here, the if/with parsed by the caller.
          if (!(peek.type === 'keyword' && (peek.val === 'if' || peek.val === 'with'))) this.expect('rightDelim', 'else');
          return { type: 'else', pos: item.pos, item };
        }
        case 'end':
          this.expect('rightDelim', 'end');
          return { type: 'end', pos: item.pos, item };
        case 'if':
        case 'with':
        case 'range':
          return this.control(item.val, item.pos);
        case 'template': return this.templateControl(item);
        case 'define': return this.fail(item.pos, 'unexpected <define> in command: define is only allowed at the top level');
      }
    }
    this.backup();
    const pipe = this.pipeline('command', 'rightDelim');
    return { type: 'action', pos: item.pos, pipe };
  }

  private control(context: 'if' | 'with' | 'range', pos: number): BranchNode {
    const varsAtStart = this.vars.length;
    const pipe = this.pipeline(context, 'rightDelim');
    if (context === 'range') this.rangeDepth++;
    const [list, firstStop] = this.itemList();
    let stop = firstStop;
    if (context === 'range') this.rangeDepth--;
    let elseList: TemplateNode[] | undefined;
    if (stop.type === 'else') {
      const peek = this.peekNonSpace();
      if ((context === 'if' || context === 'with') && peek.type === 'keyword' && peek.val === context) {
        this.nextNonSpace();
        elseList = [this.control(context, peek.pos)];
      } else {
        [elseList, stop] = this.itemList();
        if (stop.type !== 'end') this.fail(stop.pos, `expected end; found {{${stop.type}}}`);
      }
    }
    this.vars.length = varsAtStart;
    return { type: context, pos, pipe, list, elseList };
  }

  private templateName(context: string): string {
    const item = this.nextNonSpace();
    if (item.type === 'string') return unquote(item.val);
    if (item.type === 'rawString') return item.val.slice(1, -1);
    return this.unexpected(item, context);
  }

  private templateControl(item: Item): TemplateCallNode {
    const name = this.templateName('template clause');
    let pipe: PipeNode | undefined;
    if (this.peekNonSpace().type !== 'rightDelim') pipe = this.pipeline('template clause', 'rightDelim');
    else this.nextNonSpace();
    return { type: 'template', pos: item.pos, name, pipe };
  }

  /** `{{block "name" pipeline}} … {{end}}`: defines the template and executes it in place. */
  private blockControl(item: Item): TemplateCallNode {
    const name = this.templateName('block clause');
    const pipe = this.pipeline('block clause', 'rightDelim');
    const savedVars = this.vars;
    this.vars = ['$'];
    const [list, stop] = this.itemList();
    if (stop.type !== 'end') this.fail(stop.pos, 'unexpected {{else}} in block clause');
    this.vars = savedVars;
    this.defines.set(name, list);
    return { type: 'template', pos: item.pos, name, pipe };
  }

  private pipeline(context: string, end: 'rightDelim' | 'rightParen'): PipeNode {
    const pipe: PipeNode = { pos: this.peekNonSpace().pos, isAssign: false, decl: [], cmds: [] };
    // Declarations: `$x :=`, `$x =`, and in range `$i, $e :=`.
    decls: for (;;) {
      const save = this.p;
      const v = this.peekNonSpace();
      if (v.type !== 'variable') break;
      this.nextNonSpace();
      const next = this.peekNonSpace();
      if (next.type === 'assign' || next.type === 'declare') {
        pipe.isAssign = next.type === 'assign';
        this.nextNonSpace();
        pipe.decl.push(v.val);
        if (pipe.isAssign) this.useVariable(v);
        else this.vars.push(v.val);
        break;
      }
      if (next.type === 'char' && next.val === ',') {
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const after = this.peekNonSpace();
          if (after.type === 'variable' || after.type === 'rightDelim' || after.type === 'rightParen') continue decls;
          this.fail(after.pos, 'range can only initialize variables');
        }
        this.fail(next.pos, `too many declarations in ${context}`);
      }
      this.p = save;
      break;
    }
    for (;;) {
      const item = this.nextNonSpace();
      if (item.type === end) {
        if (pipe.cmds.length === 0) this.fail(item.pos, `missing value for ${context}`);
        for (const [i, cmd] of pipe.cmds.slice(1).entries()) {
          const first = cmd.args[0]!;
          if (['bool', 'dot', 'nil', 'number', 'string'].includes(first.type)) this.fail(first.pos, `non executable command in pipeline stage ${i + 2}`);
        }
        return pipe;
      }
      if (['bool', 'charConstant', 'dot', 'field', 'identifier', 'number', 'nil', 'rawString', 'string', 'variable', 'leftParen'].includes(item.type)) {
        this.backup();
        pipe.cmds.push(this.command());
        continue;
      }
      this.unexpected(item, context);
    }
  }

  private command(): CommandNode {
    const start = this.peekNonSpace().pos;
    const cmd: CommandNode = { pos: start, args: [], text: '' };
    let endPos = start;
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) {
        cmd.args.push(operand);
        endPos = operand.pos + operand.text.length;
      }
      const item = this.next();
      if (item.type === 'space') continue;
      if (item.type === 'rightDelim' || item.type === 'rightParen') this.backup();
      else if (item.type !== 'pipe') this.unexpected(item, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.fail(start, 'empty command');
    cmd.text = this.source.slice(start, endPos);
    return cmd;
  }

  private operand(): ArgNode | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().type !== 'field') return node;
    const fields: string[] = [];
    let end = node.pos + node.text.length;
    while (this.peek().type === 'field') {
      const f = this.next();
      fields.push(f.val.slice(1));
      end = f.pos + f.val.length;
    }
    const text = this.source.slice(node.pos, end);
    switch (node.type) {
      case 'field': return { type: 'field', pos: node.pos, text, idents: [...node.idents, ...fields] };
      case 'variable': return { type: 'variable', pos: node.pos, text, idents: [...node.idents, ...fields] };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        return this.fail(node.pos, `unexpected . after term ${JSON.stringify(node.text)}`);
      default:
        return { type: 'chain', pos: node.pos, text, node, fields };
    }
  }

  private useVariable(item: Item): void {
    const name = item.val.split('.')[0]!;
    if (!this.vars.includes(name)) this.fail(item.pos, `undefined variable ${JSON.stringify(name)}`);
  }

  private term(): ArgNode | undefined {
    const item = this.nextNonSpace();
    const base = { pos: item.pos, text: item.val };
    switch (item.type) {
      case 'identifier':
        if (!this.options.hasFunction(item.val)) this.fail(item.pos, `function ${JSON.stringify(item.val)} not defined`);
        return { ...base, type: 'identifier', name: item.val };
      case 'dot': return { ...base, type: 'dot' };
      case 'nil': return { ...base, type: 'nil' };
      case 'variable':
        this.useVariable(item);
        return { ...base, type: 'variable', idents: [item.val] };
      case 'field': return { ...base, type: 'field', idents: [item.val.slice(1)] };
      case 'bool': return { ...base, type: 'bool', value: item.val === 'true' };
      case 'number': return { ...base, type: 'number', ...parseNumber(item.val, (m) => this.fail(item.pos, m)) };
      case 'charConstant': {
        let ch: string;
        try {
          ch = unquote(`"${item.val.slice(1, -1).replace(/"/g, '\\"')}"`);
        } catch {
          return this.fail(item.pos, `malformed character constant: ${item.val}`);
        }
        if ([...ch].length !== 1) this.fail(item.pos, `malformed character constant: ${item.val}`);
        return { ...base, type: 'number', value: ch.codePointAt(0)!, isInt: true };
      }
      case 'leftParen': {
        const pipe = this.pipeline('parenthesized pipeline', 'rightParen');
        const close = this.items[this.p - 1]!;
        return { type: 'pipe', pos: item.pos, text: this.source.slice(item.pos, close.pos + 1), pipe };
      }
      case 'string':
        try {
          return { ...base, type: 'string', value: unquote(item.val) };
        } catch (err) {
          return this.fail(item.pos, `${(err as Error).message} in ${item.val}`);
        }
      case 'rawString': return { ...base, type: 'string', value: item.val.slice(1, -1).replace(/\r/g, '') };
    }
    this.backup();
    return undefined;
  }
}

function parseNumber(text: string, fail: (message: string) => never): { value: number; isInt: boolean } {
  const clean = text.replace(/_/g, '');
  const sign = clean.startsWith('-') ? -1 : 1;
  const unsigned = clean.replace(/^[+-]/, '');
  let value: number;
  let isInt = true;
  if (/^0[xX]/.test(unsigned)) value = parseInt(unsigned.slice(2), 16);
  else if (/^0[bB]/.test(unsigned)) value = parseInt(unsigned.slice(2), 2);
  else if (/^0[oO]/.test(unsigned)) value = parseInt(unsigned.slice(2), 8);
  else if (/^0[0-7]+$/.test(unsigned)) value = parseInt(unsigned, 8);
  else {
    value = Number(unsigned);
    isInt = /^[0-9]+$/.test(unsigned) || (Number.isInteger(value) && /[eE]/.test(unsigned) && !unsigned.includes('.'));
  }
  if (Number.isNaN(value)) fail(`illegal number syntax: ${JSON.stringify(text)}`);
  return { value: sign * value, isInt };
}

/** Parses `source` (named `name` in errors). Throws GoTemplateError. */
export function parseGoTemplate(name: string, source: string, options: ParseOptions): ParsedTemplates {
  const parser = new Parser(name, source, lex(name, source, options.leftDelim, options.rightDelim), options);
  const root = parser.parse();
  return { root, defines: parser.defines };
}
