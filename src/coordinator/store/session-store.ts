// Signed-in browsers. The cookie holds 32 random bytes; the table holds their SHA-256, the user, the
// session's CSRF token and when it expires. Signing out or expiry deletes the row.
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from './database.js';
import type { UserRow } from './user-store.js';

export interface Session {
  user: UserRow;
  csrfToken: string;
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export class SessionStore {
  constructor(
    private readonly db: Database,
    /** How long a session lasts from sign-in, in ms. */
    private readonly ttlMs = 12 * 3_600_000,
  ) {}

  /** A new session for `userId`; returns the cookie value (shown to the browser only). */
  async create(userId: number): Promise<{ cookie: string; csrfToken: string }> {
    const cookie = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    await this.db.query(`INSERT INTO sessions (id_sha256, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')`, [
      sha256(cookie),
      userId,
      csrfToken,
      this.ttlMs,
    ]);
    return { cookie, csrfToken };
  }

  /** The session of a cookie value, or null when unknown or expired. */
  async get(cookie: string): Promise<Session | null> {
    const rows = await this.db.query<UserRow & { csrfToken: string }>(
      `SELECT u.id, u.username, u.site_admin AS "siteAdmin", u.password_hash IS NOT NULL AS "hasPassword", u.created_at AS "createdAt", s.csrf_token AS "csrfToken"
       FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_sha256 = $1 AND s.expires_at > now()`,
      [sha256(cookie)],
    );
    const row = rows[0];
    if (!row) return null;
    const { csrfToken, ...user } = row;
    return { user, csrfToken };
  }

  async delete(cookie: string): Promise<void> {
    await this.db.query(`DELETE FROM sessions WHERE id_sha256 = $1`, [sha256(cookie)]);
  }

  /** Removes expired sessions; resolves with how many. */
  async deleteExpired(): Promise<number> {
    return (await this.db.query(`DELETE FROM sessions WHERE expires_at <= now() RETURNING 1`)).length;
  }
}
