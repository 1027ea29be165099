// The registry of git repositories the coordinator serves to jobs (their bare clones live on disk).
import type { Database } from './database.js';

export interface RepositoryRow {
  name: string;
  sourceUrl: string;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `name, source_url AS "sourceUrl", created_at AS "createdAt", updated_at AS "updatedAt"`;

export class RepositoryStore {
  constructor(private readonly db: Database) {}

  async upsert(name: string, sourceUrl: string): Promise<RepositoryRow> {
    const rows = await this.db.query<RepositoryRow>(
      `INSERT INTO repositories (name, source_url) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET source_url = excluded.source_url, updated_at = now()
       RETURNING ${COLUMNS}`,
      [name, sourceUrl],
    );
    return rows[0]!;
  }

  async get(name: string): Promise<RepositoryRow | null> {
    return (await this.db.query<RepositoryRow>(`SELECT ${COLUMNS} FROM repositories WHERE name = $1`, [name]))[0] ?? null;
  }

  async list(): Promise<RepositoryRow[]> {
    return this.db.query<RepositoryRow>(`SELECT ${COLUMNS} FROM repositories ORDER BY name`);
  }
}
