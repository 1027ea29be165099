// The batch changes part of the coordinator (the execution side), assembled once: its store, workspace
// resolution, executions (jobs, results, cancel, retry), the lookup the changeset side uses, the
// `batches` queue's dequeue-time transformer, and the periodic settling of states from the jobs.
import type { Logger } from '../../shared/logger.js';
import { PeriodicTask } from '../background/periodic-task.js';
import type { JobTransformer } from '../queues/dequeuer.js';
import { BatchStore } from '../store/batch-store.js';
import type { Database } from '../store/database.js';
import type { JobStore } from '../store/job-store.js';
import type { RepositoryStore } from '../store/repository-store.js';
import type { SecretStore } from '../store/secret-store.js';
import type { UserStore } from '../store/user-store.js';
import type { BatchChangeLookup } from './batch-change-lookup.js';
import type { ChangesetHook } from './changeset-hook.js';
import { BatchExecutionService } from './execution/batch-execution-service.js';
import { StoreBatchChangeLookup } from './store-batch-change-lookup.js';
import { WorkspaceResolver } from './workspaces/resolve-workspaces.js';

/** How often workspace and execution states are settled from their jobs' states. */
export const BATCH_SETTLE_INTERVAL_MS = 1_000;

export interface BatchServices {
  store: BatchStore;
  resolver: WorkspaceResolver;
  execution: BatchExecutionService;
  /** For the changeset side: a batch change by name. */
  lookup: BatchChangeLookup;
  /** Registered for the `batches` queue. */
  transformer: JobTransformer;
  start(): void;
  stop(): Promise<void>;
}

export function createBatchServices(deps: {
  db: Database;
  jobs: JobStore;
  secrets: SecretStore;
  repositories: RepositoryStore;
  users: UserStore;
  repositoriesDir: string;
  hook: ChangesetHook;
  logger: Logger;
  helperImage: () => string;
  frontendUrl: () => string;
  srcProxy?: string;
  settleIntervalMs?: number;
}): BatchServices {
  const logger = deps.logger.with({ component: 'batches' });
  const store = new BatchStore(deps.db);
  const execution = new BatchExecutionService({
    store,
    jobs: deps.jobs,
    secrets: deps.secrets,
    hook: deps.hook,
    repositoriesDir: deps.repositoriesDir,
    logger,
    helperImage: deps.helperImage,
    frontendUrl: deps.frontendUrl,
    srcProxy: deps.srcProxy,
  });
  // A job's state changes in many places (mark calls, dequeue failures, the resetter, cancel): one pass
  // over the live workspace executions follows them all, at the cost of up to an interval of delay.
  const settler = new PeriodicTask('batch execution states', deps.settleIntervalMs ?? BATCH_SETTLE_INTERVAL_MS, () => execution.settleAll(), logger);
  return {
    store,
    resolver: new WorkspaceResolver({ repositories: deps.repositories, repositoriesDir: deps.repositoriesDir }),
    execution,
    lookup: new StoreBatchChangeLookup(store, deps.users),
    transformer: execution.transformer,
    start: () => settler.start(),
    async stop() {
      await settler.stop();
      await execution.close();
    },
  };
}
