// The second form of a `batches` job's result, the one the helper's shell form uploads
// (src-cli/batch-upload-script.ts: `sh`, `git` and `curl`, no node start): a multipart/form-data body
// whose fields are what git and the step wrote, as they are — the diff, the last step's output and git's
// `--name-status -z` list — beside the helper's state as the node helper left it after the steps before
// (`null` when the last step is the first). curl reads the files itself: nothing to encode in sh. The
// coordinator turns it into the BatchExecutionResult the node helper would have sent for the same
// workspace: same steps, same outputs, same diff. No I/O here.
import { z } from 'zod';
import { parseNameStatus } from '../shared/git-name-status.js';
import { MAX_STEP_OUTPUT_BYTES } from './batch-execution-paths.js';
import { BatchStepResultSchema, type BatchExecutionResult } from './batch-execution.js';

/** The form's fields. Text fields are short; the files are the step's and git's output. */
export const BATCH_RESULT_FORM_FIELDS = ['version', 'state', 'index', 'skipped', 'exitCode', 'stdout', 'stderr', 'changes', 'diff'] as const;
type FieldName = (typeof BATCH_RESULT_FORM_FIELDS)[number];

/** The helper's state after the steps before the last (its state.json). */
const StateSchema = z.object({ results: z.array(BatchStepResultSchema), outputs: z.record(z.string(), z.unknown()) });

export class BatchResultFormError extends Error {}

/** Decodes the form; throws BatchResultFormError naming the field at fault. */
export function decodeBatchResultForm(fields: ReadonlyMap<string, Buffer>): BatchExecutionResult {
  for (const name of fields.keys()) {
    if (!(BATCH_RESULT_FORM_FIELDS as readonly string[]).includes(name)) throw new BatchResultFormError(`${name}: not a field of the result form (${BATCH_RESULT_FORM_FIELDS.join(', ')})`);
  }
  const field = (name: FieldName): Buffer => {
    const value = fields.get(name);
    if (value === undefined) throw new BatchResultFormError(`${name}: missing`);
    return value;
  };
  const textField = (name: FieldName) => field(name).toString('utf8').trim();
  if (textField('version') !== '1') throw new BatchResultFormError(`version: expected 1, got ${JSON.stringify(textField('version').slice(0, 20))}`);
  const index = textField('index');
  if (!/^\d{1,6}$/.test(index)) throw new BatchResultFormError(`index: expected a step index, got ${JSON.stringify(index.slice(0, 20))}`);
  const skippedText = textField('skipped');
  if (skippedText !== 'true' && skippedText !== 'false') throw new BatchResultFormError(`skipped: expected true or false, got ${JSON.stringify(skippedText.slice(0, 20))}`);
  const skipped = skippedText === 'true';
  const exitText = textField('exitCode');
  if (exitText !== 'null' && !/^\d{1,9}$/.test(exitText)) throw new BatchResultFormError(`exitCode: expected a number or null, got ${JSON.stringify(exitText.slice(0, 20))}`);
  let state: z.infer<typeof StateSchema> | null = null;
  const stateText = textField('state');
  if (stateText !== 'null') {
    let value: unknown;
    try {
      value = JSON.parse(stateText);
    } catch (err) {
      throw new BatchResultFormError(`state: not JSON: ${(err as Error).message}`);
    }
    const parsed = StateSchema.safeParse(value);
    if (!parsed.success) throw new BatchResultFormError(`state: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(state)'}: ${i.message}`).join('; ')}`);
    state = parsed.data;
  }
  // As the node helper reads a step's output: UTF-8 (invalid bytes replaced), its first MAX_STEP_OUTPUT_BYTES.
  const output = (name: 'stdout' | 'stderr') => field(name).subarray(0, MAX_STEP_OUTPUT_BYTES).toString('utf8');
  const last = {
    index: Number(index),
    skipped,
    exitCode: skipped || exitText === 'null' ? null : Number(exitText),
    stdout: output('stdout'),
    stderr: output('stderr'),
    ...parseNameStatus(skipped ? '' : field('changes').toString('utf8')),
    outputs: {},
  };
  return { version: 1, diff: field('diff').toString('utf8'), outputs: state?.outputs ?? {}, steps: [...(state?.results ?? []), last] };
}
