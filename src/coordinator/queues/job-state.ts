// The states of a job, as stored in jobs.state (reference §7.1).

/**
 * - `queued`: waiting; dequeue moves it to `processing`. A stalled `processing` job comes back here.
 * - `processing`: an executor holds it and heartbeats; it ends with a mark call.
 * - `completed`: markComplete.
 * - `errored`: markErrored with retries left; requeued after the retry delay.
 * - `failed`: markFailed, markErrored without retries left, or too many resets.
 * - `canceled`: canceled while queued, or a mark of a job whose `cancel` flag was set.
 */
export type JobState = 'queued' | 'processing' | 'completed' | 'errored' | 'failed' | 'canceled';

export const JOB_STATES: readonly JobState[] = ['queued', 'processing', 'completed', 'errored', 'failed', 'canceled'];

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}
