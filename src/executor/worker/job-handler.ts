// The seam between the worker loop (dequeue, heartbeat, slots, marks) and what runs one job
// (workspace, runtime, steps, logs). The loop calls `handle` and marks the job by its outcome.
import type { DequeuedJob } from '../client/coordinator-client.js';

/**
 * How a job ended, as the loop reports it (reference §4.12):
 * - `completed` → markComplete;
 * - `errored` → markErrored (retryable, e.g. a step failed or the runtime limit passed);
 * - `failed` → markFailed (the job was canceled through heartbeat cancelIds, or cannot succeed).
 */
export type JobOutcome = { state: 'completed' } | { state: 'errored'; message: string } | { state: 'failed'; message: string };

export interface JobHandler {
  /** The limits each job runs under, when the runtime says (start line of the log). */
  readonly limits?: Readonly<Record<string, string>>;
  /**
   * Runs the job to its end and never throws for a job's own failure (that is an outcome). `signal`
   * aborts it: with reason `'canceled'` (cancelIds), `'timeout'` (EXECUTOR_MAXIMUM_RUNTIME_PER_JOB) or
   * `'shutdown'` (the second SIGTERM); running steps are stopped, teardown and the log flush still happen.
   */
  handle(job: DequeuedJob, signal: AbortSignal): Promise<JobOutcome>;
  /** Releases what the handler keeps for later jobs (its runtime's), after the last job ended. Idempotent. */
  stop?(): Promise<void>;
}

/** Why a job's signal was aborted. */
export type JobAbortReason = 'canceled' | 'timeout' | 'shutdown';
