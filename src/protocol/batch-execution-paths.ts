// Where a `batches` job keeps its execution input and its clone, where its result goes, and how much of a
// step's output the result keeps: plain constants without the protocol's zod schemas, so `src
// batch-helper` (a node start in every batches job) does not load zod to know them. batch-execution.ts
// re-exports them.

export const BATCH_EXECUTION_INPUT_PATH = '.batches/input.json';
/** The repository is cloned here, inside the workspace; the helper's files stay beside it, out of the diff. */
export const BATCH_REPOSITORY_DIRECTORY = 'repository';
export const BATCH_RESULTS_ROUTE = '/.executors/batches/results';
/** A step's stdout or stderr kept for templates and the result; the rest is in the job's log only. */
export const MAX_STEP_OUTPUT_BYTES = 1024 * 1024;
