// Executor secrets (reference §7.5): values encrypted with the keyring, never returned by a listing,
// read only to build a job's payload, and every read written to the access log.
import { AppError } from '../../shared/errors.js';
import type { EncryptionKeyring } from '../secrets/secret-encryption.js';
import type { Database, Queryable } from './database.js';

export type SecretScope = 'batches' | 'codeintel';
export const SECRET_SCOPES: readonly SecretScope[] = ['batches', 'codeintel'];

/** Whose a secret is: everyone's (site admins manage it), one user's, or one organization's. */
export type SecretNamespace = { kind: 'global' } | { kind: 'user'; userId: number } | { kind: 'org'; orgId: number };

/** A secret without its value. */
export interface SecretRow {
  id: number;
  key: string;
  scope: SecretScope;
  namespace: SecretNamespace;
  creatorId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Who read a value: a user, or a machine user such as `codeintel-autoindexing`. */
export type SecretAccessor = { userId: number } | { machineUser: string };

export interface SecretAccessLogRow {
  id: number;
  secretId: number;
  userId: number | null;
  machineUser: string | null;
  jobId: number | null;
  createdAt: Date;
}

/** The key names a secret may have (an environment variable name), as the migration's CHECK. */
export const SECRET_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A value longer than this is refused: secrets go into environment variables and command lines. */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

interface StoredSecret {
  id: number;
  key: string;
  scope: SecretScope;
  namespaceUserId: number | null;
  namespaceOrgId: number | null;
  creatorId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `id, key, scope, namespace_user_id AS "namespaceUserId", namespace_org_id AS "namespaceOrgId",
  creator_id AS "creatorId", created_at AS "createdAt", updated_at AS "updatedAt"`;

function toRow(s: StoredSecret): SecretRow {
  const namespace: SecretNamespace =
    s.namespaceUserId !== null ? { kind: 'user', userId: s.namespaceUserId } : s.namespaceOrgId !== null ? { kind: 'org', orgId: s.namespaceOrgId } : { kind: 'global' };
  return { id: s.id, key: s.key, scope: s.scope, namespace, creatorId: s.creatorId, createdAt: s.createdAt, updatedAt: s.updatedAt };
}

function namespaceColumns(ns: SecretNamespace): [number | null, number | null] {
  return [ns.kind === 'user' ? ns.userId : null, ns.kind === 'org' ? ns.orgId : null];
}

/** `namespace_user_id IS NOT DISTINCT FROM $a AND namespace_org_id IS NOT DISTINCT FROM $b`. */
const IN_NAMESPACE = (a: number, b: number) => `namespace_user_id IS NOT DISTINCT FROM $${a}::bigint AND namespace_org_id IS NOT DISTINCT FROM $${b}::bigint`;

function checkValue(key: string, value: string): void {
  if (!SECRET_KEY_PATTERN.test(key)) throw new AppError('secrets.invalid', `key ${JSON.stringify(key)}: an environment variable name (letters, digits and _, not starting with a digit), at most 128`);
  if (value === '') throw new AppError('secrets.invalid', `secret ${key}: the value is empty`);
  if (Buffer.byteLength(value) > MAX_SECRET_VALUE_BYTES) throw new AppError('secrets.invalid', `secret ${key}: the value is over ${MAX_SECRET_VALUE_BYTES} bytes`);
}

export class SecretStore {
  constructor(
    private readonly db: Database,
    private readonly keyring: EncryptionKeyring,
  ) {}

  /** `secrets.key_taken` when the namespace has this key in this scope already. */
  async create(ns: SecretNamespace, input: { key: string; scope: SecretScope; value: string; creatorId: number | null }): Promise<SecretRow> {
    checkValue(input.key, input.value);
    const { value, keyId } = this.keyring.encrypt(input.value, input.key);
    try {
      const rows = await this.db.query<StoredSecret>(
        `INSERT INTO executor_secrets (key, value, encryption_key_id, scope, namespace_user_id, namespace_org_id, creator_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
        [input.key, value, keyId, input.scope, ...namespaceColumns(ns), input.creatorId],
      );
      return toRow(rows[0]!);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new AppError('secrets.key_taken', `a ${input.scope} secret named ${input.key} exists in this namespace`);
      throw err;
    }
  }

  async get(id: number): Promise<SecretRow | null> {
    const rows = await this.db.query<StoredSecret>(`SELECT ${COLUMNS} FROM executor_secrets WHERE id = $1`, [id]);
    return rows[0] ? toRow(rows[0]) : null;
  }

  async list(ns: SecretNamespace, scope?: SecretScope): Promise<SecretRow[]> {
    const rows = await this.db.query<StoredSecret>(
      `SELECT ${COLUMNS} FROM executor_secrets WHERE ${IN_NAMESPACE(1, 2)} AND ($3::text IS NULL OR scope = $3) ORDER BY key, scope`,
      [...namespaceColumns(ns), scope ?? null],
    );
    return rows.map(toRow);
  }

  async updateValue(id: number, value: string): Promise<SecretRow | null> {
    const existing = await this.get(id);
    if (!existing) return null;
    checkValue(existing.key, value);
    const encrypted = this.keyring.encrypt(value, existing.key);
    const rows = await this.db.query<StoredSecret>(
      `UPDATE executor_secrets SET value = $2, encryption_key_id = $3, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, encrypted.value, encrypted.keyId],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  async delete(id: number): Promise<boolean> {
    return (await this.db.query(`DELETE FROM executor_secrets WHERE id = $1 RETURNING id`, [id])).length > 0;
  }

  /**
   * Which of `keys` exist for a job of `scope` in `ns`: for `batches` the namespace's own secret, else
   * the global one of that key (a namespaced secret overrides a global one); for `codeintel` global
   * secrets only (reference §7.5). Reads no values and writes no access log.
   */
  async find(ns: SecretNamespace, scope: SecretScope, keys: readonly string[], db: Queryable = this.db): Promise<Map<string, StoredSecret>> {
    if (keys.length === 0) return new Map();
    const [userId, orgId] = scope === 'codeintel' ? [null, null] : namespaceColumns(ns);
    const rows = await db.query<StoredSecret>(
      `SELECT ${COLUMNS} FROM executor_secrets
       WHERE scope = $1 AND key = ANY($2::text[])
         AND ((namespace_user_id IS NULL AND namespace_org_id IS NULL)
              OR (namespace_user_id = $3::bigint) OR (namespace_org_id = $4::bigint))`,
      [scope, keys, userId, orgId],
    );
    const found = new Map<string, StoredSecret>();
    for (const row of rows) {
      const namespaced = row.namespaceUserId !== null || row.namespaceOrgId !== null;
      if (namespaced || !found.has(row.key)) found.set(row.key, row);
    }
    return found;
  }

  /**
   * The values of `keys` as `find` picks them, decrypted, with one access-log row per value read, in
   * one transaction. `missing` lists the keys that have no secret (nothing is read then).
   */
  async readValues(
    ns: SecretNamespace,
    scope: SecretScope,
    keys: readonly string[],
    accessor: SecretAccessor,
    jobId: number | null,
  ): Promise<{ values: Map<string, string>; missing: string[] }> {
    return this.db.transaction(async (tx) => {
      const found = await this.find(ns, scope, keys, tx);
      const missing = keys.filter((k) => !found.has(k));
      if (missing.length > 0) return { values: new Map(), missing };
      const ids = [...found.values()].map((s) => s.id);
      const encrypted = await tx.query<{ id: number; key: string; value: Buffer; keyId: string }>(
        `SELECT id, key, value, encryption_key_id AS "keyId" FROM executor_secrets WHERE id = ANY($1::bigint[])`,
        [ids],
      );
      const values = new Map<string, string>();
      for (const row of encrypted) values.set(row.key, this.keyring.decrypt(row.value, row.keyId, row.key));
      await tx.query(
        `INSERT INTO executor_secret_access_logs (executor_secret_id, user_id, machine_user, job_id)
         SELECT unnest($1::bigint[]), $2::bigint, $3::text, $4::bigint`,
        [ids, 'userId' in accessor ? accessor.userId : null, 'machineUser' in accessor ? accessor.machineUser : null, jobId],
      );
      return { values, missing: [] };
    });
  }

  async accessLogs(secretId: number, limit = 100): Promise<SecretAccessLogRow[]> {
    return this.db.query<SecretAccessLogRow>(
      `SELECT id, executor_secret_id AS "secretId", user_id AS "userId", machine_user AS "machineUser", job_id AS "jobId", created_at AS "createdAt"
       FROM executor_secret_access_logs WHERE executor_secret_id = $1 ORDER BY id DESC LIMIT $2`,
      [secretId, limit],
    );
  }

  /**
   * Re-encrypts every value not under the keyring's current key (`rotate-encryption-key`), each row in
   * its own statement; resolves with how many moved. Fails on a value no key of the ring decrypts.
   */
  async reencryptAll(): Promise<number> {
    const current = this.keyring.current.id;
    const rows = await this.db.query<{ id: number; key: string; value: Buffer; keyId: string }>(
      `SELECT id, key, value, encryption_key_id AS "keyId" FROM executor_secrets WHERE encryption_key_id <> $1 ORDER BY id`,
      [current],
    );
    for (const row of rows) {
      const { value, keyId } = this.keyring.encrypt(this.keyring.decrypt(row.value, row.keyId, row.key), row.key);
      await this.db.query(`UPDATE executor_secrets SET value = $2, encryption_key_id = $3 WHERE id = $1 AND encryption_key_id = $4`, [row.id, value, keyId, row.keyId]);
    }
    return rows.length;
  }
}
