// Step i of a batches job rendered into the files its `run` docker step needs, in the helper's directory
// (`.batches`): its `if:` first (a step that does not run gets `skipped<i>` and a script that does
// nothing), then `run<i>.sh` (the rendered `run`), `files<i>/<n>` (the rendered `files`) and `step<i>.sh`
// (batch-step-script.ts). No I/O: `src batch-helper pre <i>` writes them into the workspace; for step 0,
// whose templates see only the repository and the batch change, the coordinator renders them when it
// builds the job and ships them as job files (no helper start before the first step).
import type { BatchStepInput } from '../protocol/batch-execution.js';
import { BatchTemplateError, evaluateStepIf, renderStepTemplate, type StepTemplateContext } from '../shared/batch-templating/index.js';
import { buildStepScript, skippedStepScript, stepFiles } from './batch-step-script.js';

/** A template of the step that does not render, or its `if:`: the message names the field (`steps[0].run: …`). */
export class StepRenderError extends Error {}

export interface RenderedStep {
  /** Helper-directory-relative name → content. */
  files: Record<string, string>;
  /** Why the step does not run (its `if:`), or null. */
  skipped: string | null;
  /** One line for the job's log. */
  summary: string;
}

export function renderStepFiles(index: number, step: BatchStepInput, ctx: StepTemplateContext): RenderedStep {
  const where = (field: string) => `steps[${index}].${field}`;
  const attempt = <T>(field: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof BatchTemplateError) throw new StepRenderError(`${where(field)}: ${err.message}`);
      throw err;
    }
  };
  const f = stepFiles(index);
  if (!attempt('if', () => evaluateStepIf(step.if, ctx))) {
    const why = `its if: ${JSON.stringify(step.if)} is not true`;
    return { files: { [f.skipped]: why, [f.script]: skippedStepScript(index, why) }, skipped: why, summary: `step ${index} is skipped: ${why}` };
  }
  const render = (field: string, text: string) => attempt(field, () => renderStepTemplate(text, ctx));
  const run = render('run', step.run);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(step.env)) env[name] = render(`env.${name}`, value);
  const files: Record<string, string> = {};
  const copies: Array<{ source: string; target: string }> = [];
  for (const [n, [target, content]] of Object.entries(step.files).entries()) {
    const source = `${f.filesDir}/${n}`;
    files[source] = render(`files[${JSON.stringify(target)}]`, content);
    copies.push({ source, target });
  }
  files[f.run] = run.endsWith('\n') ? run : `${run}\n`;
  files[f.script] = buildStepScript({ index, env, files: copies });
  const summary = `step ${index}: rendered its run (${run.split('\n').length} lines), ${Object.keys(env).length} env values and ${copies.length} files; secrets: ${step.secretEnv.length > 0 ? step.secretEnv.join(', ') : 'none'}`;
  return { files, skipped: null, summary };
}
