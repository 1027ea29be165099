// The subset of Go's fmt that templates print with: %v formatting of the values a template sees (strings,
// numbers, booleans, nil, lists as `[a b]`, maps as `map[k:v]` with sorted keys), Sprint/Sprintln, and
// Sprintf with the verbs %v %s %d %q %t %x %X %f %e %g %c %% and flags `-+# 0`, widths and precisions.
// Numbers: JavaScript has one number type, so an integral value prints as an int, any other as Go prints
// a float64 (%v: shortest form, an exponent below 1e-4 or from 1e21).

/** Go's name for a value's type, as fmt shows it in `%!d(string=x)`. */
export function goTypeName(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float64';
  if (typeof value === 'function') return 'func()';
  if (Array.isArray(value)) return '[]interface {}';
  return 'map[string]interface {}';
}

/** A float64 as %v (strconv 'g', shortest, exponent when exp < -4 || exp >= 21). */
function formatFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const exp = Math.floor(Math.log10(Math.abs(value)));
  if (exp < -4 || exp >= 21) return goExponent(value.toExponential());
  return String(value);
}

/** JavaScript's `1.5e+7` / `1e-7` as Go writes exponents: at least two digits (`1.5e+07`). */
function goExponent(js: string): string {
  return js.replace(/e([+-])(\d)$/, 'e$10$2');
}

/**
 * `%.<p>f`: JavaScript's toFixed rounds an exact tie up, Go's strconv to even (2.25 → "2.2"); the exact
 * decimal expansion (toFixed with more digits is exact) tells a tie.
 */
function toFixedHalfEven(value: number, precision: number): string {
  const rounded = value.toFixed(precision);
  if (!Number.isFinite(value) || precision > 80) return rounded;
  const exact = Math.abs(value).toFixed(Math.min(100, precision + 20));
  const rest = exact.slice(exact.indexOf('.') + 1 + precision);
  if (!/^50*$/.test(rest)) return rounded;
  const kept = exact.slice(0, exact.length - rest.length).replace(/\.$/, '');
  const lastDigit = Number(kept.replace('.', '').slice(-1));
  if (lastDigit % 2 === 1) return rounded;
  return (value < 0 ? '-' : '') + kept;
}

/** fmt's %v of one value. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) < 1e21 ? String(value) : formatFloat(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'function') return '0xc000000000';
  if (Array.isArray(value)) return `[${value.map(formatValue).join(' ')}]`;
  const entries = Object.keys(value as object).sort();
  return `map[${entries.map((k) => `${k}:${formatValue((value as Record<string, unknown>)[k])}`).join(' ')}]`;
}

/** fmt.Sprint: operands formatted with %v, a space between two operands when neither is a string. */
export function sprint(args: unknown[]): string {
  let out = '';
  for (const [i, arg] of args.entries()) {
    if (i > 0 && typeof arg !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(arg);
  }
  return out;
}

/** fmt.Sprintln: spaces between all operands, a newline at the end. */
export function sprintln(args: unknown[]): string {
  return `${args.map(formatValue).join(' ')}\n`;
}

/** strconv.Quote: a double-quoted Go string literal. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0x80 && code < 0xa0) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

interface Spec { minus: boolean; plus: boolean; sharp: boolean; space: boolean; zero: boolean; width?: number; precision?: number }

function pad(s: string, spec: Spec, numeric: boolean): string {
  const width = spec.width ?? 0;
  const len = [...s].length;
  if (len >= width) return s;
  if (spec.minus) return s + ' '.repeat(width - len);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(width - len) + s.slice(sign.length);
  }
  return ' '.repeat(width - len) + s;
}

function bad(verb: string, arg: unknown): string {
  return `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`;
}

function formatInteger(n: number, radix: number, spec: Spec, upper: boolean): string {
  let digits = Math.abs(n).toString(radix);
  if (upper) digits = digits.toUpperCase();
  if (spec.precision !== undefined) digits = digits.padStart(spec.precision, '0');
  if (spec.sharp && radix === 16) digits = (upper ? '0X' : '0x') + digits;
  const sign = n < 0 ? '-' : spec.plus ? '+' : spec.space ? ' ' : '';
  return sign + digits;
}

function formatOne(verb: string, arg: unknown, spec: Spec): string {
  if (Array.isArray(arg) && verb !== 'v' && verb !== 'T') return `[${arg.map((a) => formatOne(verb, a, { ...spec, width: undefined })).join(' ')}]`;
  switch (verb) {
    case 'v':
      if (spec.sharp && typeof arg === 'string') return pad(goQuote(arg), spec, false);
      if (typeof arg === 'number' && spec.plus) return pad((arg >= 0 ? '+' : '') + formatValue(arg), spec, true);
      return pad(formatValue(arg), spec, typeof arg === 'number');
    case 'T':
      return pad(goTypeName(arg), spec, false);
    case 's':
      if (typeof arg !== 'string') return bad(verb, arg);
      return pad(spec.precision === undefined ? arg : [...arg].slice(0, spec.precision).join(''), spec, false);
    case 'q':
      if (typeof arg === 'string') return pad(spec.sharp && !arg.includes('`') ? `\`${arg}\`` : goQuote(arg), spec, false);
      if (typeof arg === 'number' && Number.isInteger(arg)) return pad(`'${String.fromCodePoint(arg).replace(/['\\]/g, '\\$&')}'`, spec, false);
      return bad(verb, arg);
    case 'd':
      if (typeof arg !== 'number' || !Number.isInteger(arg)) return bad(verb, arg);
      return pad(formatInteger(arg, 10, spec, false), spec, spec.precision === undefined);
    case 'b':
    case 'o':
      if (typeof arg !== 'number' || !Number.isInteger(arg)) return bad(verb, arg);
      return pad(formatInteger(arg, verb === 'b' ? 2 : 8, spec, false), spec, true);
    case 'x':
    case 'X':
      if (typeof arg === 'string') {
        const hex = Buffer.from(arg, 'utf8').toString('hex');
        return pad(verb === 'X' ? hex.toUpperCase() : hex, spec, false);
      }
      if (typeof arg === 'number' && Number.isInteger(arg)) return pad(formatInteger(arg, 16, spec, verb === 'X'), spec, true);
      return bad(verb, arg);
    case 'c':
      if (typeof arg !== 'number' || !Number.isInteger(arg)) return bad(verb, arg);
      return pad(String.fromCodePoint(arg), spec, false);
    case 't':
      if (typeof arg !== 'boolean') return bad(verb, arg);
      return pad(String(arg), spec, false);
    case 'f':
    case 'F':
    case 'e':
    case 'g': {
      if (typeof arg !== 'number') return bad(verb, arg);
      let s: string;
      if (verb === 'e') s = goExponent(arg.toExponential(spec.precision ?? 6));
      else if (verb === 'g') s = spec.precision === undefined ? formatFloat(arg) : goExponent(Number(arg.toPrecision(spec.precision)).toString());
      else s = toFixedHalfEven(arg, spec.precision ?? 6);
      if (spec.plus && arg >= 0) s = `+${s}`;
      return pad(s, spec, true);
    }
    default:
      return `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`;
  }
}

/** fmt.Sprintf for the verbs above; a wrong verb or argument prints as Go prints it (`%!d(string=x)`). */
export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argIndex = 0;
  let i = 0;
  while (i < format.length) {
    const ch = format[i]!;
    if (ch !== '%') {
      out += ch;
      i++;
      continue;
    }
    i++;
    const spec: Spec = { minus: false, plus: false, sharp: false, space: false, zero: false };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') spec.minus = true;
      else if (f === '+') spec.plus = true;
      else if (f === '#') spec.sharp = true;
      else if (f === ' ') spec.space = true;
      else if (f === '0') spec.zero = !spec.minus;
      else break;
    }
    const readNumber = (): number | undefined => {
      if (format[i] === '*') {
        i++;
        const n = args[argIndex++];
        return typeof n === 'number' ? Math.trunc(n) : undefined;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = readNumber();
    if (spec.width !== undefined && spec.width < 0) {
      spec.minus = true;
      spec.width = -spec.width;
    }
    if (format[i] === '.') {
      i++;
      spec.precision = readNumber() ?? 0;
    }
    const verb = format[i];
    i++;
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argIndex >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, args[argIndex++], spec);
  }
  if (argIndex < args.length) out += `%!(EXTRA ${args.slice(argIndex).map((a) => `${goTypeName(a)}=${formatValue(a)}`).join(', ')})`;
  return out;
}
