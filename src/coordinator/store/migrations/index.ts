// Numbered, forward-only migrations in the order they apply. Never edit one that has shipped: add the next.
import { sql as initialSchema } from './0001-initial-schema.js';
import { sql as usersAndSecrets } from './0002-users-and-secrets.js';
import { sql as sessionsAndSettings } from './0003-sessions-and-settings.js';
import { sql as accessAndLimits } from './0004-access-and-limits.js';
import { sql as boundedLogsAndMetrics } from './0005-bounded-logs-and-metrics.js';
import { sql as queueHistory } from './0006-queue-history.js';
import { sql as codeintel } from './0007-codeintel.js';
import { sql as batchChanges } from './0008-batch-changes.js';
import { sql as changesets } from './0009-changesets.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial-schema', sql: initialSchema },
  { version: 2, name: 'users-and-secrets', sql: usersAndSecrets },
  { version: 3, name: 'sessions-and-settings', sql: sessionsAndSettings },
  { version: 4, name: 'access-and-limits', sql: accessAndLimits },
  { version: 5, name: 'bounded-logs-and-metrics', sql: boundedLogsAndMetrics },
  { version: 6, name: 'queue-history', sql: queueHistory },
  { version: 7, name: 'codeintel', sql: codeintel },
  { version: 8, name: 'batch-changes', sql: batchChanges },
  { version: 9, name: 'changesets', sql: changesets },
];
