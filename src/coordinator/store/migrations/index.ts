// Numbered, forward-only migrations in the order they apply. Never edit one that has shipped: add the next.
import { sql as initialSchema } from './0001-initial-schema.js';
import { sql as usersAndSecrets } from './0002-users-and-secrets.js';
import { sql as sessionsAndSettings } from './0003-sessions-and-settings.js';
import { sql as boundedLogsAndMetrics } from './0005-bounded-logs-and-metrics.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial-schema', sql: initialSchema },
  { version: 2, name: 'users-and-secrets', sql: usersAndSecrets },
  { version: 3, name: 'sessions-and-settings', sql: sessionsAndSettings },
  // 4 is issue 11's other half (another branch); each applies on its own.
  { version: 5, name: 'bounded-logs-and-metrics', sql: boundedLogsAndMetrics },
];
