// The `repositoriesMatchingQuery` of a batch spec, as far as the coordinator's own repositories can answer
// it with git: `repo:<regex>` (and `-repo:`), `file:<regex>` (and `-file:`), `case:yes`, and literal
// content terms (what is left, joined by spaces as Sourcegraph's literal search reads it; a "quoted" term
// keeps its spaces). `patterntype:regexp` makes the content a regular expression. Filters that only
// narrow what a Sourcegraph instance has (`fork:`, `archived:`, `visibility:`, `count:`, `select:repo`,
// `patterntype:literal|standard|keyword`) are accepted and ignored; any other `key:value` is refused.
import { AppError } from '../../../shared/errors.js';

export interface RepositoriesQuery {
  /** Every one must match the repository's name. */
  repo: RegExp[];
  /** None may match the repository's name. */
  notRepo: RegExp[];
  /** A file path must match every one (and none of notFile). */
  file: RegExp[];
  notFile: RegExp[];
  /** The content pattern, or undefined without content terms. */
  content: { pattern: string; regexp: boolean } | undefined;
  caseSensitive: boolean;
}

const IGNORED = new Set(['fork', 'archived', 'visibility', 'count', 'timeout']);

/** Splits on spaces, keeping "double-quoted" runs (with \" and \\ escapes) as one term. */
function tokenize(query: string): Array<{ text: string; quoted: boolean }> {
  const tokens: Array<{ text: string; quoted: boolean }> = [];
  let i = 0;
  while (i < query.length) {
    if (/\s/.test(query[i]!)) {
      i++;
      continue;
    }
    let text = '';
    let quoted = false;
    while (i < query.length && !/\s/.test(query[i]!)) {
      if (query[i] === '"') {
        quoted = true;
        i++;
        while (i < query.length && query[i] !== '"') {
          if (query[i] === '\\' && i + 1 < query.length) i++;
          text += query[i++];
        }
        if (i >= query.length) throw new AppError('batches.invalid_query', `query ${JSON.stringify(query)}: a quote is not closed`);
        i++;
      } else {
        text += query[i++];
      }
    }
    tokens.push({ text, quoted });
  }
  return tokens;
}

function regexp(term: string, value: string, flags: string): RegExp {
  try {
    return new RegExp(value, flags);
  } catch (err) {
    throw new AppError('batches.invalid_query', `${term}: not a valid regular expression: ${(err as Error).message}`);
  }
}

/** Parses the query; `batches.invalid_query` names the term that is wrong and what is supported. */
export function parseRepositoriesQuery(query: string): RepositoriesQuery {
  const out: RepositoriesQuery = { repo: [], notRepo: [], file: [], notFile: [], content: undefined, caseSensitive: false };
  const raw: { repo: string[]; notRepo: string[]; file: string[]; notFile: string[] } = { repo: [], notRepo: [], file: [], notFile: [] };
  const content: string[] = [];
  let patternRegexp = false;
  for (const token of tokenize(query)) {
    const m = token.quoted ? null : /^(-?)([A-Za-z]+):(.*)$/.exec(token.text);
    if (!m) {
      content.push(token.text);
      continue;
    }
    const [, minus, rawKey, value] = m;
    const key = rawKey!.toLowerCase();
    const negated = minus === '-';
    const needValue = () => {
      if (value === '') throw new AppError('batches.invalid_query', `${token.text}: ${key}: needs a value`);
    };
    if (key === 'repo' || key === 'r') {
      needValue();
      if (/@/.test(value!) && !negated) throw new AppError('batches.invalid_query', `${token.text}: a revision after @ is not supported: a batch change runs on each repository's default branch (use on.repository with branch to pick one)`);
      (negated ? raw.notRepo : raw.repo).push(value!);
    } else if (key === 'file' || key === 'f' || key === 'path') {
      needValue();
      (negated ? raw.notFile : raw.file).push(value!);
    } else if (key === 'case' && !negated) {
      if (value !== 'yes' && value !== 'no') throw new AppError('batches.invalid_query', `${token.text}: case: takes yes or no`);
      out.caseSensitive = value === 'yes';
    } else if (key === 'patterntype' && !negated) {
      const v = value!.toLowerCase();
      if (!['literal', 'standard', 'keyword', 'regexp', 'regex'].includes(v)) throw new AppError('batches.invalid_query', `${token.text}: patterntype: takes literal, standard, keyword or regexp`);
      patternRegexp = v === 'regexp' || v === 'regex';
    } else if (key === 'select' && !negated) {
      if (value !== 'repo' && value !== 'file') throw new AppError('batches.invalid_query', `${token.text}: select: only repo or file are supported here`);
    } else if (IGNORED.has(key) && !negated) {
      // Accepted: the coordinator's repositories are neither forks nor archived, and nothing is counted.
    } else if (key === 'type' && !negated && (value === 'file' || value === 'repo' || value === 'path')) {
      // The default shape of a batch changes query.
    } else {
      throw new AppError(
        'batches.invalid_query',
        `${token.text}: the filter ${minus}${key}: is not supported in repositoriesMatchingQuery here; supported: repo:, -repo:, file:, -file:, case:, patterntype:, and literal content terms (fork:, archived:, visibility:, count:, select:repo are accepted and ignored)`,
      );
    }
  }
  // No 'u' flag: Sourcegraph's (RE2) patterns escape punctuation freely (\-, \/), which unicode mode refuses.
  const flags = out.caseSensitive ? '' : 'i';
  out.repo = raw.repo.map((v) => regexp(`repo:${v}`, v, flags));
  out.notRepo = raw.notRepo.map((v) => regexp(`-repo:${v}`, v, flags));
  out.file = raw.file.map((v) => regexp(`file:${v}`, v, flags));
  out.notFile = raw.notFile.map((v) => regexp(`-file:${v}`, v, flags));
  if (content.length > 0) {
    const pattern = content.join(' ');
    if (patternRegexp) regexp(pattern, pattern, flags);
    out.content = { pattern, regexp: patternRegexp };
  }
  return out;
}

export function repositoryMatches(q: RepositoriesQuery, name: string): boolean {
  return q.repo.every((r) => r.test(name)) && !q.notRepo.some((r) => r.test(name));
}

export function pathMatches(q: RepositoriesQuery, path: string): boolean {
  return q.file.every((r) => r.test(path)) && !q.notFile.some((r) => r.test(path));
}
