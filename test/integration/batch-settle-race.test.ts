// settleFromJobs against a result stored while it runs (PostgreSQL, two connections): the statement read
// the workspace execution as live before the result committed, then waits for its row lock. It must leave
// the COMPLETED row alone — not write back the state it computed from the old row (PROCESSING, then at the
// next pass FAILED "the job completed without uploading its result", the bench's 1-in-40 failure).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/coordinator/store/batch-store.js';
import type { Database } from '../../src/coordinator/store/database.js';
import { migrate } from '../../src/coordinator/store/migrator.js';
import { openPgDatabase } from '../../src/coordinator/store/pg-database.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createPostgresDatabase } from '../helpers/test-database.js';

describe('settling workspace executions while a result is stored', () => {
  let db: Database;
  let url: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ url, drop } = await createPostgresDatabase());
    db = await openPgDatabase({ connectionString: url, logger: silentLogger });
    await migrate(db, silentLogger);
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('leaves a workspace execution a result completed while the statement waited for its row', async () => {
    const [user] = await db.query<{ id: number }>(`INSERT INTO users (username) VALUES ('alice') RETURNING id`);
    const [change] = await db.query<{ id: number }>(`INSERT INTO batch_changes (name, namespace_user_id, spec_yaml, spec) VALUES ('race', $1, '', '{}') RETURNING id`, [user!.id]);
    const [workspace] = await db.query<{ id: number }>(`INSERT INTO batch_workspaces (batch_change_id, position, repository_name, branch, commit, path) VALUES ($1, 0, 'r', 'main', 'abc', '') RETURNING id`, [change!.id]);
    const [execution] = await db.query<{ id: number }>(`INSERT INTO batch_executions (batch_change_id, state, user_id) VALUES ($1, 'PROCESSING', $2) RETURNING id`, [change!.id, user!.id]);
    const [job] = await db.query<{ id: number }>(`INSERT INTO jobs (queue, state, spec, started_at) VALUES ('batches', 'processing', '{}', now()) RETURNING id`);
    const [we] = await db.query<{ id: number }>(`INSERT INTO batch_workspace_executions (execution_id, workspace_id, state, job_id, cache_key) VALUES ($1, $2, 'QUEUED', $3, 'k') RETURNING id`, [execution!.id, workspace!.id, job!.id]);

    // The result's transaction holds the row (COMPLETED, not committed yet) while the settle starts.
    const result = new pg.Client({ connectionString: url });
    await result.connect();
    try {
      await result.query('BEGIN');
      await result.query(`UPDATE batch_workspace_executions SET state = 'COMPLETED', result = '{}', finished_at = now() WHERE id = $1`, [we!.id]);
      const store = new BatchStore(db);
      const settling = store.settleFromJobs();
      // Until the settle waits for that row's lock (its snapshot has the row QUEUED); asked on another
      // connection, as pg_stat_activity holds still within a transaction.
      for (;;) {
        const waiting = await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH live AS%'`);
        if (waiting.length > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await result.query('COMMIT');
      await settling;
    } finally {
      await result.end();
    }
    const [row] = await db.query<{ state: string; failure: string | null }>(`SELECT state, failure_message AS failure FROM batch_workspace_executions WHERE id = $1`, [we!.id]);
    expect(row).toEqual({ state: 'COMPLETED', failure: null });
  });
});
