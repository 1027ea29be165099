// Parses a batch spec's YAML into the BatchSpec the coordinator holds: YAML 1.2 (so `on:` stays a key, not
// a boolean), the batch spec JSON schema (ajv), then the original's checks beyond the schema (steps need a
// changesetTemplate, `branch` excludes `branches`, templates name only known variables and functions and
// parse, `if:` included) and a few of ours for what server-side execution cannot do. Every problem names
// the field as a path (`steps[0].container`), its YAML line, and what is allowed there.
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { globToRegExp, templateVariablesProblems, type TemplateLocation } from '../../../shared/batch-templating/index.js';
import { BATCH_SPEC_SCHEMA } from './batch-spec-schema.js';
import type { BatchSpec, BatchSpecError, BatchSpecParseResult, BatchStep, ChangesetTemplate, OnTarget, PublishedRule, StepEnvEntry } from './batch-spec.js';

/** The spec as the schema admits it (before normalisation). */
interface RawSpec {
  version?: 1 | 2;
  name: string;
  description?: string;
  on?: Array<{ repositoriesMatchingQuery?: string; repository?: string; branch?: string; branches?: string[] }> | null;
  workspaces?: Array<{ rootAtLocationOf: string; in?: string; onlyFetchWorkspace?: boolean }> | null;
  steps?: Array<{
    run: string;
    container: string;
    env?: Record<string, string> | Array<string | Record<string, string>> | null;
    files?: Record<string, string> | null;
    outputs?: Record<string, { value: string; format?: 'text' | 'json' | 'yaml' }> | null;
    if?: boolean | string | null;
    mount?: unknown[] | null;
  }> | null;
  transformChanges?: { group?: Array<{ directory: string; branch: string; title?: string; repository?: string }> | null } | null;
  importChangesets?: unknown[] | null;
  changesetTemplate?: {
    title: string;
    body?: string;
    branch: string;
    fork?: boolean;
    commit: { message: string; author?: { name: string; email: string } };
    published?: boolean | 'draft' | Array<Record<string, boolean | 'draft'>> | null;
  };
}

type SchemaNode = { [key: string]: unknown };
type Path = Array<string | number>;

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validateSchema = ajv.compile<RawSpec>(BATCH_SPEC_SCHEMA);

/** `['steps', 0, 'files', '/tmp/x']` → `steps[0].files["/tmp/x"]`; the root is `(root)`. */
export function formatFieldPath(path: Path): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** A JSON pointer (`/steps/0/files/~1tmp`) as a path, indices as numbers where the data has a list. */
function pointerToPath(pointer: string, data: unknown): Path {
  if (pointer === '') return [];
  const path: Path = [];
  let value = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(value)) {
      path.push(Number(key));
      value = value[Number(key)];
    } else {
      path.push(key);
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}

/** Finds YAML nodes by path, for the line of a field (its key's line when it has one). */
class SourceMap {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  private lineOf(node: YamlNode | null | undefined): number | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }

  /** The line of the field at `path`: of its key in a map, of the item in a list; the nearest known parent otherwise. */
  line(path: Path): number | undefined {
    let node: unknown = this.doc.contents;
    let line = this.lineOf(node as YamlNode);
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return line;
        line = this.lineOf(pair.key as YamlNode) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        line = this.lineOf(node as YamlNode) ?? line;
      } else {
        return line;
      }
    }
    return line;
  }

  /** Whether the value at `path` was written as a plain (unquoted) YAML scalar. */
  isPlainScalar(path: Path): boolean {
    let node: unknown = this.doc.contents;
    for (const segment of path) {
      if (isMap(node)) node = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))?.value;
      else if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
      else return false;
    }
    return isScalar(node) && node.type === 'PLAIN';
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `the ${typeof value} ${String(value)}`;
}

const TYPE_WORDS: Record<string, string> = { string: 'a string', number: 'a number', integer: 'an integer', boolean: 'true or false', object: 'a map', array: 'a list', null: 'empty' };

interface SpecProblem {
  path: Path;
  /** The line of this path (a key's line) rather than of the path found in the YAML. */
  message: string;
  /** Sort and de-duplication key (the schema branch it came from, for oneOf selection). */
  schemaPath: string;
  depth: number;
}

/** Turns ajv's errors into one message per problem, picking the closest branch of each `oneOf`. */
function schemaProblems(errors: ErrorObject[], data: unknown, source: SourceMap): SpecProblem[] {
  const value = (path: Path): unknown => path.reduce<unknown>((v, k) => (typeof v === 'object' && v !== null ? (v as Record<string | number, unknown>)[k] : undefined), data);
  let problems: Array<SpecProblem & { keyword: string; parentSchema?: SchemaNode }> = [];
  for (const e of errors) {
    const path = pointerToPath(e.instancePath, data);
    const parentSchema = e.parentSchema as SchemaNode | undefined;
    const allowed = parentSchema?.['x-allowed'] as string | undefined;
    const got = describeValue(value(path));
    let message: string;
    let problemPath = path;
    let depth = path.length;
    switch (e.keyword) {
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        problemPath = [...path, missing];
        message = `required, but missing`;
        depth += 0.5;
        break;
      }
      case 'additionalProperties': {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        problemPath = [...path, extra];
        const known = Object.keys((parentSchema?.properties as SchemaNode | undefined) ?? {});
        message = `unknown field ${JSON.stringify(extra)}; allowed here: ${known.join(', ')}`;
        depth += 0.5;
        break;
      }
      case 'type': {
        const types = ([] as string[]).concat((e.params as { type: string | string[] }).type).filter((t) => t !== 'null');
        message = `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}, not ${got}`;
        const v = value(path);
        if (types.includes('string') && (typeof v === 'number' || typeof v === 'boolean') && source.isPlainScalar(path)) {
          message += ` (quote it to make it a string: "${String(v)}"; YAML reads an unquoted ${String(v)} as a ${typeof v})`;
        }
        break;
      }
      case 'enum':
        message = `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => JSON.stringify(v)).join(', ')}, not ${got}`;
        break;
      case 'pattern':
        message = `must match ${(e.params as { pattern: string }).pattern}${allowed ? ` (${allowed})` : ''}, not ${got}`;
        break;
      case 'minProperties':
      case 'maxProperties':
        message = `must be ${allowed ?? 'a map with exactly one entry'}, not ${got}`;
        break;
      case 'minLength':
        message = 'must not be empty';
        break;
      case 'oneOf':
        message = `must be ${allowed ?? 'one of the allowed shapes'}, not ${got}`;
        break;
      default:
        message = e.message ?? 'is invalid';
    }
    problems.push({ path: problemPath, message, schemaPath: e.schemaPath, depth, keyword: e.keyword, parentSchema });
  }
  // Each oneOf, innermost first: keep the errors of the branch that got furthest (deepest, then fewest
  // errors); when no branch got past the value itself, one message saying what the value may be.
  const oneOfs = problems.filter((p) => p.keyword === 'oneOf').sort((a, b) => b.schemaPath.length - a.schemaPath.length);
  for (const oneOf of oneOfs) {
    const prefix = `${oneOf.schemaPath}/`;
    const inside = problems.filter((p) => p.schemaPath.startsWith(prefix));
    const branches = new Map<string, typeof inside>();
    for (const p of inside) {
      const branch = p.schemaPath.slice(prefix.length).split('/')[0]!;
      branches.set(branch, [...(branches.get(branch) ?? []), p]);
    }
    let best: typeof inside | undefined;
    let bestDepth = -1;
    for (const list of branches.values()) {
      const depth = Math.max(...list.map((p) => p.depth));
      if (depth > bestDepth || (depth === bestDepth && best && list.length < best.length)) {
        best = list;
        bestDepth = depth;
      }
    }
    const drop = new Set<SpecProblem>(inside);
    if (best && bestDepth > oneOf.depth) {
      for (const p of best) drop.delete(p);
      drop.add(oneOf);
    } else {
      // The synthetic message replaces the branches' and takes the place of a nested error in an outer oneOf.
      oneOf.keyword = 'oneOf-summary';
    }
    problems = problems.filter((p) => !drop.has(p));
  }
  return problems;
}

/** A problem at `path`; its line is that of `linePath` when the field itself is missing from the YAML. */
interface Problem {
  path: Path;
  linePath?: Path;
  message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const record = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The original's checks beyond the schema, and ours for what server-side execution cannot do. Written
 * for data the schema may have refused too (every problem at once), so nothing here trusts a shape.
 */
function specProblems(raw: RawSpec): Problem[] {
  const problems: Problem[] = [];
  const template = (path: Path, text: unknown, where: TemplateLocation) => {
    if (typeof text !== 'string') return;
    for (const problem of templateVariablesProblems(text, where)) problems.push({ path, message: problem });
  };
  for (const [i, target] of list(raw.on).entries()) {
    if (isRecord(target) && target.branch !== undefined && target.branches !== undefined) {
      problems.push({ path: ['on', i, 'branches'], message: 'branch and branches are mutually exclusive: use branch for one branch, branches for several' });
    }
  }
  for (const [i, rule] of list(raw.workspaces).entries()) {
    if (isRecord(rule) && typeof rule.in === 'string') globProblem(problems, ['workspaces', i, 'in'], rule.in);
  }
  const steps = list(raw.steps);
  if (steps.length > 0 && !raw.changesetTemplate) {
    problems.push({ path: ['changesetTemplate'], linePath: ['steps'], message: 'the spec has steps but no changesetTemplate: add one (title, branch, commit.message) to say how the changes become changesets' });
  }
  for (const [i, step] of steps.entries()) {
    if (!isRecord(step)) continue;
    template(['steps', i, 'run'], step.run, 'step');
    if (typeof step.if === 'string') template(['steps', i, 'if'], step.if, 'step');
    if (Array.isArray(step.mount) && step.mount.length > 0) {
      problems.push({ path: ['steps', i, 'mount'], message: 'mount is only supported when src-cli runs the steps on one\'s own machine, not in server-side execution: put the content in files instead' });
    }
    if (Array.isArray(step.env)) {
      for (const [j, entry] of step.env.entries()) {
        if (typeof entry !== 'string' && !(isRecord(entry) && Object.keys(entry).length === 1)) continue;
        const [name, value] = typeof entry === 'string' ? [entry, undefined] : Object.entries(entry)[0]!;
        if (!ENV_NAME.test(name)) problems.push({ path: ['steps', i, 'env', j], message: envNameProblem(name) });
        if (value !== undefined) template(['steps', i, 'env', j, name], value, 'step');
      }
    } else if (isRecord(step.env)) {
      for (const [name, value] of Object.entries(step.env)) {
        if (!ENV_NAME.test(name)) problems.push({ path: ['steps', i, 'env', name], message: envNameProblem(name) });
        template(['steps', i, 'env', name], value, 'step');
      }
    }
    for (const [file, content] of Object.entries(record(step.files))) {
      if (file.trim() === '') problems.push({ path: ['steps', i, 'files', file], message: 'a file needs a path' });
      template(['steps', i, 'files', file], content, 'step');
    }
    for (const [name, output] of Object.entries(record(step.outputs))) if (isRecord(output)) template(['steps', i, 'outputs', name, 'value'], output.value, 'outputs');
  }
  for (const [i, group] of list(isRecord(raw.transformChanges) ? raw.transformChanges.group : undefined).entries()) {
    if (isRecord(group)) template(['transformChanges', 'group', i, 'title'], group.title, 'changesetTemplate');
  }
  const ct = raw.changesetTemplate;
  if (isRecord(ct)) {
    template(['changesetTemplate', 'title'], ct.title, 'changesetTemplate');
    template(['changesetTemplate', 'body'], ct.body, 'changesetTemplate');
    template(['changesetTemplate', 'branch'], ct.branch, 'changesetTemplate');
    const commit = record(ct.commit);
    const author = record(commit.author);
    template(['changesetTemplate', 'commit', 'message'], commit.message, 'changesetTemplate');
    template(['changesetTemplate', 'commit', 'author', 'name'], author.name, 'changesetTemplate');
    template(['changesetTemplate', 'commit', 'author', 'email'], author.email, 'changesetTemplate');
    if (Array.isArray(ct.published)) {
      for (const [i, entry] of ct.published.entries()) {
        if (!isRecord(entry) || Object.keys(entry).length !== 1) continue;
        const key = Object.keys(entry)[0]!;
        globProblem(problems, ['changesetTemplate', 'published', i, key], splitBranch(key).glob);
      }
    }
  }
  if (Array.isArray(raw.importChangesets) && raw.importChangesets.length > 0) {
    problems.push({ path: ['importChangesets'], message: 'importChangesets is not supported: the coordinator\'s repositories have no code host to import changesets from' });
  }
  return problems;
}

function envNameProblem(name: string): string {
  return `${JSON.stringify(name)} is not an environment variable name: letters, digits and "_", not starting with a digit`;
}

function globProblem(problems: Problem[], path: Path, glob: string): void {
  try {
    globToRegExp(glob);
  } catch (err) {
    problems.push({ path, message: `${(err as Error).message}; globs allow * ? [abc] [a-z] [!abc] {a,b} and \\ to escape` });
  }
}

/** `github.com/a/*@my-branch` → glob and branch (the last `@` separates them). */
function splitBranch(key: string): { glob: string; branch?: string } {
  const at = key.lastIndexOf('@');
  return at > 0 ? { glob: key.slice(0, at), branch: key.slice(at + 1) } : { glob: key };
}

function normalise(raw: RawSpec): BatchSpec {
  const on: OnTarget[] = (raw.on ?? []).map((t) =>
    t.repositoriesMatchingQuery !== undefined
      ? { kind: 'query', repositoriesMatchingQuery: t.repositoriesMatchingQuery }
      : { kind: 'repository', repository: t.repository!, branches: t.branch !== undefined ? [t.branch] : [...(t.branches ?? [])] },
  );
  const steps: BatchStep[] = (raw.steps ?? []).map((s) => {
    let env: StepEnvEntry[] = [];
    if (Array.isArray(s.env)) env = s.env.map((e) => (typeof e === 'string' ? { name: e } : { name: Object.keys(e)[0]!, value: Object.values(e)[0]! }));
    else if (s.env) env = Object.entries(s.env).map(([name, value]) => ({ name, value }));
    const step: BatchStep = {
      run: s.run,
      container: s.container,
      env,
      files: { ...(s.files ?? {}) },
      outputs: Object.fromEntries(Object.entries(s.outputs ?? {}).map(([name, o]) => [name, { value: o.value, format: o.format ?? 'text' }])),
    };
    if (s.if !== undefined && s.if !== null) step.if = s.if;
    return step;
  });
  let changesetTemplate: ChangesetTemplate | undefined;
  const ct = raw.changesetTemplate;
  if (ct) {
    let published: PublishedRule[] = [];
    if (typeof ct.published === 'boolean' || ct.published === 'draft') published = [{ glob: '*', value: ct.published }];
    else if (Array.isArray(ct.published)) {
      // Reversed: the original applies the last matching entry, PublishedRule the first.
      published = ct.published
        .map((entry) => {
          const [key, value] = Object.entries(entry)[0]!;
          const { glob, branch } = splitBranch(key);
          return branch === undefined ? { glob, value } : { glob, branch, value };
        })
        .reverse();
    }
    changesetTemplate = {
      title: ct.title,
      body: ct.body ?? '',
      branch: ct.branch,
      commit: ct.commit.author ? { message: ct.commit.message, author: { name: ct.commit.author.name, email: ct.commit.author.email } } : { message: ct.commit.message },
      published,
    };
  }
  const spec: BatchSpec = {
    version: raw.version ?? 1,
    name: raw.name,
    description: raw.description ?? '',
    on,
    workspaces: (raw.workspaces ?? []).map((w) => ({ rootAtLocationOf: w.rootAtLocationOf, in: w.in ?? '*', onlyFetchWorkspace: w.onlyFetchWorkspace ?? false })),
    steps,
    transformChanges: {
      group: (raw.transformChanges?.group ?? []).map((g) => ({
        directory: g.directory,
        branch: g.branch,
        ...(g.repository !== undefined ? { repository: g.repository } : {}),
        ...(g.title !== undefined ? { title: g.title } : {}),
      })),
    },
  };
  if (changesetTemplate) spec.changesetTemplate = changesetTemplate;
  return spec;
}

/** Parses and checks a batch spec; every problem at once, sorted by line. */
export function parseBatchSpec(yamlText: string): BatchSpecParseResult {
  const lineCounter = new LineCounter();
  // YAML 1.2 (the package's default): `on`, `yes`, `no` stay strings.
  const doc = parseDocument(yamlText, { lineCounter, version: '1.2', prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ field: '(yaml)', line: lineCounter.linePos(e.pos[0]).line, message: `the YAML does not parse: ${e.message.split('\n')[0]}` })),
    };
  }
  const source = new SourceMap(doc, lineCounter);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, errors: [{ field: '(yaml)', message: `the YAML does not parse: ${(err as Error).message}` }] };
  }
  const toError = (path: Path, message: string, linePath: Path = path): BatchSpecError => {
    const line = source.line(linePath);
    return line === undefined ? { field: formatFieldPath(path), message } : { field: formatFieldPath(path), line, message };
  };
  const sortErrors = (errors: BatchSpecError[]) => errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.field.localeCompare(b.field));
  if (!validateSchema(data)) {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      return { ok: false, errors: [toError([], `a batch spec must be a map of fields (name, on, steps, changesetTemplate, …), not ${describeValue(data)}`)] };
    }
    const problems: Problem[] = schemaProblems(validateSchema.errors ?? [], data, source);
    problems.push(...specProblems(data as RawSpec));
    const seen = new Set<string>();
    const errors: BatchSpecError[] = [];
    for (const p of problems) {
      const error = toError(p.path, p.message, p.linePath);
      const key = `${error.field}\0${error.message}`;
      if (!seen.has(key)) errors.push(error);
      seen.add(key);
    }
    return { ok: false, errors: sortErrors(errors) };
  }
  const problems = specProblems(data);
  if (problems.length > 0) return { ok: false, errors: sortErrors(problems.map((p) => toError(p.path, p.message, p.linePath))) };
  return { ok: true, spec: normalise(data) };
}
