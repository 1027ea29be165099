// The files store (reference §2.6): blobs that jobs fetch by bucket and key. Kept in the database so
// every coordinator replica serves the same files. Each file has an owner — the user or organization
// that stored it, or the producer (batches, codeintel) that did — which decides who may name it in a job.
import type { Database } from './database.js';

/**
 * Who stored a file. `producer`: a producer (batches, codeintel) stored it for the jobs it queues itself;
 * users cannot name it. `none`: stored before owners existed; only site admins may use it.
 */
export type FileOwner = { kind: 'user'; userId: number } | { kind: 'org'; orgId: number } | { kind: 'producer'; producer: string } | { kind: 'none' };

function ownerColumns(owner: FileOwner): [number | null, number | null, string | null] {
  return [owner.kind === 'user' ? owner.userId : null, owner.kind === 'org' ? owner.orgId : null, owner.kind === 'producer' ? owner.producer : null];
}

/** The SQL condition "user $n may read the file row `f`": its owner, or a member of its owning organization. */
export const USER_READS_FILE = (userParam: string) =>
  `(f.owner_user_id = ${userParam} OR f.owner_org_id IN (SELECT org_id FROM org_members WHERE user_id = ${userParam}))`;

export class FileStore {
  constructor(private readonly db: Database) {}

  /** Stores (or replaces) a file and records its owner. */
  async put(bucket: string, key: string, content: Buffer, owner: FileOwner = { kind: 'none' }): Promise<void> {
    await this.db.query(
      `INSERT INTO files (bucket, key, content, owner_user_id, owner_org_id, owner_producer) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (bucket, key) DO UPDATE SET content = excluded.content, created_at = now(),
         owner_user_id = excluded.owner_user_id, owner_org_id = excluded.owner_org_id, owner_producer = excluded.owner_producer`,
      [bucket, key, content, ...ownerColumns(owner)],
    );
  }

  /** The owner of a stored file, or null when there is no such file. */
  async owner(bucket: string, key: string): Promise<FileOwner | null> {
    const rows = await this.db.query<{ userId: number | null; orgId: number | null; producer: string | null }>(
      `SELECT owner_user_id AS "userId", owner_org_id AS "orgId", owner_producer AS producer FROM files WHERE bucket = $1 AND key = $2`,
      [bucket, key],
    );
    const row = rows[0];
    if (!row) return null;
    if (row.userId !== null) return { kind: 'user', userId: row.userId };
    if (row.orgId !== null) return { kind: 'org', orgId: row.orgId };
    if (row.producer !== null) return { kind: 'producer', producer: row.producer };
    return { kind: 'none' };
  }

  async get(bucket: string, key: string): Promise<Buffer | null> {
    const rows = await this.db.query<{ content: Uint8Array }>('SELECT content FROM files WHERE bucket = $1 AND key = $2', [bucket, key]);
    return rows[0] ? Buffer.from(rows[0].content) : null;
  }

  async size(bucket: string, key: string): Promise<number | null> {
    const rows = await this.db.query<{ size: number }>('SELECT octet_length(content) AS size FROM files WHERE bucket = $1 AND key = $2', [bucket, key]);
    return rows[0]?.size ?? null;
  }

  /** Keys of `bucket` that start with `prefix`, in key order (chunked blobs read back in sequence). */
  async listKeys(bucket: string, prefix: string): Promise<string[]> {
    const rows = await this.db.query<{ key: string }>(
      `SELECT key FROM files WHERE bucket = $1 AND left(key, length($2)) = $2 ORDER BY key`,
      [bucket, prefix],
    );
    return rows.map((r) => r.key);
  }

  /** Deletes the files of `bucket` whose key starts with `prefix`; returns how many. */
  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    const rows = await this.db.query(`DELETE FROM files WHERE bucket = $1 AND left(key, length($2)) = $2 RETURNING key`, [bucket, prefix]);
    return rows.length;
  }
}
