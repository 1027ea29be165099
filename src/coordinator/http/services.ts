// What the HTTP routes need from the rest of the coordinator, assembled once by Coordinator.
import type { Logger } from '../../shared/logger.js';
import type { CoordinatorConfig } from '../config.js';
import type { HistoryRecorder } from '../history/history-recorder.js';
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.js';
import type { Dequeuer } from '../queues/dequeuer.js';
import type { JobAccess } from '../queues/job-access.js';
import type { SignInThrottle } from '../users/sign-in-throttle.js';
import type { SiteSettings } from '../settings/site-settings.js';
import type { ExecutorStore } from '../store/executor-store.js';
import type { FileStore } from '../store/file-store.js';
import type { HistoryStore } from '../store/history-store.js';
import type { JobStore } from '../store/job-store.js';
import type { RepositoryStore } from '../store/repository-store.js';
import type { SecretStore } from '../store/secret-store.js';
import type { SessionStore } from '../store/session-store.js';
import type { UserRow, UserStore } from '../store/user-store.js';
import type { ExecutorAuth } from './executor-auth.js';
import type { CodeIntelServices } from '../codeintel/codeintel-services.js';
import type { BatchServices } from '../batches/batch-services.js';
import type { ChangesetRouteServices } from './changeset-routes.js';

export interface HttpServices {
  config: CoordinatorConfig;
  logger: Logger;
  settings: SiteSettings;
  jobs: JobStore;
  executors: ExecutorStore;
  repositories: RepositoryStore;
  files: FileStore;
  /** Auto-indexing, uploads and code navigation. */
  codeintel: CodeIntelServices;
  /** Batch changes: specs, workspaces, executions and their results. */
  batches: BatchServices;
  users: UserStore;
  sessions: SessionStore;
  secrets: SecretStore;
  /** The site admin that COORDINATOR_ADMIN_TOKEN acts as (user `admin`); undefined without that token. */
  bootstrapAdmin: UserRow | undefined;
  dequeuer: Dequeuer;
  /** Who may use which repository, files and secrets in a job. */
  access: JobAccess;
  /** Counts failed sign-ins and locks names and addresses out. */
  signIn: SignInThrottle;
  executorAuth: ExecutorAuth;
  metrics: CoordinatorMetrics;
  /** Directory of the bare repositories served to jobs. */
  repositoriesDir: string;
  /** Aborted when the coordinator stops: long polls end at once. */
  shutdownSignal: AbortSignal;
  /** The charts' time series: what they read. */
  history: HistoryStore;
  /** Counts finished jobs for the charts. */
  historyRecorder: HistoryRecorder;
  /** Batch changes' changesets (preview, apply, publish); their routes are served only when set. */
  changesets?: ChangesetRouteServices;
}
