// Failed sign-ins, counted per key (`user:<name>`, `address:<ip>`) within a window; a key that reaches
// its limit is locked until the lock-out ends. Kept in the database so that every replica counts the
// same failures (an attacker spreading guesses over replicas gains nothing).
import type { Database } from './database.js';

export interface RecordedFailure {
  key: string;
  failures: number;
  /** Set when this key is locked out now. */
  lockedUntil: Date | null;
  /** Whether this failure is the one that locked the key (to log the lock-out once). */
  lockedNow: boolean;
}

export class SignInFailureStore {
  constructor(private readonly db: Database) {}

  /** Seconds until the last lock of `keys` ends (rounded up); 0 when none is locked. */
  async lockedForSeconds(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const rows = await this.db.query<{ seconds: number | null }>(
      `SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int AS seconds FROM sign_in_failures WHERE key = ANY($1::text[]) AND locked_until > now()`,
      [keys],
    );
    return Math.max(0, rows[0]?.seconds ?? 0);
  }

  /**
   * Counts one failure for each key, starting a new window when the last one began more than
   * `windowMs` ago; a key whose count reaches its `max` (0 = no limit) is locked for `windowMs`.
   */
  async recordFailure(entries: ReadonlyArray<{ key: string; max: number }>, windowMs: number): Promise<RecordedFailure[]> {
    const recorded: RecordedFailure[] = [];
    for (const { key, max } of entries) {
      // SET expressions see the row as it was, so the new count is spelled out where it is needed.
      const window = `$3 * interval '1 millisecond'`;
      const count = `CASE WHEN f.first_failed_at <= now() - ${window} THEN 1 ELSE f.failures + 1 END`;
      const rows = await this.db.query<RecordedFailure>(
        `INSERT INTO sign_in_failures AS f (key, failures, first_failed_at, locked_until)
         VALUES ($1, 1, now(), CASE WHEN $2::int = 1 THEN now() + ${window} END)
         ON CONFLICT (key) DO UPDATE SET
           failures = ${count},
           first_failed_at = CASE WHEN f.first_failed_at <= now() - ${window} THEN now() ELSE f.first_failed_at END,
           locked_until = CASE WHEN $2::int > 0 AND ${count} >= $2 THEN now() + ${window} END
         RETURNING key, failures, locked_until AS "lockedUntil", ($2::int > 0 AND failures = $2) AS "lockedNow"`,
        [key, max, windowMs],
      );
      recorded.push(rows[0]!);
    }
    return recorded;
  }

  /** Forgets a key's failures (a successful sign-in). */
  async clear(key: string): Promise<void> {
    await this.db.query(`DELETE FROM sign_in_failures WHERE key = $1`, [key]);
  }

  /** Removes keys whose window and lock both ended; resolves with how many. */
  async deleteExpired(windowMs: number): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM sign_in_failures WHERE first_failed_at <= now() - $1 * interval '1 millisecond' AND (locked_until IS NULL OR locked_until <= now()) RETURNING 1`,
      [windowMs],
    );
    return rows.length;
  }
}
