// The files store (reference §2.6): blobs that jobs fetch by bucket and key. Kept in the database so
// every coordinator replica serves the same files.
import type { Database } from './database.js';

export class FileStore {
  constructor(private readonly db: Database) {}

  async put(bucket: string, key: string, content: Buffer): Promise<void> {
    await this.db.query(
      `INSERT INTO files (bucket, key, content) VALUES ($1, $2, $3)
       ON CONFLICT (bucket, key) DO UPDATE SET content = excluded.content, created_at = now()`,
      [bucket, key, content],
    );
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
