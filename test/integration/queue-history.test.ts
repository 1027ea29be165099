// The charts' time series (migration 0006) on both databases: samples of queue sizes and active
// executors, finished jobs counted from the mark calls, the roll-up to ten minutes, pruning, and a size
// query that reads only the live rows of the jobs table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_SIZES_SQL } from '../../src/coordinator/store/history-store.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('queue history on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let executor: ExecutorApi;

  beforeAll(async () => {
    // Retries, so markErrored leaves `errored`; the timer out of the way (the test samples itself).
    c = await startTestCoordinator(backend, { COORDINATOR_MAX_NUM_RETRIES: '3', COORDINATOR_HISTORY_INTERVAL: '1h' });
    admin = new AdminApi(c.url, c.adminToken);
    executor = new ExecutorApi(c.url, c.executorToken, `history-${backend}`);
    await executor.heartbeat('batches');
  });
  afterAll(async () => {
    await c?.stop();
  });

  const lastMinute = async (queue: string) => (await c.services.history.queueSeries(queue, 60, 3600)).points.at(-1)!;

  it('samples queue sizes and counts the jobs the mark calls finished, by their end state', async () => {
    await c.services.historyRecorder.recordNow();
    const before = await lastMinute('batches');
    for (let i = 0; i < 6; i++) await admin.enqueue('batches');
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push((await executor.dequeue('batches')).json);
    expect((await executor.markComplete('batches', taken[0]!)).status).toBe(204);
    expect((await executor.markComplete('batches', taken[1]!)).status).toBe(204);
    expect((await executor.jobPost('batches', 'markErrored', taken[2]!, { errorMessage: 'boom' })).status).toBe(204);
    // A mark the coordinator refuses (the job is not ours any more) counts nothing.
    expect((await executor.markComplete('batches', taken[0]!)).status).not.toBe(204);
    await c.services.historyRecorder.recordNow();
    const point = await lastMinute('batches');
    expect(point.bucketStart.getTime() % 60_000).toBe(0);
    expect(point.queued).toBeGreaterThanOrEqual(2);
    expect(point.processing).toBeGreaterThanOrEqual(1);
    // The same minute as `before` or a new one: the counts added are ours.
    const added = point.bucketStart.getTime() === before.bucketStart.getTime() ? { c: point.completed - before.completed, e: point.errored - before.errored } : { c: point.completed, e: point.errored };
    expect(added).toEqual({ c: 2, e: 1 });
    // The ten-minute row holds the same counts, rolled up from the minutes.
    const tens = (await c.services.history.queueSeries('batches', 600, 86_400)).points.at(-1)!;
    expect(tens.bucketStart.getTime() % 600_000).toBe(0);
    expect(tens.completed).toBeGreaterThanOrEqual(2);
    expect(tens.queued).toBeGreaterThanOrEqual(point.queued);
    // Active executors: this one heartbeated.
    expect((await c.services.history.executorSeries(60, 3600)).points.at(-1)!.active).toBeGreaterThanOrEqual(1);
  });

  it('keeps the largest size seen in a minute, and drops rows past their retention', async () => {
    const db = c.database.db;
    await db.query(`INSERT INTO queue_history (resolution_s, bucket_start, queue, queued) VALUES (60, date_trunc('minute', now()) - interval '3 hours', 'batches', 5), (600, date_trunc('hour', now()) - interval '3 days', 'batches', 5)`);
    await db.query(`INSERT INTO executor_history (resolution_s, bucket_start, active) VALUES (60, date_trunc('minute', now()) - interval '3 hours', 9)`);
    await db.query(`UPDATE queue_history SET queued = 1000 WHERE resolution_s = 60 AND queue = 'codeintel' AND bucket_start = (SELECT max(bucket_start) FROM queue_history WHERE resolution_s = 60 AND queue = 'codeintel')`);
    await c.services.historyRecorder.recordNow();
    const old = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM queue_history WHERE bucket_start < now() - interval '150 minutes' AND resolution_s = 60 OR bucket_start < now() - interval '49 hours'`);
    expect(old[0]!.n).toBe(0);
    expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM executor_history WHERE active = 9`))[0]!.n).toBe(0);
    // Unless the minute turned in between, the sample (0 queued) did not lower the peak of 1000.
    const codeintel = await lastMinute('codeintel');
    expect([0, 1000]).toContain(codeintel.queued);
  });

  it.runIf(backend === 'postgres')('samples queue sizes from the live rows only, not a scan of every finished job', async () => {
    const db = c.database.db;
    await db.query(`INSERT INTO jobs (queue, state, spec, finished_at) SELECT 'batches', 'completed', '{}'::jsonb, now() FROM generate_series(1, 20000)`);
    await db.query('ANALYZE jobs');
    const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${QUEUE_SIZES_SQL}`)).map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).not.toMatch(/Seq Scan on jobs/);
    expect(plan).toMatch(/jobs_dequeue_idx/);
    expect(plan).toMatch(/jobs_processing_idx/);
  });
});
