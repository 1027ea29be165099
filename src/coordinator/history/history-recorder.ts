// Keeps the charts' time series: counts the jobs that finish (in memory, from the mark calls, so the
// hot path writes nothing more) and, every COORDINATOR_HISTORY_INTERVAL, writes them with a sample of
// the queue sizes and active executors (HistoryStore.record). A crash loses at most one interval's counts.
import type { Logger } from '../../shared/logger.js';
import { PeriodicTask } from '../background/periodic-task.js';
import type { JobState } from '../queues/job-state.js';
import type { FinishedCounts, HistoryStore } from '../store/history-store.js';

/** An executor is active when its last heartbeat is this recent (the Executors page's rule, reference §7.4). */
const ACTIVE_WITHIN_MS = 15_000;

export class HistoryRecorder {
  private pending: FinishedCounts = new Map();
  private readonly task: PeriodicTask;

  constructor(
    private readonly store: HistoryStore,
    private readonly queues: readonly string[],
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.task = new PeriodicTask('queue history', intervalMs, () => this.record(), logger);
  }

  /** Counts a job that reached `state` (completed, errored or failed; canceled jobs are not charted). */
  jobFinished(queue: string, state: JobState): void {
    if (state !== 'completed' && state !== 'errored' && state !== 'failed') return;
    const counts = this.pending.get(queue) ?? { completed: 0, errored: 0, failed: 0 };
    counts[state]++;
    this.pending.set(queue, counts);
  }

  /** Records a sample now (the first one at start, so the charts begin at once). */
  start(): void {
    void this.task.runOnce();
    this.task.start();
  }

  /** Writes a sample with every count so far. Exposed for tests; never throws (logs instead). */
  async recordNow(): Promise<void> {
    // A sample already running took the counts before the caller's: wait for it, then write another.
    await this.task.runOnce();
    await this.task.runOnce();
  }

  /** Stops sampling and writes the counts not written yet. Idempotent. */
  async stop(): Promise<void> {
    await this.task.stop();
    if (this.pending.size > 0) await this.record().catch((err: unknown) => this.logger.warn('could not write the last finished-job counts', { err }));
  }

  private async record(): Promise<void> {
    const finished = this.pending;
    this.pending = new Map();
    try {
      const [sizes, active] = await Promise.all([this.store.queueSizes(), this.store.activeExecutors(ACTIVE_WITHIN_MS)]);
      await this.store.record(this.queues, sizes, finished, active);
    } catch (err) {
      // Keep the counts for the next try.
      for (const [queue, counts] of finished) {
        const now = this.pending.get(queue) ?? { completed: 0, errored: 0, failed: 0 };
        this.pending.set(queue, { completed: now.completed + counts.completed, errored: now.errored + counts.errored, failed: now.failed + counts.failed });
      }
      throw err;
    }
  }
}
