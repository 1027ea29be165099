// A throw-away database on the benchmark's PostgreSQL server (BENCH_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/test names the server and a database to connect to for CREATE/DROP).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface ScratchDatabase {
  name: string;
  url: string;
  /** Drops the database, closing whatever connections are still open on it. Idempotent. */
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates `bench_<label>_<random>`. */
export async function createScratchDatabase(label: string): Promise<ScratchDatabase> {
  const name = `bench_${label}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: url.toString(),
    drop: () => (dropped ??= adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined)),
  };
}

/** `SELECT version()` and the durability settings that bound commit rates, for the report. */
export async function describeServer(): Promise<string> {
  const r = await adminQuery(
    `SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc,
       current_setting('fsync') AS fs, current_setting('shared_buffers') AS sb, current_setting('max_connections') AS mc`,
  );
  const row = r.rows[0] as { v: string; sc: string; fs: string; sb: string; mc: string };
  return `PostgreSQL ${row.v} (synchronous_commit=${row.sc}, fsync=${row.fs}, shared_buffers=${row.sb}, max_connections=${row.mc})`;
}

/** The server's current WAL insert position in bytes: its growth over a window is the WAL written. */
export async function walPositionBytes(): Promise<number> {
  const r = await adminQuery(`SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::float8 AS bytes`);
  return Number((r.rows[0] as { bytes: number }).bytes);
}
