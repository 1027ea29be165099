// The functions every Go template has (text/template's builtins): and or not len index slice print printf
// println eq ne lt le gt ge html js urlquery call, with Go's argument checks and error messages.
import { formatValue, goTypeName, sprint, sprintf, sprintln } from './go-fmt.js';

/** A template function: plain values in, a value out; throwing is Go's returning an error. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- functions of any parameter types, called with template values
export type GoFunction = ((...args: any[]) => unknown) & { goArity?: { min: number; max?: number } };

/** Declares how many arguments `fn` takes, so a call with the wrong count fails as Go's does. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as GoFunction
export function withArity<F extends (...args: any[]) => unknown>(min: number, max: number | undefined, fn: F): F & GoFunction {
  return Object.assign(fn, { goArity: { min, max } });
}

/** Go's truth: false, 0, nil, and empty strings, lists and maps are false; everything else is true. */
export function isTrue(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type BasicKind = 'bool' | 'number' | 'string' | 'invalid' | 'other';
function basicKind(v: unknown): BasicKind {
  if (v === null || v === undefined) return 'invalid';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  return 'other';
}

/** eq: arg1 equals any of the others; nil equals only nil; lists and maps are not comparable. */
export function goEq(arg1: unknown, ...others: unknown[]): boolean {
  if (others.length === 0) throw new Error('missing argument for comparison');
  const k1 = basicKind(arg1);
  for (const arg of others) {
    const k2 = basicKind(arg);
    if (k1 !== k2) {
      if (k1 !== 'invalid' && k2 !== 'invalid') throw new Error('incompatible types for comparison');
      continue;
    }
    if (k1 === 'other') throw new Error(`non-comparable type ${formatValue(arg1)}: ${goTypeName(arg1)}`);
    if (k1 === 'invalid' || arg1 === arg) return true;
  }
  return false;
}

/** lt: numbers and strings only, both of one kind. */
export function goLt(a: unknown, b: unknown): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === 'bool' || k1 === 'invalid' || k1 === 'other' || k2 === 'bool' || k2 === 'invalid' || k2 === 'other') throw new Error('invalid type for comparison');
  if (k1 !== k2) throw new Error('incompatible types for comparison');
  return (a as number | string) < (b as number | string);
}

const toIndex = (v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`cannot index slice/array with type ${goTypeName(v)}`);
  return v;
};

function goIndex(item: unknown, ...indexes: unknown[]): unknown {
  let value = item;
  if (value === null || value === undefined) throw new Error('index of untyped nil');
  for (const index of indexes) {
    if (value === null || value === undefined) throw new Error('index of untyped nil');
    if (Array.isArray(value) || typeof value === 'string') {
      const i = toIndex(index);
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : undefined;
      const length = bytes ? bytes.length : (value as unknown[]).length;
      if (i < 0 || i >= length) throw new Error(`index out of range: ${i}`);
      value = bytes ? bytes[i] : (value as unknown[])[i];
    } else if (isMap(value)) {
      if (typeof index !== 'string') throw new Error(`value has type ${goTypeName(index)}; should be string`);
      value = Object.prototype.hasOwnProperty.call(value, index) ? (value[index] ?? null) : null;
    } else {
      throw new Error(`can't index item of type ${goTypeName(value)}`);
    }
  }
  return value;
}

function goSlice(item: unknown, ...indexes: unknown[]): unknown {
  if (item === null || item === undefined) throw new Error('slice of untyped nil');
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  if (typeof item !== 'string' && !Array.isArray(item)) throw new Error(`can't slice item of type ${goTypeName(item)}`);
  if (typeof item === 'string' && indexes.length === 3) throw new Error('cannot 3-index slice a string');
  const bytes = typeof item === 'string' ? Buffer.from(item, 'utf8') : undefined;
  const length = bytes ? bytes.length : (item as unknown[]).length;
  const idx = [0, length];
  for (const [i, index] of indexes.entries()) {
    const n = toIndex(index);
    if (n < 0 || n > length) throw new Error(`index out of range: ${n}`);
    idx[i] = n;
  }
  if (idx[0]! > idx[1]!) throw new Error(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  return bytes ? bytes.subarray(idx[0], idx[1]).toString('utf8') : (item as unknown[]).slice(idx[0], idx[1]);
}

function goLen(item: unknown): number {
  if (item === null || item === undefined) throw new Error('len of nil pointer');
  if (typeof item === 'string') return Buffer.byteLength(item, 'utf8');
  if (Array.isArray(item)) return item.length;
  if (isMap(item)) return Object.keys(item).length;
  throw new Error(`len of type ${goTypeName(item)}`);
}

const htmlEscape = (s: string): string => s.replace(/[&'<>"\0]/g, (c) => ({ '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;', '\0': '\uFFFD' })[c]!);
const jsEscape = (s: string): string =>
  // eslint-disable-next-line no-control-regex -- Go's JSEscape escapes control characters
  s.replace(/[\\'"<>&=\x00-\x1f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === "'") return "\\'";
    if (c === '"') return '\\"';
    return `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  });
/** url.QueryEscape: spaces as `+`, everything but unreserved characters percent-encoded. */
const queryEscape = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
/** The escapers format their arguments as print does; one string argument passes as is. */
const evalArgs = (args: unknown[]): string => (args.length === 1 && typeof args[0] === 'string' ? args[0] : sprint(args));

/** Placeholder for and/or: the executor evaluates them itself, short-circuiting as Go 1.18+ does. */
const shortCircuit = withArity(1, undefined, () => {
  throw new Error('and/or are evaluated by the executor');
});

export const GO_BUILTINS: Record<string, GoFunction> = {
  and: shortCircuit,
  or: shortCircuit,
  not: withArity(1, 1, (a: unknown) => !isTrue(a)),
  len: withArity(1, 1, goLen),
  index: withArity(1, undefined, goIndex),
  slice: withArity(1, undefined, goSlice),
  print: (...args: unknown[]) => sprint(args),
  printf: withArity(1, undefined, (format: unknown, ...args: unknown[]) => {
    if (typeof format !== 'string') throw new Error(`wrong type for value; expected string; got ${goTypeName(format)}`);
    return sprintf(format, args);
  }),
  println: (...args: unknown[]) => sprintln(args),
  eq: withArity(2, undefined, goEq),
  ne: withArity(2, 2, (a: unknown, b: unknown) => !goEq(a, b)),
  lt: withArity(2, 2, goLt),
  le: withArity(2, 2, (a: unknown, b: unknown) => goLt(a, b) || goEq(a, b)),
  gt: withArity(2, 2, (a: unknown, b: unknown) => !(goLt(a, b) || goEq(a, b))),
  ge: withArity(2, 2, (a: unknown, b: unknown) => !goLt(a, b)),
  html: (...args: unknown[]) => htmlEscape(evalArgs(args)),
  js: (...args: unknown[]) => jsEscape(evalArgs(args)),
  urlquery: (...args: unknown[]) => queryEscape(evalArgs(args)),
  call: withArity(1, undefined, (fn: unknown, ...args: unknown[]) => {
    if (fn === null || fn === undefined) throw new Error('call of nil');
    if (typeof fn !== 'function') throw new Error(`non-function of type ${goTypeName(fn)}`);
    return (fn as (...a: unknown[]) => unknown)(...args);
  }),
};
