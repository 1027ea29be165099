// The SQL of the charts' time series (migration 0006): samples of queue sizes and active executors,
// finished-job counts, the roll-up from minutes to ten minutes, pruning, and the series a chart reads.
import type { Database } from './database.js';

/** One minute or ten minutes. */
export type HistoryResolution = 60 | 600;

/** What one queue's bucket holds. */
export interface QueueHistoryPoint {
  bucketStart: Date;
  queued: number;
  processing: number;
  completed: number;
  errored: number;
  failed: number;
}

export interface ExecutorHistoryPoint {
  bucketStart: Date;
  active: number;
}

/** Finished jobs to add to the current minute, per queue. */
export type FinishedCounts = Map<string, { completed: number; errored: number; failed: number }>;

/** How long rows are kept, in seconds, per resolution: the last-hour chart and the last-day chart, with a margin. */
export const HISTORY_RETENTION_S: Record<HistoryResolution, number> = { 60: 2 * 3600, 600: 2 * 86_400 };

/** Queue sizes now; exported so a test can check its plan reads no finished rows. */
export const QUEUE_SIZES_SQL = `SELECT queue, sum(queued)::int AS queued, sum(processing)::int AS processing FROM (
    SELECT queue, count(*) AS queued, 0 AS processing FROM jobs WHERE state = 'queued' GROUP BY queue
    UNION ALL
    SELECT queue, 0, count(*) FROM jobs WHERE state = 'processing' GROUP BY queue
  ) sizes GROUP BY queue`;

export class HistoryStore {
  constructor(private readonly db: Database) {}

  /**
   * Queue sizes now, per queue with any queued or processing job. Each half matches a partial index of
   * the jobs table (jobs_dequeue_idx, jobs_processing_idx), so this reads only the live rows, never the
   * finished ones, however many there are.
   */
  async queueSizes(): Promise<Map<string, { queued: number; processing: number }>> {
    const rows = await this.db.query<{ queue: string; queued: number; processing: number }>(QUEUE_SIZES_SQL);
    return new Map(rows.map((r) => [r.queue, { queued: r.queued, processing: r.processing }]));
  }

  /** Executors whose last heartbeat is within `activeWithinMs` (the executors_last_seen_at_idx index). */
  async activeExecutors(activeWithinMs: number): Promise<number> {
    const rows = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM executors WHERE last_seen_at > now() - $1 * interval '1 millisecond'`, [activeWithinMs]);
    return rows[0]?.n ?? 0;
  }

  /**
   * Writes one sample into the current minute (by the database's clock, so replicas agree): sizes and
   * active executors keep the largest value seen in the minute, finished counts add up. Then the ten-
   * minute rows of the last twenty minutes are computed again from the minutes (idempotent: replicas
   * doing it at once write the same sums), and rows past their retention are deleted. One transaction.
   */
  async record(queues: readonly string[], sizes: Map<string, { queued: number; processing: number }>, finished: FinishedCounts, activeExecutors: number): Promise<void> {
    const names = [...new Set([...queues, ...finished.keys()])];
    const column = (pick: (q: string) => number) => names.map(pick);
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO queue_history AS h (resolution_s, bucket_start, queue, queued, processing, completed, errored, failed)
         SELECT 60, date_trunc('minute', now()), q.queue, q.queued, q.processing, q.completed, q.errored, q.failed
         FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[]) AS q(queue, queued, processing, completed, errored, failed)
         ON CONFLICT (resolution_s, queue, bucket_start) DO UPDATE SET
           queued = GREATEST(h.queued, excluded.queued), processing = GREATEST(h.processing, excluded.processing),
           completed = h.completed + excluded.completed, errored = h.errored + excluded.errored, failed = h.failed + excluded.failed`,
        [
          names,
          column((q) => sizes.get(q)?.queued ?? 0),
          column((q) => sizes.get(q)?.processing ?? 0),
          column((q) => finished.get(q)?.completed ?? 0),
          column((q) => finished.get(q)?.errored ?? 0),
          column((q) => finished.get(q)?.failed ?? 0),
        ],
      );
      await tx.query(
        `INSERT INTO executor_history AS h (resolution_s, bucket_start, active) VALUES (60, date_trunc('minute', now()), $1)
         ON CONFLICT (resolution_s, bucket_start) DO UPDATE SET active = GREATEST(h.active, excluded.active)`,
        [activeExecutors],
      );
      // The roll-up: ten-minute rows from the minutes, for the windows the last twenty minutes touch.
      await tx.query(
        `INSERT INTO queue_history AS h (resolution_s, bucket_start, queue, queued, processing, completed, errored, failed)
         SELECT 600, date_bin('10 minutes', bucket_start, TIMESTAMPTZ 'epoch') AS ten, queue,
           max(queued), max(processing), sum(completed), sum(errored), sum(failed)
         FROM queue_history WHERE resolution_s = 60 AND bucket_start >= date_bin('10 minutes', now() - interval '20 minutes', TIMESTAMPTZ 'epoch')
         GROUP BY ten, queue
         ON CONFLICT (resolution_s, queue, bucket_start) DO UPDATE SET
           queued = excluded.queued, processing = excluded.processing, completed = excluded.completed, errored = excluded.errored, failed = excluded.failed`,
      );
      await tx.query(
        `INSERT INTO executor_history AS h (resolution_s, bucket_start, active)
         SELECT 600, date_bin('10 minutes', bucket_start, TIMESTAMPTZ 'epoch') AS ten, max(active)
         FROM executor_history WHERE resolution_s = 60 AND bucket_start >= date_bin('10 minutes', now() - interval '20 minutes', TIMESTAMPTZ 'epoch')
         GROUP BY ten
         ON CONFLICT (resolution_s, bucket_start) DO UPDATE SET active = excluded.active`,
      );
      for (const table of ['queue_history', 'executor_history']) {
        await tx.query(
          `DELETE FROM ${table} WHERE (resolution_s = 60 AND bucket_start < now() - $1 * interval '1 second') OR (resolution_s = 600 AND bucket_start < now() - $2 * interval '1 second')`,
          [HISTORY_RETENTION_S[60], HISTORY_RETENTION_S[600]],
        );
      }
    });
  }

  /** A queue's buckets of `resolution` since `sinceMs` seconds ago, oldest first, and the database's now. */
  async queueSeries(queue: string, resolution: HistoryResolution, sinceS: number): Promise<{ nowMs: number; points: QueueHistoryPoint[] }> {
    const [rows, now] = await Promise.all([
      this.db.query<QueueHistoryPoint>(
        `SELECT bucket_start AS "bucketStart", queued, processing, completed, errored, failed FROM queue_history
         WHERE resolution_s = $1 AND queue = $2 AND bucket_start >= now() - $3 * interval '1 second' ORDER BY bucket_start`,
        [resolution, queue, sinceS],
      ),
      this.now(),
    ]);
    return { nowMs: now, points: rows };
  }

  /** The active-executor buckets of `resolution` since `sinceS` seconds ago, oldest first, and the database's now. */
  async executorSeries(resolution: HistoryResolution, sinceS: number): Promise<{ nowMs: number; points: ExecutorHistoryPoint[] }> {
    const [rows, now] = await Promise.all([
      this.db.query<ExecutorHistoryPoint>(
        `SELECT bucket_start AS "bucketStart", active FROM executor_history WHERE resolution_s = $1 AND bucket_start >= now() - $2 * interval '1 second' ORDER BY bucket_start`,
        [resolution, sinceS],
      ),
      this.now(),
    ]);
    return { nowMs: now, points: rows };
  }

  private async now(): Promise<number> {
    const rows = await this.db.query<{ now: Date }>('SELECT now() AS now');
    return rows[0]!.now.getTime();
  }
}
