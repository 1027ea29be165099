// The embedded driver: PGlite (real PostgreSQL compiled to WebAssembly) in the data directory.
// One connection, which PGlite itself serialises; LISTEN/NOTIFY works within the process.
import { PGlite } from '@electric-sql/pglite';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundledBuild, isSingleExecutable } from '../../shared/build-info.js';
import { AppError } from '../../shared/errors.js';
import type { Database, Queryable } from './database.js';
import { INT8_OID, NUMERIC_OID } from './database.js';
import { PGLITE_INITDB_COMMAND, pgliteAssets } from './pglite-assets.js';

export interface PgliteDatabaseOptions {
  /** Directory of the database files; `undefined` keeps everything in memory (tests). */
  dataDir?: string;
  /** A `dumpDataDir()` tarball to start from: opening one takes ~0.6 s where initdb takes ~4 s here. */
  loadDataDir?: Blob | File;
}

/** Whether `dataDir` already holds a PGlite (PostgreSQL) cluster. */
export function isPgliteDataDir(dataDir: string): boolean {
  return fs.existsSync(path.join(dataDir, 'PG_VERSION'));
}

/**
 * Creates a new data directory in a short-lived child process (see pglite-initdb.ts): measured here,
 * the coordinator then idles at ~320 MB instead of ~830 MB after a first start.
 */
export async function initPgliteDataDir(dataDir: string): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  let args: string[];
  if (!bundledBuild) {
    // execArgv keeps a TypeScript loader (tsx) when the coordinator runs from source.
    args = [...process.execArgv, path.join(path.dirname(self), `pglite-initdb${path.extname(self)}`), dataDir];
  } else if (await isSingleExecutable()) {
    args = [PGLITE_INITDB_COMMAND, dataDir];
  } else {
    // The bundle run by node: `self` is the bundle's own file.
    args = [...process.execArgv, self, PGLITE_INITDB_COMMAND, dataDir];
  }
  try {
    await promisify(execFile)(process.execPath, args, { timeout: 120_000 });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    throw new AppError('store.pglite_init_failed', `could not create the embedded database in ${dataDir}: ${detail}`, { cause: err });
  }
}

/** What the initdb child does: creates the cluster in `dataDir` and closes it. */
export async function createPgliteDataDir(dataDir: string): Promise<void> {
  const db = new PGlite({ dataDir, ...(await pgliteAssets()) });
  await db.waitReady;
  await db.close();
}

export async function openPgliteDatabase(options: PgliteDatabaseOptions): Promise<Database & { pglite: PGlite }> {
  const pglite = new PGlite({
    ...(await pgliteAssets()),
    dataDir: options.dataDir,
    loadDataDir: options.loadDataDir,
    parsers: { [INT8_OID]: (v: string) => Number(v), [NUMERIC_OID]: (v: string) => Number(v) },
  });
  await pglite.waitReady;
  let closing: Promise<void> | undefined;
  return {
    kind: 'pglite',
    pglite,
    async query<Row>(sql: string, params?: readonly unknown[]) {
      return (await pglite.query<Row>(sql, params as unknown[])).rows;
    },
    async exec(sql: string) {
      await pglite.exec(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      return pglite.transaction(async (t) =>
        fn({
          query: async <Row>(sql: string, params?: readonly unknown[]) => (await t.query<Row>(sql, params as unknown[])).rows,
          exec: async (sql: string) => void (await t.exec(sql)),
        }),
      );
    },
    async listen(channel, onNotify) {
      // In-process: there is no connection to lose, so `onReconnect` is never needed.
      const unsubscribe = await pglite.listen(channel, onNotify);
      return async () => unsubscribe();
    },
    close() {
      closing ??= pglite.closed ? Promise.resolve() : pglite.close();
      return closing;
    },
  };
}
