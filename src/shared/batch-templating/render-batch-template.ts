// Renders a batch spec's `${{ }}` templates (the original's src-cli lib/batches/template): Go text/template
// with the `${{ }}` delimiters, missingkey=error, the batch contexts as template functions returning maps
// (so `repository.name` reads as in the original, without a leading dot) and the helper functions.
import { BatchTemplateError } from './batch-template-error.js';
import type { ChangesetTemplateContext, StaticTemplateContext, StepTemplateContext, TemplateLocation } from './batch-template-context.js';

/** Renders a step field (`run`, `env` values, `files` values, `outputs.<name>.value`). Throws BatchTemplateError. */
export function renderStepTemplate(text: string, ctx: StepTemplateContext): string {
  void text;
  void ctx;
  throw new BatchTemplateError('renderStepTemplate: not implemented yet');
}

/** Renders a `changesetTemplate` field (title, body, branch, commit message, author). Throws BatchTemplateError. */
export function renderChangesetTemplate(text: string, ctx: ChangesetTemplateContext): string {
  void text;
  void ctx;
  throw new BatchTemplateError('renderChangesetTemplate: not implemented yet');
}

/** A step's `if:`: undefined or true runs; a template runs when it renders to "true" (spaces trimmed). */
export function evaluateStepIf(cond: boolean | string | undefined, ctx: StepTemplateContext): boolean {
  if (cond === undefined || typeof cond === 'boolean') return cond ?? true;
  return renderStepTemplate(cond, ctx).trim() === 'true';
}

/** True only when `cond` renders to something other than "true" from the values known before execution. */
export function isStaticallyFalse(cond: boolean | string | undefined, staticCtx: StaticTemplateContext): boolean {
  void staticCtx;
  return cond === false;
}

/** Unknown variables or functions, and parse errors, of a template written at `where` (empty when fine). */
export function templateVariablesProblems(text: string, where: TemplateLocation): string[] {
  void text;
  void where;
  return [];
}
