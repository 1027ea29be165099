// The coordinator keeps the jobs table's planner statistics fresh itself, so dequeue stays an index
// lookup when the queue grows from a handful of jobs to 100,000, even with autovacuum off (or on PGlite).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore } from '../../src/coordinator/store/job-store.js';
import { migrate } from '../../src/coordinator/store/migrator.js';
import { silentLogger } from '../../src/shared/logger.js';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../helpers/test-database.js';

const DEQUEUE_CANDIDATE = `EXPLAIN SELECT id FROM jobs WHERE queue = 'batches' AND state = 'queued'
  AND (process_after IS NULL OR process_after <= now()) ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`;

describe.each(BACKENDS)('jobs table statistics on %s', (backend) => {
  let t: TestDatabase;
  let jobs: JobStore;
  beforeAll(async () => {
    t = await openTestDatabase(backend);
    await migrate(t.db, silentLogger);
    jobs = new JobStore(t.db);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('re-analyzes after the table grew, and then the dequeue plan is the partial index', async () => {
    // Statistics taken while the table held a few finished jobs: "queued" looks rare.
    await t.db.query(`INSERT INTO jobs (queue, spec, state) SELECT 'batches', '{}'::jsonb, 'completed' FROM generate_series(1, 20)`);
    await t.db.query('ANALYZE jobs');
    expect(await jobs.analyzeIfStale()).toBe(false);
    await t.db.query(`INSERT INTO jobs (queue, spec) SELECT 'batches', '{}'::jsonb FROM generate_series(1, 30000)`);
    expect(await jobs.analyzeIfStale()).toBe(true);
    expect(await jobs.analyzeIfStale()).toBe(false);
    const plan = (await t.db.query<{ 'QUERY PLAN': string }>(DEQUEUE_CANDIDATE)).map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toContain('jobs_dequeue_idx');
    expect(plan).not.toContain('Sort');
  });
});
