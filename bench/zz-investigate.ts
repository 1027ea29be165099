import pg from 'pg';
import { startCoordinator } from './lib/coordinator-process.js';
import { BENCH_JOB_SPEC, ExecutorClient } from './lib/executor-client.js';
import { runLoops } from './lib/rate-window.js';
import { createScratchDatabase } from './lib/scratch-database.js';
import { sleep } from './lib/sleep.js';

const database = await createScratchDatabase('investigate');
const coordinator = await startCoordinator({ databaseUrl: database.url });
const db = new pg.Client({ connectionString: database.url });
await db.connect();
const N = Number(process.env.N ?? 30000);
await db.query(`INSERT INTO jobs (queue, spec) SELECT 'batches', $1::jsonb FROM generate_series(1, $2)`, [JSON.stringify(BENCH_JOB_SPEC), N]);
await db.query('ANALYZE jobs');
const C = Number(process.env.C ?? 16);
const clients = Array.from({ length: C }, (_, i) => new ExecutorClient(coordinator.url, coordinator.executorToken, `x-${i}`));
await Promise.all(clients.map((c) => c.heartbeat('batches')));
let cycles = 0;
const loops = runLoops(C, async (i) => {
  const job = await clients[i]!.dequeue('batches');
  if (!job) return false;
  await clients[i]!.markComplete('batches', job);
  cycles++;
  return true;
});
const waits = new Map<string, number>();
const t0 = Date.now();
while (Date.now() - t0 < 6000) {
  const r = await db.query(`SELECT coalesce(wait_event_type,'cpu')||':'||coalesce(wait_event,'') w, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) q, state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
  for (const row of r.rows) if (row.state === 'active') { const k = row.w + ' | ' + row.q; waits.set(k, (waits.get(k) ?? 0) + 1); }
  await sleep(20);
}
console.log('cycles/s', cycles / 6);
console.log([...waits.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15));
const explain = await db.query(`EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM jobs WHERE queue = 'batches' AND state = 'queued' AND (process_after IS NULL OR process_after <= now()) ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`);
console.log(explain.rows.map((r) => r['QUERY PLAN']).join('\n'));
await loops.stop();
const st = await db.query(`SELECT relname, n_live_tup, n_dead_tup, n_tup_hot_upd, n_tup_upd, last_autovacuum, autovacuum_count FROM pg_stat_user_tables ORDER BY relname`);
console.table(st.rows);
await db.end();
clients.forEach((c) => c.close());
await coordinator.stop();
await database.drop();
