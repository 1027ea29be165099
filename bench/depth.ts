// Dequeue latency against queue depth: one executor client, ~500 timed dequeues with 100 jobs queued,
// then with 100,000 (bulk-inserted with SQL), with the table's statistics stale and fresh. Each job is
// marked complete and replaced by a new one with SQL (neither timed), so the depth stays constant.
import pg from 'pg';
import { startCoordinator } from './lib/coordinator-process.js';
import { BENCH_JOB_SPEC, ExecutorClient } from './lib/executor-client.js';
import { printHeader } from './lib/machine.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { summarize, type LatencySummary } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';

const QUEUE = 'batches';
const SAMPLES = Number(process.env.BENCH_DEPTH_SAMPLES ?? 500);
const WARMUP_SAMPLES = 50;
const DEPTHS = [100, 100_000] as const;

/** The dequeue's candidate scan, as in src/coordinator/store/job-store.ts, for EXPLAIN ANALYZE. */
const CANDIDATE_SQL = `SELECT id FROM jobs
  WHERE queue = $1 AND state = 'queued' AND (process_after IS NULL OR process_after <= now())
  ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`;

interface VariantResult {
  name: string;
  rows: Array<{ depth: number; summary: LatencySummary }>;
  /** EXPLAIN ANALYZE of the candidate scan at the deepest depth, after the timed dequeues. */
  deepPlan: string;
}

/** One coordinator on a new database; `analyze`: run ANALYZE after each bulk insert. */
async function runVariant(name: string, analyze: boolean): Promise<VariantResult> {
  const database = await createScratchDatabase('depth');
  const coordinator = await startCoordinator({ databaseUrl: database.url });
  const db = new pg.Client({ connectionString: database.url });
  const client = new ExecutorClient(coordinator.url, coordinator.executorToken, 'bench-depth');
  const rows: VariantResult['rows'] = [];
  let deepPlan = '';
  try {
    await db.connect();
    await client.heartbeat(QUEUE);
    const spec = JSON.stringify(BENCH_JOB_SPEC);
    const insert = (n: number) => db.query(`INSERT INTO jobs (queue, spec) SELECT $1, $2::jsonb FROM generate_series(1, $3)`, [QUEUE, spec, n]);
    const queued = async () => Number((await db.query(`SELECT count(*) FROM jobs WHERE state = 'queued'`)).rows[0].count);

    for (const depth of DEPTHS) {
      await insert(depth - (await queued()));
      if (analyze) await db.query('ANALYZE jobs');
      const warmup = rows.length === 0 ? WARMUP_SAMPLES : 0;
      const latencies: number[] = [];
      for (let i = 0; i < warmup + SAMPLES; i++) {
        const t0 = performance.now();
        const job = await client.dequeue(QUEUE);
        const ms = performance.now() - t0;
        if (!job) throw new Error(`queue unexpectedly empty at depth ${depth}`);
        if (i >= warmup) latencies.push(ms);
        await client.markComplete(QUEUE, job);
        await insert(1);
      }
      rows.push({ depth: await queued(), summary: summarize(latencies) });
    }
    const explain = await db.query(`EXPLAIN (ANALYZE, COSTS OFF) ${CANDIDATE_SQL}`, [QUEUE]);
    deepPlan = explain.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
  } finally {
    client.close();
    await db.end().catch(() => {});
    await coordinator.stop();
    await database.drop();
  }
  return { name, rows, deepPlan };
}

async function main(): Promise<void> {
  printHeader('dequeue latency vs queue depth (single client)', [await describeServer()]);
  const variants = [
    // Autovacuum is off on the bench server: only the coordinator's own statistics task
    // (COORDINATOR_STATISTICS_INTERVAL) analyzes the table in this variant.
    await runVariant('statistics as the coordinator keeps them', false),
    await runVariant('ANALYZE after each bulk insert', true),
  ];
  printTable(
    `dequeue round trip, ms (HTTP, no waitMs; markComplete after each, untimed; ${WARMUP_SAMPLES} warm-up dequeues dropped; target p50 at 100k ≤ 1.5 × p50 at 100)`,
    ['variant', 'queued jobs', 'samples', 'p50', 'p90', 'p99', 'max', 'p50 / p50@100', 'p90 / p90@100'],
    variants.flatMap((v) =>
      v.rows.map(({ depth, summary: s }) => [
        v.name,
        String(depth),
        String(s.n),
        fmt(s.p50, 2),
        fmt(s.p90, 2),
        fmt(s.p99, 2),
        fmt(s.max, 2),
        fmt(s.p50 / v.rows[0]!.summary.p50, 2),
        fmt(s.p90 / v.rows[0]!.summary.p90, 2),
      ]),
    ),
  );
  for (const v of variants) process.stdout.write(`\nplan of the dequeue's candidate scan at ${DEPTHS.at(-1)} queued, ${v.name}:\n${v.deepPlan}\n`);
}

await main();
