// Assembles the coordinator: database, migrations, stores, background tasks and the HTTP server;
// start() brings them up in order and stop() takes them down in reverse.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../shared/logger.js';
import type { QueueSizeReporter } from './autoscaling/queue-size-reporter.js';
import { startQueueSizeReporter } from './autoscaling/start-queue-size-reporter.js';
import { PeriodicTask } from './background/periodic-task.js';
import type { CoordinatorConfig } from './config.js';
import { ExecutorAuth } from './http/executor-auth.js';
import { startHttpServer, type CoordinatorHttpServer } from './http/http-server.js';
import type { HttpServices } from './http/services.js';
import { CoordinatorMetrics } from './metrics/coordinator-metrics.js';
import { Dequeuer } from './queues/dequeuer.js';
import { JobWaker } from './queues/job-waker.js';
import { MultiQueueSelector } from './queues/multi-queue-selector.js';
import { SiteSettings } from './settings/site-settings.js';
import type { Database } from './store/database.js';
import { ExecutorStore } from './store/executor-store.js';
import { FileStore } from './store/file-store.js';
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
}

export class Coordinator {
  private db: Database | undefined;
  private http: CoordinatorHttpServer | undefined;
  private waker: JobWaker | undefined;
  private tasks: PeriodicTask[] = [];
  private queueSizeReporter: QueueSizeReporter | undefined;
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

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const db = (this.db = this.options.database ?? (await openDatabase(config, logger)));
    await migrate(db, logger);

    const jobs = new JobStore(db);
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
    const secrets = new SecretStore(db, loadKeyring(config, logger));
    const bootstrapAdmin = config.adminToken ? await ensureBootstrapAdmin(users, logger) : undefined;

    const services: HttpServices = (this.services = {
      config,
      logger,
      settings,
      jobs,
      executors,
      repositories: new RepositoryStore(db),
      files: new FileStore(db),
      users,
      sessions,
      secrets,
      bootstrapAdmin,
      dequeuer: new Dequeuer(jobs, waker, new MultiQueueSelector(queueConfigs, config.multiQueueDequeueTtlMs), secrets, logger),
      executorAuth: new ExecutorAuth(settings, jobs),
      metrics: new CoordinatorMetrics(config.queues, jobs, executors),
      repositoriesDir,
      shutdownSignal: this.shutdown.signal,
    });

    this.resetter = new PeriodicTask(
      'stalled-job resetter',
      config.resetterIntervalMs,
      async () => {
        const { resetIds, failedIds } = await jobs.resetStalled(config.stalledJobMaxAgeMs, config.maxNumResets);
        if (resetIds.length > 0) logger.warn('reset stalled jobs (no heartbeat)', { jobIds: resetIds });
        if (failedIds.length > 0) logger.warn('failed jobs reset too many times', { jobIds: failedIds });
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
    // Another replica may have changed a setting through the web UI; expired sessions go too.
    const settingsReloader = new PeriodicTask('site settings and sessions', 5_000, async () => {
      await settings.reload();
      await sessions.deleteExpired();
    }, logger);
    this.tasks = [this.resetter, executorCleaner, statisticsKeeper, settingsReloader];
    for (const task of this.tasks) task.start();
    this.queueSizeReporter = await startQueueSizeReporter(config.autoscaling, config.queues.map((q) => q.name), () => jobs.queueSizes(), logger);

    this.http = await startHttpServer(services, { host: config.listenHost, port: config.listenPort, tls: config.tls });
    logger.info('coordinator listening', { url: this.http.url, database: db.kind, queues: config.queues.map((q) => q.name).join(',') });
  }

  /** Stops in reverse order: long polls answer 204, the server drains, tasks finish, the database closes. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.shutdown.abort();
      await this.waker?.stop();
      await this.http?.close();
      await this.queueSizeReporter?.stop();
      await Promise.all(this.tasks.map((t) => t.stop()));
      await this.db?.close();
    })();
    return this.stopping;
  }
}
