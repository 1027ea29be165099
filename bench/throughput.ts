// Queue throughput: dequeue + markComplete cycles/s with 16 concurrent executor clients over HTTP, jobs
// pre-enqueued; same-run baselines: graphile-worker and pg-boss fetching and completing no-op jobs with
// 16-way concurrency on the same PostgreSQL server.
import { Logger, run, runMigrations } from 'graphile-worker';
import PgBoss from 'pg-boss';
import pg from 'pg';
import { startCoordinator } from './lib/coordinator-process.js';
import { CPU_COUNT } from './lib/cpu-usage.js';
import { BENCH_JOB_SPEC, ExecutorClient } from './lib/executor-client.js';
import { printHeader } from './lib/machine.js';
import { measureRate, runLoops, type RateResult } from './lib/rate-window.js';
import { createScratchDatabase, describeServer, walPositionBytes } from './lib/scratch-database.js';
import { fmt, printTable } from './lib/table.js';

const QUEUE = 'batches';
const CONCURRENCY = 16;
const WARMUP_MS = Number(process.env.BENCH_THROUGHPUT_WARMUP_MS ?? 3_000);
const WINDOW_MS = Number(process.env.BENCH_THROUGHPUT_WINDOW_MS ?? 15_000);
/** Enough for warm-up + window at several thousand cycles/s; every system gets the same number. */
const PRE_ENQUEUED = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 100_000);
/** A second pg-boss run on a shallow queue (drains within the window; its rate is up to the drain). */
const SHALLOW_PGBOSS_JOBS = 5_000;
/** Each library's own default pool (node-postgres' 10), which is also the coordinator's fixed pool size. */
const POOL_SIZE = 10;

interface Row {
  name: string;
  result: RateResult;
  /** Cores used by the server side when it is a separate process (the coordinator). */
  serverCores?: number;
}

async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

/** A checkpoint now, so the one the bulk insert owes does not land inside the window. */
const settle = (url: string) => sql(url, 'CHECKPOINT');

async function benchCoordinator(): Promise<Row> {
  const database = await createScratchDatabase('throughput_ours');
  const coordinator = await startCoordinator({ databaseUrl: database.url });
  const clients = Array.from({ length: CONCURRENCY }, (_, i) => new ExecutorClient(coordinator.url, coordinator.executorToken, `bench-throughput-${i}`));
  try {
    // The coordinator has migrated once /healthz answers; insert straight into its table.
    await sql(database.url, `INSERT INTO jobs (queue, spec) SELECT $1, $2::jsonb FROM generate_series(1, $3)`, [QUEUE, JSON.stringify(BENCH_JOB_SPEC), PRE_ENQUEUED]);
    await sql(database.url, 'ANALYZE jobs');
    await settle(database.url);
    await Promise.all(clients.map((c) => c.heartbeat(QUEUE)));
    let cycles = 0;
    const loops = runLoops(CONCURRENCY, async (i) => {
      const client = clients[i]!;
      const job = await client.dequeue(QUEUE);
      if (!job) return false;
      await client.markComplete(QUEUE, job);
      cycles++;
      return true;
    });
    const result = await measureRate({
      warmupMs: WARMUP_MS,
      windowMs: WINDOW_MS,
      count: () => cycles,
      isDrained: () => loops.emptyLoops() > 0,
      pids: [coordinator.pid],
      counter: walPositionBytes,
    });
    await loops.stop();
    return { name: 'ours: HTTP dequeue + markComplete', result, serverCores: result.cpu.pidCores.get(coordinator.pid) };
  } finally {
    clients.forEach((c) => c.close());
    await coordinator.stop();
    await database.drop();
  }
}

async function benchGraphileWorker(): Promise<Row> {
  const database = await createScratchDatabase('throughput_graphile');
  try {
    // Errors only, and none once stopping: DROP DATABASE … WITH (FORCE) ends what is left.
    let ending = false;
    const quiet = new Logger(() => (level, message) => {
      if (level === 'error' && !ending) process.stderr.write(`graphile-worker: ${message}\n`);
    });
    await runMigrations({ connectionString: database.url, logger: quiet });
    await sql(
      database.url,
      `SELECT count(*) FROM graphile_worker.add_jobs(array(
         SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM generate_series(1, $1)))`,
      [PRE_ENQUEUED],
    );
    await sql(database.url, 'ANALYZE graphile_worker._private_jobs');
    await settle(database.url);
    // Our own pool, ended before the database is dropped: a pool graphile-worker ends lazily can get
    // the DROP's "terminating connection" as an unhandled 'error' and crash the bench.
    const pool = new pg.Pool({ connectionString: database.url, max: POOL_SIZE });
    pool.on('error', (err) => {
      if (!ending) process.stderr.write(`graphile-worker pool: ${err.message}\n`);
    });
    let completed = 0;
    let drained = false;
    try {
      const runner = await run({
        pgPool: pool,
        concurrency: CONCURRENCY,
        // Only matters once the queue is empty: with work queued each worker fetches again at once.
        pollInterval: 10,
        noHandleSignals: true,
        logger: quiet,
        taskList: { noop: async () => {} },
      });
      runner.events.on('job:success', () => completed++);
      runner.events.on('worker:getJob:empty', () => (drained = true));
      try {
        const result = await measureRate({ warmupMs: WARMUP_MS, windowMs: WINDOW_MS, count: () => completed, isDrained: () => drained, counter: walPositionBytes });
        return { name: 'graphile-worker 0.16 run(): get_job + complete_job', result };
      } finally {
        ending = true;
        await runner.stop();
      }
    } finally {
      ending = true;
      await pool.end();
    }
  } finally {
    await database.drop();
  }
}

/**
 * pg-boss 10's fetch sorts every queued row of the queue (its index is on (name, start_after), the order
 * is priority, created_on, id), so its rate falls with depth; `jobs` lets it also run on a shallow queue.
 */
async function benchPgBoss(jobs = PRE_ENQUEUED, warmupMs = WARMUP_MS): Promise<Row> {
  const database = await createScratchDatabase('throughput_pgboss');
  const boss = new PgBoss({ connectionString: database.url, max: POOL_SIZE, supervise: false, schedule: false });
  let stopped = false;
  // After stop(), DROP DATABASE … WITH (FORCE) ends connections pg-boss has not closed yet: not news.
  boss.on('error', (err: Error) => {
    if (!stopped) process.stderr.write(`pg-boss: ${err.message}\n`);
  });
  try {
    await boss.start();
    const name = 'bench';
    await boss.createQueue(name);
    const chunk = 10_000;
    for (let sent = 0; sent < jobs; sent += chunk) {
      await boss.insert(Array.from({ length: Math.min(chunk, jobs - sent) }, () => ({ name, data: {} })));
    }
    await sql(database.url, 'ANALYZE pgboss.job');
    await settle(database.url);
    let completed = 0;
    const loops = runLoops(CONCURRENCY, async () => {
      const [job] = await boss.fetch<object>(name);
      if (!job) return false;
      await boss.complete(name, job.id);
      completed++;
      return true;
    });
    const result = await measureRate({ warmupMs, windowMs: WINDOW_MS, count: () => completed, isDrained: () => loops.emptyLoops() > 0, counter: walPositionBytes });
    await loops.stop();
    return { name: `pg-boss 10 fetch() + complete()${jobs === PRE_ENQUEUED ? '' : `, only ${jobs} jobs queued`}`, result };
  } finally {
    await boss.stop({ graceful: false, wait: true }).catch(() => {});
    stopped = true;
    await database.drop();
  }
}

async function main(): Promise<void> {
  printHeader('throughput: dequeue + complete cycles/s, 16 concurrent clients, jobs pre-enqueued', [
    await describeServer(),
    `${PRE_ENQUEUED} jobs pre-enqueued per system; ${WARMUP_MS} ms warm-up, then a ${WINDOW_MS} ms window; pool ${POOL_SIZE} connections each`,
  ]);
  const rows: Row[] = [];
  const shallowPgBoss = () => benchPgBoss(SHALLOW_PGBOSS_JOBS, 500);
  for (const bench of [benchCoordinator, benchGraphileWorker, () => benchPgBoss(), shallowPgBoss]) {
    const row = await bench();
    rows.push(row);
    process.stdout.write(`  ${row.name}: ${fmt(row.result.perSecond, 0)}/s\n`);
  }
  const ours = rows[0]!.result.perSecond;
  printTable(
    `cycles/s (target for ours ≥ 1000; CPU in cores of ${CPU_COUNT} over the window; "other" = the rest of the machine, kernel work and other users included)`,
    ['system', 'cycles', 's', 'cycles/s', 'ours / this', 'WAL B/cycle', 'machine CPU', 'bench process', 'coordinator', 'PostgreSQL', 'other'],
    rows.map(({ name, result: r, serverCores }) => [
      name + (r.drained ? ' (drained early)' : ''),
      String(r.completed),
      fmt(r.seconds, 1),
      fmt(r.perSecond, 0),
      fmt(ours / r.perSecond, 2),
      r.counterDelta === undefined ? '-' : fmt(r.counterDelta / r.completed, 0),
      fmt(r.cpu.machineCores, 2),
      fmt(r.cpu.selfCores, 2),
      serverCores === undefined ? '-' : fmt(serverCores, 2),
      fmt(r.cpu.postgresCores, 2),
      fmt(r.cpu.machineCores - r.cpu.selfCores - (serverCores ?? 0) - r.cpu.postgresCores, 2),
    ]),
  );
}

await main();
