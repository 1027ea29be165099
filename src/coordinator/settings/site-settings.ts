// Site settings the coordinator consults per request: the executors access token and the frontend URL
// that executors use. A COORDINATOR_* variable fixes a setting (the web UI shows it read-only); otherwise
// it lives in the site_settings table, where the UI changes it, and every replica reloads it.
import type { Database } from '../store/database.js';

export interface SiteSettingsValues {
  /** `executors.accessToken`: the shared executor secret; undefined = executors not configured. */
  executorsAccessToken: string | undefined;
  /** `externalURL`: what executors set as EXECUTOR_FRONTEND_URL; shown to admins, undefined = not set. */
  frontendUrl: string | undefined;
  /** `codeIntelAutoIndexing.indexerMap`: JSON {"<indexer>": "<image>"} overriding inferred jobs' images; undefined = the defaults. */
  codeIntelIndexerMap?: string | undefined;
}

export type SiteSettingKey = keyof SiteSettingsValues;

const DB_KEYS: Record<SiteSettingKey, string> = {
  executorsAccessToken: 'executors.accessToken',
  frontendUrl: 'externalURL',
  codeIntelIndexerMap: 'codeIntelAutoIndexing.indexerMap',
};

export class SiteSettings {
  private values: SiteSettingsValues;

  constructor(
    initial: SiteSettingsValues,
    /** Settings fixed by the environment: never read from or written to the database. */
    private readonly fixed: ReadonlySet<SiteSettingKey> = new Set(),
    private readonly db?: Database,
  ) {
    this.values = { ...initial };
  }

  get executorsAccessToken(): string | undefined {
    return this.values.executorsAccessToken;
  }

  get frontendUrl(): string | undefined {
    return this.values.frontendUrl;
  }

  get codeIntelIndexerMap(): string | undefined {
    return this.values.codeIntelIndexerMap;
  }

  isFixed(key: SiteSettingKey): boolean {
    return this.fixed.has(key);
  }

  /** Reads the settings that are not fixed from the database (at start, then periodically). */
  async reload(): Promise<void> {
    if (!this.db) return;
    const rows = await this.db.query<{ key: string; value: string }>(`SELECT key, value FROM site_settings`);
    const stored = new Map(rows.map((r) => [r.key, r.value]));
    for (const key of Object.keys(DB_KEYS) as SiteSettingKey[]) {
      if (!this.fixed.has(key)) this.values[key] = stored.get(DB_KEYS[key]) || undefined;
    }
  }

  /** Stores a setting (refused for a fixed one) and applies it here at once; other replicas at their next reload. */
  async set(key: SiteSettingKey, value: string | undefined): Promise<void> {
    if (this.fixed.has(key)) throw new Error(`site setting ${key} is fixed by the environment`);
    if (this.db) {
      if (value === undefined) await this.db.query(`DELETE FROM site_settings WHERE key = $1`, [DB_KEYS[key]]);
      else await this.db.query(`INSERT INTO site_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`, [DB_KEYS[key], value]);
    }
    this.values[key] = value;
  }

  /** For tests and in-process changes. */
  update(values: Partial<SiteSettingsValues>): void {
    this.values = { ...this.values, ...values };
  }
}
