// The code-intelligence part of the coordinator, assembled once: its store, the scheduler (API and
// policies), the upload processor, navigation, and the codeintel queue's dequeue-time transformer.
import type { Logger } from '../../shared/logger.js';
import type { JobTransformer } from '../queues/dequeuer.js';
import type { SiteSettings } from '../settings/site-settings.js';
import { CodeIntelStore } from '../store/codeintel-store.js';
import type { Database } from '../store/database.js';
import type { FileStore } from '../store/file-store.js';
import type { JobStore } from '../store/job-store.js';
import type { RepositoryStore } from '../store/repository-store.js';
import type { SecretStore } from '../store/secret-store.js';
import type { CodeIntelConfig } from './codeintel-config.js';
import { completeIndexJob } from './index-job-builder.js';
import { IndexScheduler } from './index-scheduler.js';
import { parseIndexerMap, type IndexerMap } from './indexer-map.js';
import { Navigation } from './navigation.js';
import { UploadProcessor } from './upload-processor.js';

export interface CodeIntelServices {
  config: CodeIntelConfig;
  store: CodeIntelStore;
  scheduler: IndexScheduler;
  processor: UploadProcessor;
  navigation: Navigation;
  /** The indexer map in force (COORDINATOR_CODEINTEL_INDEXER_MAP, else the site setting); a broken setting counts as empty. */
  indexerMap(): IndexerMap;
  /** Completes codeintel jobs at dequeue: registered for the codeintel queue. */
  transformer: JobTransformer;
  start(): void;
  stop(): Promise<void>;
}

export function createCodeIntelServices(deps: {
  db: Database;
  config: CodeIntelConfig;
  jobs: JobStore;
  files: FileStore;
  repositories: RepositoryStore;
  secrets: SecretStore;
  settings: SiteSettings;
  repositoriesDir: string;
  logger: Logger;
  /** How a job reaches this coordinator when nothing configures it (its listening URL, once started). */
  ownUrl: () => string | undefined;
  maxNumResets: number;
}): CodeIntelServices {
  const logger = deps.logger.with({ component: 'codeintel' });
  const store = new CodeIntelStore(deps.db);
  const indexerMap = () => {
    const parsed = parseIndexerMap(deps.config.indexerMap ?? deps.settings.codeIntelIndexerMap);
    return parsed.ok ? parsed.map : {};
  };
  const scheduler = new IndexScheduler({
    store,
    jobs: deps.jobs,
    repositories: deps.repositories,
    secrets: deps.secrets,
    repositoriesDir: deps.repositoriesDir,
    config: deps.config,
    indexerMap,
    logger,
  });
  const processor = new UploadProcessor(store, deps.files, deps.repositoriesDir, logger, {
    pollIntervalMs: 2_000,
    heartbeatIntervalMs: 5_000,
    stalledMaxAgeMs: 60_000,
    maxResets: deps.maxNumResets,
  });
  const frontendUrl = () => {
    const url = deps.config.frontendUrl ?? deps.settings.frontendUrl ?? deps.ownUrl();
    if (!url) throw new Error('no frontend URL for the upload step: set COORDINATOR_CODEINTEL_FRONTEND_URL');
    return url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:').replace(/\/$/, '');
  };
  const transformer: JobTransformer = async (job, context) => {
    const record = await store.getIndexJob(job.id);
    // A codeintel job queued by hand through the admin API is not an index job: it stays as it was asked.
    if (!record) return job;
    return completeIndexJob(job, { executorName: context.executorName, resources: context.resources, root: record.root, outfile: record.outfile, frontendUrl: frontendUrl(), srcCliImage: deps.config.srcCliImage, srcProxy: deps.config.srcProxy });
  };
  return {
    config: deps.config,
    store,
    scheduler,
    processor,
    navigation: new Navigation(store, deps.repositoriesDir),
    indexerMap,
    transformer,
    start() {
      processor.start();
      scheduler.start();
    },
    async stop() {
      await scheduler.stop();
      await processor.stop();
    },
  };
}
