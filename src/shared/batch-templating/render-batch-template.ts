// Renders a batch spec's `${{ }}` templates (the original's src-cli lib/batches/template): Go text/template
// with the `${{ }}` delimiters and missingkey=error; the contexts are template functions returning maps,
// so `repository.name` reads as in the original, without a leading dot; the helper functions beside Go's.
import { GoTemplateError, GoTemplateSet, GoUnknown, GoUnknownValueError, type GoFunction } from '../go-template/index.js';
import { BATCH_TEMPLATE_FUNCTIONS } from './batch-template-functions.js';
import { BatchTemplateError } from './batch-template-error.js';
import type {
  BatchChangeTemplateContext,
  ChangesetTemplateContext,
  RepositoryTemplateContext,
  StaticTemplateContext,
  StepResultTemplateContext,
  StepsTemplateContext,
  StepTemplateContext,
} from './batch-template-context.js';

export const BATCH_TEMPLATE_DELIMITERS: [string, string] = ['${{', '}}'];

/** The fields of each context map, as templates name them. */
export const CONTEXT_FIELDS = {
  repository: ['name', 'branch', 'search_result_paths'],
  batch_change: ['name', 'description'],
  previous_step: ['modified_files', 'added_files', 'deleted_files', 'renamed_files', 'stdout', 'stderr'],
  step: ['modified_files', 'added_files', 'deleted_files', 'renamed_files', 'stdout', 'stderr'],
  steps: ['modified_files', 'added_files', 'deleted_files', 'renamed_files', 'path'],
} as const;

const repositoryMap = (r: RepositoryTemplateContext) => ({ name: r.name, branch: r.branch, search_result_paths: [...r.searchResultPaths] });
const batchChangeMap = (b: BatchChangeTemplateContext) => ({ name: b.name, description: b.description });
const stepResultMap = (s: StepResultTemplateContext | undefined) => ({
  modified_files: [...(s?.modifiedFiles ?? [])],
  added_files: [...(s?.addedFiles ?? [])],
  deleted_files: [...(s?.deletedFiles ?? [])],
  renamed_files: [...(s?.renamedFiles ?? [])],
  stdout: s?.stdout ?? '',
  stderr: s?.stderr ?? '',
});
const stepsMap = (s: StepsTemplateContext | undefined) => ({
  modified_files: [...(s?.modifiedFiles ?? [])],
  added_files: [...(s?.addedFiles ?? [])],
  deleted_files: [...(s?.deletedFiles ?? [])],
  renamed_files: [...(s?.renamedFiles ?? [])],
  path: s?.path ?? '',
});
/** A copy, so a template function (`set`-like helpers do not exist, but a caller's data is never shared) can't alter the caller's. */
const copyOutputs = (outputs: Record<string, unknown>): Record<string, unknown> => structuredClone(outputs);

/** The template functions of a step's fields (`step.*` is empty before the step ran). */
function stepFunctions(ctx: StepTemplateContext): Record<string, GoFunction> {
  return {
    repository: () => repositoryMap(ctx.repository),
    batch_change: () => batchChangeMap(ctx.batchChange),
    previous_step: () => stepResultMap(ctx.previousStep),
    step: () => stepResultMap(ctx.step),
    steps: () => stepsMap(ctx.steps),
    outputs: () => copyOutputs(ctx.outputs),
  };
}

function changesetFunctions(ctx: ChangesetTemplateContext): Record<string, GoFunction> {
  return {
    repository: () => repositoryMap(ctx.repository),
    batch_change: () => batchChangeMap(ctx.batchChange),
    steps: () => stepsMap(ctx.steps),
    outputs: () => copyOutputs(ctx.outputs),
    batch_change_link: () => ctx.batchChangeLink ?? '',
  };
}

/** Names each template location may use beyond the helper functions and Go's builtins. */
export const LOCATION_NAMES = {
  step: ['repository', 'batch_change', 'previous_step', 'step', 'steps', 'outputs'],
  outputs: ['repository', 'batch_change', 'previous_step', 'step', 'steps', 'outputs'],
  changesetTemplate: ['repository', 'batch_change', 'steps', 'outputs', 'batch_change_link'],
} as const;

/** A Go template error as a BatchTemplateError naming the variable or function and where it is. */
export function toBatchTemplateError(err: unknown, text: string, contextNames: readonly string[]): BatchTemplateError {
  if (!(err instanceof GoTemplateError)) return new BatchTemplateError(`template ${JSON.stringify(text)}: ${(err as Error).message ?? String(err)}`, undefined, { cause: err });
  const where = `line ${err.line}, column ${err.column}`;
  const position = { line: err.line, column: err.column };
  if (err.phase === 'parse') {
    const fn = /^function "([^"]+)" not defined$/.exec(err.detail);
    if (fn) {
      return new BatchTemplateError(
        `template ${JSON.stringify(text)}, ${where}: unknown variable or function "${fn[1]}" (available here: ${contextNames.join(', ')}; functions: join, split, replace, join_if, matches and Go's builtins eq ne lt le gt ge and or not index len print printf println slice)`,
        position,
        { cause: err },
      );
    }
    return new BatchTemplateError(`template ${JSON.stringify(text)}, ${where}: does not parse: ${err.detail}`, position, { cause: err });
  }
  const node = err.nodeText ?? '';
  const missing = /^map has no entry for key "([^"]*)"$/.exec(err.detail);
  if (missing) {
    const head = node.split('.')[0]!;
    if (head === 'outputs') {
      return new BatchTemplateError(`template ${JSON.stringify(text)}, ${where}: ${node}: no output named "${missing[1]}" has been set (outputs are set by the steps' \`outputs\`)`, position, { cause: err });
    }
    const fields = (CONTEXT_FIELDS as Record<string, readonly string[]>)[head];
    if (fields) {
      return new BatchTemplateError(`template ${JSON.stringify(text)}, ${where}: ${node}: ${head} has no field "${missing[1]}" (it has: ${fields.join(', ')})`, position, { cause: err });
    }
    return new BatchTemplateError(`template ${JSON.stringify(text)}, ${where}: ${node}: no entry for key "${missing[1]}"`, position, { cause: err });
  }
  const named = node === '' || err.detail.startsWith(`error calling ${node}:`);
  return new BatchTemplateError(`template ${JSON.stringify(text)}, ${where}: ${named ? '' : `${node}: `}${err.detail}`, position, { cause: err });
}

function render(text: string, functions: Record<string, GoFunction>, contextNames: readonly string[]): string {
  // Nothing to render: skip the parse (most `env` values and many `run`s have no template).
  if (!text.includes(BATCH_TEMPLATE_DELIMITERS[0])) return text;
  try {
    const set = new GoTemplateSet({ delimiters: BATCH_TEMPLATE_DELIMITERS, missingKey: 'error', functions: { ...BATCH_TEMPLATE_FUNCTIONS, ...functions } });
    return set.parse('template', text).execute('template', null);
  } catch (err) {
    throw toBatchTemplateError(err, text, contextNames);
  }
}

/** Renders a step field (`run`, `env` values, `files` values, `outputs.<name>.value`). Throws BatchTemplateError. */
export function renderStepTemplate(text: string, ctx: StepTemplateContext): string {
  return render(text, stepFunctions(ctx), ctx.step ? LOCATION_NAMES.outputs : LOCATION_NAMES.step);
}

/** Renders a `changesetTemplate` field (title, body, branch, commit message, author). Throws BatchTemplateError. */
export function renderChangesetTemplate(text: string, ctx: ChangesetTemplateContext): string {
  return render(text, changesetFunctions(ctx), LOCATION_NAMES.changesetTemplate);
}

/** The original's isTrueOutput: the rendered text, spaces trimmed, is exactly "true". */
const isTrueOutput = (output: string): boolean => output.trim() === 'true';

/** A step's `if:`: undefined or true runs; a template runs when it renders to "true" (spaces trimmed). Throws BatchTemplateError. */
export function evaluateStepIf(cond: boolean | string | undefined, ctx: StepTemplateContext): boolean {
  if (cond === undefined) return true;
  if (typeof cond === 'boolean') return cond;
  return isTrueOutput(renderStepTemplate(cond, ctx));
}

/**
 * True only when `cond` renders to something other than "true" from the values known before execution
 * (repository and batch change; the steps' results and outputs unknown): the original's static `if:`,
 * which drops the step from the workspace's task so the cache key does not depend on it. A condition that
 * depends on an unknown value, or fails to render, is not statically false: it is decided when the step runs.
 */
export function isStaticallyFalse(cond: boolean | string | undefined, staticCtx: StaticTemplateContext): boolean {
  if (cond === undefined || cond === true) return false;
  if (cond === false) return true;
  const unknown = (name: string): GoFunction => () => new GoUnknown(name);
  const functions: Record<string, GoFunction> = {
    ...BATCH_TEMPLATE_FUNCTIONS,
    repository: () => repositoryMap(staticCtx.repository),
    batch_change: () => batchChangeMap(staticCtx.batchChange),
    previous_step: unknown('previous_step'),
    step: unknown('step'),
    steps: unknown('steps'),
    outputs: unknown('outputs'),
  };
  try {
    const set = new GoTemplateSet({ delimiters: BATCH_TEMPLATE_DELIMITERS, missingKey: 'error', functions });
    return !isTrueOutput(set.parse('if', cond).execute('if', null));
  } catch (err) {
    if (err instanceof GoUnknownValueError || err instanceof GoTemplateError) return false;
    throw err;
  }
}
