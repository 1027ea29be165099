// Assembles the coordinator: database, migrations, stores, background tasks and the HTTP server;
// start() brings them up in order and stop() takes them down in reverse.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../shared/logger.js';
import type { QueueSizeReporter } from './autoscaling/queue-size-reporter.js';
import { startQueueSizeReporter } from './autoscaling/start-queue-size-reporter.js';
import { buildInfo } from '../shared/build-info.js';
import { PeriodicTask } from './background/periodic-task.js';
import type { CoordinatorConfig } from './config.js';
import { ExecutorAuth } from './http/executor-auth.js';
import { listenHttpServer, type ListeningHttpServer } from './http/http-server.js';
import type { HttpServices } from './http/services.js';
import { CoordinatorMetrics } from './metrics/coordinator-metrics.js';
import { Dequeuer } from './queues/dequeuer.js';
import { JobWaker } from './queues/job-waker.js';
import { MultiQueueSelector } from './queues/multi-queue-selector.js';
import { SiteSettings } from './settings/site-settings.js';
import type { Database } from './store/database.js';
import { ExecutorStore } from './store/executor-store.js';
import { FileStore } from './store/file-store.js';
import { HistoryStore } from './store/history-store.js';
import { HistoryRecorder } from './history/history-recorder.js';
import { JobStore } from './store/job-store.js';
import { migrate } from './store/migrator.js';
import { openPgDatabase } from './store/pg-database.js';
import { RepositoryStore } from './store/repository-store.js';
import { SecretStore } from './store/secret-store.js';
import { SessionStore } from './store/session-store.js';
import { UserStore } from './store/user-store.js';
import { loadKeyring } from './secrets/encryption-keys.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { ensureBootstrapAdmin } from './users/bootstrap-admin.js';
import { SignInThrottle } from './users/sign-in-throttle.js';
import { AccessStore } from './store/access-store.js';
import { SignInFailureStore } from './store/sign-in-failure-store.js';
import { JobAccess } from './queues/job-access.js';
import { parseRepositorySource } from './git/repository-url.js';

/** A stored source URL taken apart into the URL and its credential; null when it does not parse. */
function splitLegacySource(url: string) {
  try {
    return parseRepositorySource(url);
  } catch {
    return null;
  }
}
import { createCodeIntelServices, type CodeIntelServices } from './codeintel/codeintel-services.js';
import { createBatchServices, type BatchServices } from './batches/batch-services.js';
import type { ChangesetHook } from './batches/changeset-hook.js';
import { createChangesetService } from './batches/changesets/changeset-service.js';

/** Opens the configured database: the PostgreSQL server, or embedded PGlite in the data directory. */
export async function openDatabase(config: Pick<CoordinatorConfig, 'databaseUrl' | 'dataDir'>, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return openPgDatabase({ connectionString: config.databaseUrl, logger });
  const dataDir = path.join(config.dataDir, 'pglite');
  await fs.mkdir(dataDir, { recursive: true });
  logger.info('using the embedded database (PGlite)', { dataDir });
  // Loaded only when used: a coordinator on a PostgreSQL server never pays for the WebAssembly module.
  const { initPgliteDataDir, isPgliteDataDir, openPgliteDatabase } = await import('./store/pglite-database.js');
  const release = lockDataDir(dataDir);
  try {
    if (!isPgliteDataDir(dataDir)) {
      logger.info('creating the embedded database (first start; takes a few seconds)', { dataDir });
      await initPgliteDataDir(dataDir);
    }
    const db = await openPgliteDatabase({ dataDir });
    const close = db.close.bind(db);
    return { ...db, close: () => close().finally(release) };
  } catch (err) {
    release();
    throw err;
  }
}

export interface CoordinatorOptions {
  config: CoordinatorConfig;
  logger: Logger;
  /** Use this database instead of opening the configured one (tests); it is closed by stop() too. */
  database?: Database;
  /** What turns batch workspaces' results into changesets. Default: the changeset service (tests may watch with their own). */
  changesetHook?: ChangesetHook;
}

export class Coordinator {
  private db: Database | undefined;
  private http: ListeningHttpServer | undefined;
  private metricsHttp: ListeningHttpServer | undefined;
  private waker: JobWaker | undefined;
  private tasks: PeriodicTask[] = [];
  private queueSizeReporter: QueueSizeReporter | undefined;
  private codeintel: CodeIntelServices | undefined;
  private batches: BatchServices | undefined;
  private historyRecorder: HistoryRecorder | undefined;
  private readonly shutdown = new AbortController();
  private stopping: Promise<void> | undefined;
  /** Stores, for tests and tools that run beside the HTTP API. */
  services: HttpServices | undefined;
  resetter: PeriodicTask | undefined;

  constructor(private readonly options: CoordinatorOptions) {}

  /** The URL the HTTP server listens on. */
  get url(): string {
    if (!this.http) throw new Error('coordinator not started');
    return this.http.url;
  }

  /** The URL of COORDINATOR_METRICS_ADDR's listener; undefined when /metrics is on the main address. */
  get metricsUrl(): string | undefined {
    return this.metricsHttp?.url;
  }

  /** Starts everything; on a failure, what was started is stopped again before the error is thrown. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  private async startParts(): Promise<void> {
    const { config, logger } = this.options;
    // The address first: a busy port fails before the data directory or the database is touched.
    const listening = (this.http = await listenHttpServer({ host: config.listenHost, port: config.listenPort, tls: config.tls }));
    const metricsListening = config.metricsListen
      ? (this.metricsHttp = await listenHttpServer({ host: config.metricsListen.host, port: config.metricsListen.port, tls: config.tls, routes: 'metrics' }))
      : undefined;
    const db = (this.db = this.options.database ?? (await openDatabase(config, logger)));
    await migrate(db, logger);

    const jobs = new JobStore(db, { logLimits: { maxEntries: config.maxLogEntriesPerJob, maxBytes: config.maxLogBytesPerJob } });
    const executors = new ExecutorStore(db);
    const settings = new SiteSettings(
      { executorsAccessToken: config.executorsAccessToken, frontendUrl: undefined },
      new Set(config.executorsAccessToken ? ['executorsAccessToken' as const] : []),
      db,
    );
    await settings.reload();
    if (!settings.executorsAccessToken) {
      logger.warn('no executors access token (COORDINATOR_EXECUTORS_ACCESS_TOKEN or the site settings): the executor API answers 500 "Executors are not configured on this instance"');
    }
    const waker = (this.waker = new JobWaker(db, logger));
    await waker.start();
    const queueConfigs = new Map(config.queues.map((q) => [q.name, q]));
    const repositoriesDir = path.join(config.dataDir, 'repositories');
    await fs.mkdir(repositoriesDir, { recursive: true });

    const users = new UserStore(db);
    const sessions = new SessionStore(db);
    const keyring = loadKeyring(config, logger);
    const secrets = new SecretStore(db, keyring);
    const repositories = new RepositoryStore(db, keyring);
    const bootstrapAdmin = config.adminToken ? await ensureBootstrapAdmin(users, logger) : undefined;
    const movedCredentials = await repositories.encryptLegacyCredentials(splitLegacySource);
    if (movedCredentials > 0) logger.info('moved credentials out of repository source URLs into encrypted storage', { repositories: movedCredentials });
    const access = new JobAccess(new AccessStore(db));
    const signInFailures = new SignInFailureStore(db);
    const history = new HistoryStore(db);
    const historyRecorder = (this.historyRecorder = new HistoryRecorder(history, config.queues.map((q) => q.name), config.historyIntervalMs, logger));

    const files = new FileStore(db);
    const codeintel = (this.codeintel = createCodeIntelServices({
      db,
      config: config.codeintel,
      jobs,
      files,
      repositories,
      secrets,
      settings,
      repositoriesDir,
      logger,
      ownUrl: () => this.http?.url,
      maxNumResets: config.maxNumResets,
    }));
    const batchesFrontendUrl = () => {
      const url = config.codeintel.frontendUrl ?? settings.frontendUrl ?? this.http?.url;
      if (!url) throw new Error('no frontend URL for the batch result upload: set COORDINATOR_CODEINTEL_FRONTEND_URL');
      return url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:').replace(/\/$/, '');
    };
    // The changeset side finds a batch change's spec by id through the batch store, made just below.
    const changesets = createChangesetService({
      db,
      repositoriesDir,
      users,
      batchChangeById: async (id) => {
        const row = await this.batches?.store.getBatchChangeById(id);
        return row ? { id: row.id, name: row.name, namespace: row.namespace.name, ownerUserId: row.ownerUserId ?? 0, spec: row.spec } : undefined;
      },
      logger,
    });
    const batches = (this.batches = createBatchServices({
      db,
      jobs,
      secrets,
      repositories,
      users,
      repositoriesDir,
      hook: this.options.changesetHook ?? changesets,
      logger,
      // The helper steps run `src batch-helper` from the same image as the codeintel upload step.
      helperImage: () => config.codeintel.srcCliImage,
      frontendUrl: batchesFrontendUrl,
      srcProxy: config.codeintel.srcProxy,
    }));
    const services: HttpServices = (this.services = {
      config,
      logger,
      settings,
      jobs,
      executors,
      repositories,
      files,
      codeintel,
      batches,
      changesets: { changesets, lookup: batches.lookup },
      users,
      sessions,
      secrets,
      bootstrapAdmin,
      access,
      signIn: new SignInThrottle(signInFailures, config.signIn, logger),
      dequeuer: new Dequeuer(jobs, waker, new MultiQueueSelector(queueConfigs, config.multiQueueDequeueTtlMs), secrets, logger, access, new Map([['codeintel', codeintel.transformer], ['batches', batches.transformer]])),
      executorAuth: new ExecutorAuth(settings, jobs),
      metrics: new CoordinatorMetrics({
        queues: config.queues,
        jobs,
        executors,
        logger,
        maxExecutorMetricsBytes: config.maxExecutorMetricsBytes,
        maxForwardedMetricsBytes: config.maxForwardedMetricsBytes,
      }),
      repositoriesDir,
      shutdownSignal: this.shutdown.signal,
      history,
      historyRecorder,
    });

    this.resetter = new PeriodicTask(
      'stalled-job resetter',
      config.resetterIntervalMs,
      async () => {
        const { resetIds, failedIds, failedQueues } = await jobs.resetStalled(config.stalledJobMaxAgeMs, config.maxNumResets);
        if (resetIds.length > 0) logger.warn('reset stalled jobs (no heartbeat)', { jobIds: resetIds });
        if (failedIds.length > 0) logger.warn('failed jobs reset too many times', { jobIds: failedIds });
        for (const queue of failedQueues) historyRecorder.jobFinished(queue, 'failed');
        if (config.maxNumRetries > 0) {
          const retried = await jobs.requeueErrored(config.retryAfterMs);
          if (retried.length > 0) logger.info('requeued errored jobs for retry', { jobIds: retried });
        }
      },
      logger,
    );
    const executorCleaner = new PeriodicTask(
      'executor record cleaner',
      config.executorCleanupIntervalMs,
      async () => {
        const deleted = await executors.deleteNotSeenFor(config.executorRecordMaxAgeMs);
        if (deleted > 0) logger.info('deleted executors not seen recently', { count: deleted });
      },
      logger,
    );
    const statisticsKeeper = new PeriodicTask('jobs table statistics', config.statisticsIntervalMs, async () => {
      if (await jobs.analyzeIfStale()) logger.debug('analyzed the jobs table');
    }, logger);
    // Another replica may have changed a setting through the web UI; expired sessions and sign-in
    // failures go too.
    const settingsReloader = new PeriodicTask('site settings and sessions', 5_000, async () => {
      await settings.reload();
      await sessions.deleteExpired();
      await signInFailures.deleteExpired(config.signIn.lockoutMs);
    }, logger);
    this.tasks = [this.resetter, executorCleaner, statisticsKeeper, settingsReloader];
    for (const task of this.tasks) task.start();
    this.queueSizeReporter = await startQueueSizeReporter(config.autoscaling, config.queues.map((q) => q.name), () => jobs.queueSizes(), logger);
    historyRecorder.start();

    listening.serve(services);
    metricsListening?.serve(services);
    codeintel.start();
    batches.start();
    logger.info('coordinator listening', {
      url: listening.url,
      version: buildInfo().version,
      metricsUrl: `${(metricsListening ?? listening).url}/metrics`,
      metricsAuth: config.metricsToken ? 'COORDINATOR_METRICS_TOKEN' : 'none',
      database: db.kind,
      queues: config.queues.map((q) => q.name).join(','),
    });
  }

  /** Stops in reverse order: long polls answer 204, the server drains, tasks finish, the database closes. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.shutdown.abort();
      await this.waker?.stop();
      await Promise.all([this.http?.close(), this.metricsHttp?.close()]);
      await this.queueSizeReporter?.stop();
      await this.codeintel?.stop();
      await this.batches?.stop();
      await Promise.all(this.tasks.map((t) => t.stop()));
      // After the server: the counts of the last mark calls are written too.
      await this.historyRecorder?.stop();
      await this.db?.close();
    })();
    return this.stopping;
  }
}
