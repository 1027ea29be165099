// Users, their API tokens, organizations and their members: the people that executor secrets belong to.
import { AppError } from '../../shared/errors.js';
import { accessTokenSha256, newAccessToken } from '../users/access-token.js';
import { dummyPasswordHash, hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verifyPassword } from '../users/password-hash.js';
import type { Database } from './database.js';

export interface UserRow {
  id: number;
  username: string;
  siteAdmin: boolean;
  hasPassword: boolean;
  createdAt: Date;
}

export interface OrgRow {
  id: number;
  name: string;
  createdAt: Date;
}

const USER_COLUMNS = `id, username, site_admin AS "siteAdmin", password_hash IS NOT NULL AS "hasPassword", created_at AS "createdAt"`;
const ORG_COLUMNS = `id, name, created_at AS "createdAt"`;

/** What `users.username` and `orgs.name` accept (the migration's CHECK). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === '23505';
}

/** `users.invalid` for a password shorter than MIN_PASSWORD_LENGTH or longer than MAX_PASSWORD_LENGTH. */
function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new AppError('users.invalid', `password: at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new AppError('users.invalid', `password: at most ${MAX_PASSWORD_LENGTH} characters`);
}

export class UserStore {
  constructor(private readonly db: Database) {}

  /** Creates a user; `users.name_taken` when the username exists, `users.invalid` for a bad name or short password. */
  async create(input: { username: string; password?: string; siteAdmin?: boolean }): Promise<UserRow> {
    if (!NAME_PATTERN.test(input.username)) throw new AppError('users.invalid', `username ${JSON.stringify(input.username)}: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63`);
    if (input.password !== undefined) checkPassword(input.password);
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    try {
      const rows = await this.db.query<UserRow>(`INSERT INTO users (username, password_hash, site_admin) VALUES ($1, $2, $3) RETURNING ${USER_COLUMNS}`, [
        input.username,
        passwordHash,
        input.siteAdmin ?? false,
      ]);
      return rows[0]!;
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('users.name_taken', `a user named ${JSON.stringify(input.username)} exists`);
      throw err;
    }
  }

  async get(id: number): Promise<UserRow | null> {
    return (await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]))[0] ?? null;
  }

  async getByName(username: string): Promise<UserRow | null> {
    return (await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE username = $1`, [username]))[0] ?? null;
  }

  async list(): Promise<UserRow[]> {
    return this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY id`);
  }

  /**
   * Deletes a user (their tokens, sessions, memberships and secrets go with them) and, in the same
   * statement, cancels the jobs they queued: waiting ones at once, running ones through the next
   * heartbeat, as an admin's cancel does. Null when there is no such user.
   */
  async delete(id: number): Promise<{ canceledJobs: number } | null> {
    const rows = await this.db.query<{ canceledJobs: number }>(
      `WITH canceled AS (
         UPDATE jobs SET
           state = CASE WHEN state IN ('queued', 'errored') THEN 'canceled' ELSE state END,
           finished_at = CASE WHEN state IN ('queued', 'errored') THEN now() ELSE finished_at END,
           failure_message = CASE WHEN state IN ('queued', 'errored') THEN 'canceled: the user who queued it was deleted' ELSE failure_message END,
           cancel = true
         WHERE creator_id = $1 AND state IN ('queued', 'errored', 'processing')
         RETURNING id
       ), deleted AS (
         DELETE FROM users WHERE id = $1 RETURNING id
       )
       SELECT (SELECT count(*) FROM canceled)::int AS "canceledJobs" FROM deleted`,
      [id],
    );
    return rows[0] ?? null;
  }

  /**
   * Sets a user's password and ends their web sessions and API tokens, but the token whose SHA-256 is
   * `keepTokenSha256` (the caller's own, when they changed their own password). One transaction.
   */
  async setPassword(id: number, password: string, options: { keepTokenSha256?: Buffer } = {}): Promise<{ endedSessions: number; revokedTokens: number }> {
    checkPassword(password);
    const hash = await hashPassword(password);
    return this.db.transaction(async (tx) => {
      await tx.query(`UPDATE users SET password_hash = $2 WHERE id = $1`, [id, hash]);
      const sessions = await tx.query(`DELETE FROM sessions WHERE user_id = $1 RETURNING 1`, [id]);
      const tokens = await tx.query(`DELETE FROM access_tokens WHERE user_id = $1 AND ($2::bytea IS NULL OR token_sha256 <> $2) RETURNING 1`, [id, options.keepTokenSha256 ?? null]);
      return { endedSessions: sessions.length, revokedTokens: tokens.length };
    });
  }

  /**
   * The user whose password this is, or null. An unknown user costs a hash too (against a dummy), so the
   * answer's timing does not tell which usernames exist.
   */
  async verifyPassword(username: string, password: string): Promise<UserRow | null> {
    const rows = await this.db.query<UserRow & { passwordHash: string | null }>(`SELECT ${USER_COLUMNS}, password_hash AS "passwordHash" FROM users WHERE username = $1`, [username]);
    const row = rows[0];
    const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyPasswordHash()));
    if (!row || !row.passwordHash || !ok) return null;
    const { passwordHash: _hidden, ...user } = row;
    return user;
  }

  /** A new API token for the user: returned once, stored as its SHA-256. */
  async createToken(userId: number, note = ''): Promise<{ id: number; token: string }> {
    const { token, sha256 } = newAccessToken();
    const rows = await this.db.query<{ id: number }>(`INSERT INTO access_tokens (user_id, token_sha256, note) VALUES ($1, $2, $3) RETURNING id`, [userId, sha256, note]);
    return { id: rows[0]!.id, token };
  }

  /**
   * Registers a token chosen elsewhere (COORDINATOR_ADMIN_TOKEN for the bootstrap site admin) for a
   * user, by its hash; a no-op when that token is registered already.
   */
  async registerToken(userId: number, token: string, note: string): Promise<void> {
    await this.db.query(`INSERT INTO access_tokens (user_id, token_sha256, note) VALUES ($1, $2, $3) ON CONFLICT (token_sha256) DO NOTHING`, [userId, accessTokenSha256(token), note]);
  }

  /** The user a presented API token belongs to, or null (found by the token's SHA-256). */
  async userForToken(token: string): Promise<UserRow | null> {
    const rows = await this.db.query<UserRow>(
      `SELECT u.id, u.username, u.site_admin AS "siteAdmin", u.password_hash IS NOT NULL AS "hasPassword", u.created_at AS "createdAt"
       FROM access_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1`,
      [accessTokenSha256(token)],
    );
    return rows[0] ?? null;
  }

  async listTokens(userId: number): Promise<Array<{ id: number; note: string; createdAt: Date }>> {
    return this.db.query(`SELECT id, note, created_at AS "createdAt" FROM access_tokens WHERE user_id = $1 ORDER BY id`, [userId]);
  }

  async deleteToken(userId: number, tokenId: number): Promise<boolean> {
    return (await this.db.query(`DELETE FROM access_tokens WHERE id = $1 AND user_id = $2 RETURNING id`, [tokenId, userId])).length > 0;
  }

  // --- organizations -----------------------------------------------------------------------------

  async createOrg(name: string, firstMemberId: number): Promise<OrgRow> {
    if (!NAME_PATTERN.test(name)) throw new AppError('users.invalid', `organization name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63`);
    try {
      return await this.db.transaction(async (tx) => {
        const org = (await tx.query<OrgRow>(`INSERT INTO orgs (name) VALUES ($1) RETURNING ${ORG_COLUMNS}`, [name]))[0]!;
        await tx.query(`INSERT INTO org_members (org_id, user_id) VALUES ($1, $2)`, [org.id, firstMemberId]);
        return org;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('users.name_taken', `an organization named ${JSON.stringify(name)} exists`);
      throw err;
    }
  }

  async getOrg(id: number): Promise<OrgRow | null> {
    return (await this.db.query<OrgRow>(`SELECT ${ORG_COLUMNS} FROM orgs WHERE id = $1`, [id]))[0] ?? null;
  }

  /** Every organization, or those `memberId` belongs to. */
  async listOrgs(memberId?: number): Promise<OrgRow[]> {
    if (memberId === undefined) return this.db.query<OrgRow>(`SELECT ${ORG_COLUMNS} FROM orgs ORDER BY id`);
    return this.db.query<OrgRow>(`SELECT o.id, o.name, o.created_at AS "createdAt" FROM orgs o JOIN org_members m ON m.org_id = o.id WHERE m.user_id = $1 ORDER BY o.id`, [memberId]);
  }

  async deleteOrg(id: number): Promise<boolean> {
    return (await this.db.query(`DELETE FROM orgs WHERE id = $1 RETURNING id`, [id])).length > 0;
  }

  async isMember(orgId: number, userId: number): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM org_members WHERE org_id = $1 AND user_id = $2`, [orgId, userId])).length > 0;
  }

  async addMember(orgId: number, userId: number): Promise<void> {
    await this.db.query(`INSERT INTO org_members (org_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [orgId, userId]);
  }

  async removeMember(orgId: number, userId: number): Promise<boolean> {
    return (await this.db.query(`DELETE FROM org_members WHERE org_id = $1 AND user_id = $2 RETURNING user_id`, [orgId, userId])).length > 0;
  }

  async listMembers(orgId: number): Promise<UserRow[]> {
    return this.db.query<UserRow>(
      `SELECT u.id, u.username, u.site_admin AS "siteAdmin", u.password_hash IS NOT NULL AS "hasPassword", u.created_at AS "createdAt"
       FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.id`,
      [orgId],
    );
  }
}
