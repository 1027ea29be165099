// The helper functions batch spec templates have beside Go's builtins (the original's src-cli
// lib/batches/template builtins): join, split, replace, join_if, matches.
import { formatValue, goTypeName, withArity, type GoFunction } from '../go-template/index.js';
import { matchesGlob } from './glob-pattern.js';

const expectString = (value: unknown): string => {
  if (typeof value !== 'string') throw new Error(`wrong type for value; expected string; got ${goTypeName(value)}`);
  return value;
};

export const BATCH_TEMPLATE_FUNCTIONS: Record<string, GoFunction> = {
  /**
   * `join LIST SEP`. The original takes only a list of strings; a list of other values (an output parsed from
   * JSON) joins their printed forms here rather than failing.
   */
  join: withArity(2, 2, (list: unknown, sep: unknown) => {
    if (list === null || list === undefined) return '';
    if (!Array.isArray(list)) throw new Error(`wrong type for value; expected []string; got ${goTypeName(list)}`);
    return list.map((v) => (typeof v === 'string' ? v : formatValue(v))).join(expectString(sep));
  }),
  /** `split S SEP`: Go's strings.Split (an empty SEP splits into characters). */
  split: withArity(2, 2, (s: unknown, sep: unknown) => {
    const text = expectString(s);
    const separator = expectString(sep);
    return separator === '' ? [...text] : text.split(separator);
  }),
  /** `replace S OLD NEW`: every occurrence. */
  replace: withArity(3, 3, (s: unknown, from: unknown, to: unknown) => expectString(s).split(expectString(from)).join(expectString(to))),
  /** `join_if SEP A B …`: the non-empty ones joined with SEP. */
  join_if: withArity(1, undefined, (sep: unknown, ...elems: unknown[]) =>
    elems
      .map(expectString)
      .filter((e) => e !== '')
      .join(expectString(sep)),
  ),
  /** `matches S GLOB`. */
  matches: withArity(2, 2, (s: unknown, pattern: unknown) => matchesGlob(expectString(s), expectString(pattern))),
};
