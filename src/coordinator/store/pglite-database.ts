// The embedded driver: PGlite (real PostgreSQL compiled to WebAssembly) in the data directory.
// One connection, which PGlite itself serialises; LISTEN/NOTIFY works within the process.
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable } from './database.js';
import { INT8_OID, NUMERIC_OID } from './database.js';

export interface PgliteDatabaseOptions {
  /** Directory of the database files; `undefined` keeps everything in memory (tests). */
  dataDir?: string;
  /** A `dumpDataDir()` tarball to start from: opening one takes ~0.6 s where initdb takes ~4 s here. */
  loadDataDir?: Blob | File;
}

export async function openPgliteDatabase(options: PgliteDatabaseOptions): Promise<Database & { pglite: PGlite }> {
  const pglite = new PGlite({
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
