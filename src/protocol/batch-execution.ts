// What a `batches` job and the coordinator exchange besides the Job payload (reference §3.3; the
// original's batcheshelper input and step results). The coordinator writes the execution input into the
// job's workspace as a file (`.batches/input.json`, outside the repository directory `repository/`);
// the job's helper steps (`src batch-helper …`) render each step's templates from it and from the results
// of the steps before, run nothing themselves, and at the end upload the result below with the job's own
// token to `POST /.executors/batches/results` — not through log lines as the original does (a log line
// is redacted, bounded and can be forged by the step's own output).
// No I/O here.
import { z } from 'zod';

export { BATCH_EXECUTION_INPUT_PATH, BATCH_REPOSITORY_DIRECTORY, BATCH_RESULTS_ROUTE } from './batch-execution-paths.js';

export const BatchStepInputSchema = z.object({
  run: z.string(),
  container: z.string(),
  /** Literal env values (templates rendered by the helper); secret env arrives as the step's real env at dequeue. */
  env: z.record(z.string(), z.string()),
  /** Names of the step's env entries that are executor secrets. */
  secretEnv: z.array(z.string()),
  files: z.record(z.string(), z.string()),
  outputs: z.record(z.string(), z.object({ value: z.string(), format: z.enum(['text', 'json', 'yaml']) })),
  /** `if:` as written (a template or boolean); undefined: always runs. */
  if: z.union([z.boolean(), z.string()]).optional(),
});
export type BatchStepInput = z.infer<typeof BatchStepInputSchema>;

export const BatchExecutionInputSchema = z.object({
  version: z.literal(1),
  batchChange: z.object({ name: z.string(), description: z.string() }),
  repository: z.object({ name: z.string(), branch: z.string(), commit: z.string(), searchResultPaths: z.array(z.string()) }),
  /** The workspace's directory in the repository, '' for its root. */
  path: z.string(),
  steps: z.array(BatchStepInputSchema),
});
export type BatchExecutionInput = z.infer<typeof BatchExecutionInputSchema>;

export const BatchStepResultSchema = z.object({
  index: z.number().int().nonnegative(),
  skipped: z.boolean(),
  exitCode: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  modifiedFiles: z.array(z.string()),
  addedFiles: z.array(z.string()),
  deletedFiles: z.array(z.string()),
  renamedFiles: z.array(z.string()),
  /** The outputs this step set (after format parsing: json/yaml values are objects). */
  outputs: z.record(z.string(), z.unknown()),
});
export type BatchStepResult = z.infer<typeof BatchStepResultSchema>;

export const BatchExecutionResultSchema = z.object({
  version: z.literal(1),
  /** `git diff --binary` of the repository against the base commit after the last step. */
  diff: z.string(),
  /** All outputs after the last step. */
  outputs: z.record(z.string(), z.unknown()),
  steps: z.array(BatchStepResultSchema),
});
export type BatchExecutionResult = z.infer<typeof BatchExecutionResultSchema>;
