// Where a `batches` job keeps its execution input and its clone, and where its result goes: plain
// constants without the protocol's zod schemas, so `src batch-helper` (a node start in every batches job)
// does not load zod to know them. batch-execution.ts re-exports them.

export const BATCH_EXECUTION_INPUT_PATH = '.batches/input.json';
/** The repository is cloned here, inside the workspace; the helper's files stay beside it, out of the diff. */
export const BATCH_REPOSITORY_DIRECTORY = 'repository';
export const BATCH_RESULTS_ROUTE = '/.executors/batches/results';
