// An execution's state from its workspaces' states, as the original computes a batch spec's state from
// its workspace execution jobs: all queued → QUEUED; all completed → COMPLETED; all canceled → CANCELED;
// only completed and failed → FAILED; finished with some canceled → CANCELED; some still canceling and
// the rest finished → CANCELING; anything else (one runs, or some wait while others finished) → PROCESSING.
import type { BatchExecutionState } from '../../store/batch-store.js';

export function computeExecutionState(counts: ReadonlyMap<BatchExecutionState, number>): BatchExecutionState {
  const n = (state: BatchExecutionState) => counts.get(state) ?? 0;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  // No workspace to run (every one skipped, or none resolved): nothing is left to do.
  if (total === 0) return 'COMPLETED';
  if (n('QUEUED') === total) return 'QUEUED';
  if (n('COMPLETED') === total) return 'COMPLETED';
  if (n('CANCELED') === total) return 'CANCELED';
  if (n('COMPLETED') + n('FAILED') === total) return 'FAILED';
  if (n('COMPLETED') + n('FAILED') + n('CANCELED') === total) return 'CANCELED';
  if (n('CANCELING') > 0 && n('CANCELING') + n('COMPLETED') + n('FAILED') + n('CANCELED') === total) return 'CANCELING';
  return 'PROCESSING';
}
