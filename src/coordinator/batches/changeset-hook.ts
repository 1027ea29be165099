// The seam between the batch spec execution (workspaces, jobs, results) and the changesets built from
// its results: the execution side calls it when a workspace's result is stored, the changeset side
// implements it. Kept as an interface so either side is testable alone.
import type { BatchExecutionResult } from '../../protocol/batch-execution.js';

export interface CompletedWorkspace {
  batchChangeId: number;
  /** The batch spec execution this result belongs to. */
  executionId: number;
  workspaceId: number;
  repositoryName: string;
  branch: string;
  /** The base commit the diff applies to (checked with `git apply --check` before this is called). */
  commit: string;
  /** The workspace's directory in the repository, '' for the root. */
  path: string;
  /** From the step cache rather than a job. */
  cached: boolean;
  result: BatchExecutionResult;
}

export interface ChangesetHook {
  /** A workspace's result is stored: make (or replace) its changeset spec(s). Must be idempotent. */
  workspaceCompleted(workspace: CompletedWorkspace): Promise<void>;
  /** A new execution of the batch change started: earlier changeset specs of it are superseded. */
  executionStarted(batchChangeId: number, executionId: number): Promise<void>;
}
