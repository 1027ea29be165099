// Applies pending migrations in one transaction under an advisory lock, so coordinator replicas that
// start together neither race nor see a half-migrated schema.
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Database } from './database.js';
import { migrations as allMigrations, type Migration } from './migrations/index.js';

/** Arbitrary, fixed: the advisory-lock key that serialises migrators of this schema. */
const MIGRATION_LOCK_KEY = 7_234_001;

export interface MigrationResult {
  applied: number[];
  currentVersion: number;
}

export async function migrate(db: Database, logger: Logger, migrations: readonly Migration[] = allMigrations): Promise<MigrationResult> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...done].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      throw new AppError(
        'store.schema_too_new',
        `the database has migrations this coordinator does not know (${unknown.join(', ')}): it was migrated by a newer version; run that version or a newer one`,
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        await tx.exec(migration.sql);
      } catch (err) {
        throw new AppError('store.migration_failed', `migration ${migration.version} (${migration.name}) failed: ${(err as Error).message}`, { cause: err });
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      logger.info('applied migration', { version: migration.version, name: migration.name });
      applied.push(migration.version);
    }
    return { applied, currentVersion: Math.max(0, ...done, ...applied) };
  });
}
