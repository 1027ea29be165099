// Databases for tests: a fresh PGlite from the migrated snapshot, or a fresh database on the PostgreSQL
// server (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) dropped afterwards.
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { silentLogger } from '../../src/shared/logger.js';
import type { Database } from '../../src/coordinator/store/database.js';
import { openPgDatabase } from '../../src/coordinator/store/pg-database.js';
import { openPgliteDatabase } from '../../src/coordinator/store/pglite-database.js';

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['pglite', 'postgres'];

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  db: Database;
  /** The connection URL on PostgreSQL (for a second coordinator process); undefined on PGlite. */
  url: string | undefined;
  /** Closes and, on PostgreSQL, drops the database. */
  dispose(): Promise<void>;
}

/** A URL for a new, empty database on the server; `drop` removes it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `executors_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`the PostgreSQL server at ${ADMIN_DATABASE_URL} is not reachable (${(err as Error).message}); start it or set TEST_DATABASE_URL`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function openTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'pglite') {
    const snapshot = await fs.readFile(inject('pgliteSnapshotPath'));
    const db = await openPgliteDatabase({ loadDataDir: new Blob([snapshot]) });
    return { db, url: undefined, dispose: () => db.close() };
  }
  const { url, drop } = await createPostgresDatabase();
  const db = await openPgDatabase({ connectionString: url, logger: silentLogger });
  return {
    db,
    url,
    dispose: async () => {
      await db.close();
      await drop();
    },
  };
}
