// The registry of git repositories the coordinator serves to jobs (their bare clones live on disk): the
// source URL without its credential, the credential encrypted as executor secrets are, and who may queue
// jobs against each (public: every user; restricted: the users and organizations granted, and site admins).
import type { EncryptionKeyring } from '../secrets/secret-encryption.js';
import type { Database } from './database.js';

export type RepositoryVisibility = 'public' | 'restricted';

export interface RepositoryRow {
  name: string;
  /** The source without its credential. */
  sourceUrl: string;
  /** Whether a credential for the source is stored (encrypted). */
  hasCredential: boolean;
  visibility: RepositoryVisibility;
  createdAt: Date;
  updatedAt: Date;
}

export interface RepositoryGrants {
  users: Array<{ id: number; username: string }>;
  orgs: Array<{ id: number; name: string }>;
}

export interface RepositoryCredential {
  username: string;
  password: string;
}

const COLUMNS = `name, source_url AS "sourceUrl", source_credential IS NOT NULL AS "hasCredential", visibility,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** The encryption's additional data: a credential copied onto another repository's row does not decrypt. */
const aadName = (name: string) => `repository:${name}`;

export class RepositoryStore {
  constructor(
    private readonly db: Database,
    private readonly keyring: EncryptionKeyring,
  ) {}

  /**
   * Registers a repository or replaces its source (and credential: none when `credential` is null). The
   * visibility of an existing repository changes only when given; a new one is `public` by default.
   */
  async upsert(name: string, source: { url: string; credential: RepositoryCredential | null; visibility?: RepositoryVisibility }): Promise<RepositoryRow> {
    const encrypted = source.credential ? this.keyring.encrypt(JSON.stringify(source.credential), aadName(name)) : null;
    const rows = await this.db.query<RepositoryRow>(
      `INSERT INTO repositories (name, source_url, source_credential, source_credential_key_id, visibility)
       VALUES ($1, $2, $3, $4, COALESCE($5, 'public'))
       ON CONFLICT (name) DO UPDATE SET source_url = excluded.source_url, source_credential = excluded.source_credential,
         source_credential_key_id = excluded.source_credential_key_id,
         visibility = COALESCE($5, repositories.visibility), updated_at = now()
       RETURNING ${COLUMNS}`,
      [name, source.url, encrypted?.value ?? null, encrypted?.keyId ?? null, source.visibility ?? null],
    );
    return rows[0]!;
  }

  async get(name: string): Promise<RepositoryRow | null> {
    return (await this.db.query<RepositoryRow>(`SELECT ${COLUMNS} FROM repositories WHERE name = $1`, [name]))[0] ?? null;
  }

  /** The stored credential of a repository's source, decrypted; null without one. */
  async credential(name: string): Promise<RepositoryCredential | null> {
    const rows = await this.db.query<{ value: Buffer | null; keyId: string | null }>(
      `SELECT source_credential AS value, source_credential_key_id AS "keyId" FROM repositories WHERE name = $1`,
      [name],
    );
    const row = rows[0];
    if (!row?.value || !row.keyId) return null;
    return JSON.parse(this.keyring.decrypt(Buffer.from(row.value), row.keyId, aadName(name))) as RepositoryCredential;
  }

  /** Every repository, or (with `readableBy`) those that user may queue jobs against. */
  async list(options: { readableBy?: number } = {}): Promise<RepositoryRow[]> {
    if (options.readableBy === undefined) return this.db.query<RepositoryRow>(`SELECT ${COLUMNS} FROM repositories ORDER BY name`);
    return this.db.query<RepositoryRow>(`SELECT ${COLUMNS} FROM repositories r WHERE ${USER_READS_REPOSITORY('$1')} ORDER BY name`, [options.readableBy]);
  }

  /** Which of `names` the user may read (public, or granted to the user or one of their organizations); site admins aside. */
  async readableBy(userId: number, names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const rows = await this.db.query<{ name: string }>(`SELECT r.name FROM repositories r WHERE r.name = ANY($2::text[]) AND ${USER_READS_REPOSITORY('$1::bigint')}`, [userId, [...new Set(names)]]);
    return new Set(rows.map((r) => r.name));
  }

  async grants(name: string): Promise<RepositoryGrants> {
    const rows = await this.db.query<{ userId: number | null; username: string | null; orgId: number | null; orgName: string | null }>(
      `SELECT g.user_id AS "userId", u.username, g.org_id AS "orgId", o.name AS "orgName"
       FROM repository_grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN orgs o ON o.id = g.org_id
       WHERE g.repository_name = $1 ORDER BY u.username, o.name`,
      [name],
    );
    return {
      users: rows.filter((r) => r.userId !== null).map((r) => ({ id: r.userId!, username: r.username! })),
      orgs: rows.filter((r) => r.orgId !== null).map((r) => ({ id: r.orgId!, name: r.orgName! })),
    };
  }

  /** Sets the visibility and replaces the grants, in one transaction. False when there is no such repository. */
  async setAccess(name: string, visibility: RepositoryVisibility, grants: { userIds: readonly number[]; orgIds: readonly number[] }): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const updated = await tx.query(`UPDATE repositories SET visibility = $2, updated_at = now() WHERE name = $1 RETURNING name`, [name, visibility]);
      if (updated.length === 0) return false;
      await tx.query(`DELETE FROM repository_grants WHERE repository_name = $1`, [name]);
      await tx.query(
        `INSERT INTO repository_grants (repository_name, user_id, org_id)
         SELECT $1, u, NULL FROM unnest($2::bigint[]) AS u UNION ALL SELECT $1, NULL, o FROM unnest($3::bigint[]) AS o`,
        [name, grants.userIds, grants.orgIds],
      );
      return true;
    });
  }

  /**
   * Moves a credential still inside `source_url` (rows from before credentials were stored apart) into
   * the encrypted column. `split` takes a URL apart; returns how many rows moved.
   */
  async encryptLegacyCredentials(split: (url: string) => { url: string; credential: RepositoryCredential | undefined } | null): Promise<number> {
    const rows = await this.db.query<{ name: string; sourceUrl: string }>(
      `SELECT name, source_url AS "sourceUrl" FROM repositories WHERE source_credential IS NULL AND source_url ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*@'`,
    );
    let moved = 0;
    for (const row of rows) {
      const parts = split(row.sourceUrl);
      if (!parts?.credential) continue;
      const encrypted = this.keyring.encrypt(JSON.stringify(parts.credential), aadName(row.name));
      await this.db.query(`UPDATE repositories SET source_url = $2, source_credential = $3, source_credential_key_id = $4 WHERE name = $1 AND source_url = $5`, [
        row.name,
        parts.url,
        encrypted.value,
        encrypted.keyId,
        row.sourceUrl,
      ]);
      moved++;
    }
    return moved;
  }

  /** Re-encrypts every credential not under the keyring's current key (`rotate-encryption-key`); resolves with how many moved. */
  async reencryptAll(): Promise<number> {
    const rows = await this.db.query<{ name: string; value: Buffer; keyId: string }>(
      `SELECT name, source_credential AS value, source_credential_key_id AS "keyId" FROM repositories
       WHERE source_credential IS NOT NULL AND source_credential_key_id <> $1 ORDER BY name`,
      [this.keyring.current.id],
    );
    for (const row of rows) {
      const { value, keyId } = this.keyring.encrypt(this.keyring.decrypt(Buffer.from(row.value), row.keyId, aadName(row.name)), aadName(row.name));
      await this.db.query(`UPDATE repositories SET source_credential = $2, source_credential_key_id = $3 WHERE name = $1 AND source_credential_key_id = $4`, [row.name, value, keyId, row.keyId]);
    }
    return rows.length;
  }
}

/** The SQL condition "user $n may queue jobs against repository row `r`" (site admins are decided in code). */
export const USER_READS_REPOSITORY = (userParam: string) =>
  `(r.visibility = 'public' OR EXISTS (SELECT 1 FROM repository_grants g WHERE g.repository_name = r.name
     AND (g.user_id = ${userParam} OR g.org_id IN (SELECT org_id FROM org_members WHERE user_id = ${userParam}))))`;
