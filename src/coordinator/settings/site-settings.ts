// Site settings the coordinator consults per request. Today they come from COORDINATOR_* variables;
// keeping them behind this object lets the admin UI change them later without touching the routes.

export interface SiteSettingsValues {
  /** `executors.accessToken`: the shared executor secret; undefined = executors not configured. */
  executorsAccessToken: string | undefined;
}

export class SiteSettings {
  constructor(private values: SiteSettingsValues) {}

  get executorsAccessToken(): string | undefined {
    return this.values.executorsAccessToken;
  }

  update(values: Partial<SiteSettingsValues>): void {
    this.values = { ...this.values, ...values };
  }
}
