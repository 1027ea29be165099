// Schedules index jobs: for a repository at a revision, resolves the commit, takes the index
// configuration (set through the API, else the commit's sourcegraph.yaml, else inferred from its files),
// and queues one codeintel job per index record — unless one for the same (repository, commit, root,
// indexer) is already queued, running or done, the repository has its cap of queued jobs, or the
// (repository, root, indexer) failed N times in a row with this configuration. What it decided is
// stored per repository. Policies run it periodically; nothing is scheduled until an admin adds one.
import type { Logger } from '../../shared/logger.js';
import { AppError } from '../../shared/errors.js';
import { planJobSecrets } from '../secrets/job-secrets.js';
import type { CodeIntelStore, IndexJobSource } from '../store/codeintel-store.js';
import type { JobStore } from '../store/job-store.js';
import type { RepositoryStore } from '../store/repository-store.js';
import type { SecretStore } from '../store/secret-store.js';
import { repositoryDirFor } from '../git/repository-mirror.js';
import type { CodeIntelConfig } from './codeintel-config.js';
import { CONFIGURATION_FILE, configHashOf, indexerNameOf, parseIndexConfigurationYaml, validateIndexConfiguration, type IndexConfiguration } from './index-configuration.js';
import { indexJobSpec } from './index-job-builder.js';
import { inferIndexJobs, MAX_CANDIDATE_BYTES } from './inference.js';
import type { IndexerMap } from './indexer-map.js';
import { RepositoryReader } from './repository-reader.js';

export const CODEINTEL_QUEUE = 'codeintel';

/** What scheduling decided; stored per repository (codeintel_repository_status). */
export type ScheduleOutcome = 'queued' | 'up_to_date' | 'no_indexer' | 'config_error' | 'capped' | 'blocked';

export interface ScheduledJob {
  jobId: number;
  root: string;
  indexer: string;
}

export interface SkippedJob {
  root: string;
  indexer: string;
  reason: 'duplicate' | 'capped' | 'blocked';
  message: string;
  /** The job that makes this one a duplicate. */
  existingJobId?: number;
}

export interface ScheduleResult {
  repository: string;
  revision: string;
  commit: string;
  /** Where the index records came from. */
  source: IndexJobSource | null;
  outcome: ScheduleOutcome;
  message: string;
  jobs: ScheduledJob[];
  skipped: SkippedJob[];
}

export interface IndexSchedulerDeps {
  store: CodeIntelStore;
  jobs: JobStore;
  repositories: RepositoryStore;
  secrets: SecretStore;
  repositoriesDir: string;
  config: CodeIntelConfig;
  /** The current indexer map (the site setting, parsed). */
  indexerMap: () => IndexerMap;
  logger: Logger;
}

/** Glob over repository names: `*` is any run of characters but `/`, `**` any run at all, `?` one character. */
export function repositoryPatternMatches(pattern: string, name: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`).test(name);
}

export class IndexScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly deps: IndexSchedulerDeps) {}

  /**
   * Schedules `repositoryName` at `revision`. Throws AppError `codeintel.unknown_repository` or
   * `codeintel.unknown_revision`; every other outcome (including a broken configuration) is a result.
   */
  async scheduleRepository(repositoryName: string, revision: string, options: { userId: number | null }): Promise<ScheduleResult> {
    const { store, logger } = this.deps;
    if (!(await this.deps.repositories.get(repositoryName))) {
      throw new AppError('codeintel.unknown_repository', `repository ${JSON.stringify(repositoryName)} is not registered (POST /api/v1/repositories)`);
    }
    const reader = new RepositoryReader(repositoryDirFor(this.deps.repositoriesDir, repositoryName));
    const commit = await reader.resolveRevision(revision);
    if (!commit) throw new AppError('codeintel.unknown_revision', `revision ${JSON.stringify(revision)} is not in repository ${repositoryName}`);
    const base = { repository: repositoryName, revision, commit, jobs: [] as ScheduledJob[], skipped: [] as SkippedJob[] };
    const finish = async (result: ScheduleResult) => {
      await store.setRepositoryStatus({ repositoryName, commit, outcome: result.outcome, message: result.message });
      return result;
    };

    // 1. The configuration: the API's, else sourcegraph.yaml, else inferred.
    let configuration: IndexConfiguration | undefined;
    let source: IndexJobSource;
    const fromApi = await store.getConfiguration(repositoryName);
    const files = await reader.listFiles(commit);
    if (fromApi) {
      source = 'api';
      const parsed = validateIndexConfiguration(fromApi.config);
      if (!parsed.ok) return finish({ ...base, source, outcome: 'config_error', message: `the configuration set through the API is invalid: ${parsed.error}` });
      configuration = parsed.config;
    } else if (files.includes(CONFIGURATION_FILE)) {
      source = 'sourcegraph.yaml';
      const text = (await reader.readFiles(commit, [CONFIGURATION_FILE], MAX_CANDIDATE_BYTES)).get(CONFIGURATION_FILE);
      if (text === undefined) return finish({ ...base, source, outcome: 'config_error', message: `${CONFIGURATION_FILE} is over ${MAX_CANDIDATE_BYTES} bytes` });
      const parsed = parseIndexConfigurationYaml(text);
      if (!parsed.ok) return finish({ ...base, source, outcome: 'config_error', message: `${CONFIGURATION_FILE} at ${commit.slice(0, 12)} is invalid: ${parsed.error}` });
      configuration = parsed.config;
    } else {
      source = 'inferred';
      const inferred = await inferIndexJobs(files, (paths) => reader.readFiles(commit, paths, MAX_CANDIDATE_BYTES), this.deps.indexerMap());
      if (inferred.jobs.length === 0) {
        return finish({
          ...base,
          source,
          outcome: 'no_indexer',
          message: `no indexer applies to ${commit.slice(0, 12)}: no tsconfig.json, package.json, pyproject.toml, setup.py, setup.cfg or requirements.txt (add a ${CONFIGURATION_FILE}, or set a configuration through the API)`,
        });
      }
      configuration = { shared_steps: [], index_jobs: inferred.jobs.map(({ indexerKey: _k, ...job }) => job) };
    }

    // 2. One job per index record, unless a duplicate, capped or blocked.
    const { config } = this.deps;
    for (const job of configuration.index_jobs) {
      const indexerName = indexerNameOf(job.indexer);
      const key = { repositoryName, commit, root: job.root, indexerName };
      const configHash = configHashOf(job, configuration.shared_steps);
      const stepSecrets = [...configuration.shared_steps, ...job.steps].map(() => job.requestedEnvVars).concat([job.requestedEnvVars]);
      // Secrets are checked before the transaction: on PGlite a query outside it would wait for it.
      const secrets = await planJobSecrets(this.deps.secrets, { userId: options.userId ?? 0, orgId: null, queue: CODEINTEL_QUEUE, stepSecrets });
      const spec = indexJobSpec({ repositoryName, commit, job, sharedSteps: configuration.shared_steps });
      const outcome = await store.transaction(async (tx) => {
        await store.lockRepository(tx, repositoryName);
        const existing = await store.liveIndexJob(tx, key);
        if (existing !== null) return { skip: { reason: 'duplicate' as const, message: `job ${existing} already indexes this commit, root and indexer`, existingJobId: existing } };
        const recent = await store.recentFinishedIndexJobs(tx, key, config.maxConsecutiveFailures);
        if (recent.length >= config.maxConsecutiveFailures && recent.every((r) => r.state !== 'completed' && r.configHash === configHash)) {
          return {
            skip: {
              reason: 'blocked' as const,
              message: `the last ${recent.length} jobs for root ${JSON.stringify(job.root || '.')} with ${indexerName} failed with this configuration (latest: job ${recent[0]!.jobId}: ${recent[0]!.failureMessage ?? 'no message'}); not scheduled again until its configuration changes`,
            },
          };
        }
        const queued = await store.queuedIndexJobCount(tx, repositoryName);
        if (queued >= config.maxQueuedJobsPerRepository) {
          return { skip: { reason: 'capped' as const, message: `the repository has ${queued} queued or running index jobs, its cap (COORDINATOR_CODEINTEL_MAX_QUEUED_JOBS_PER_REPOSITORY=${config.maxQueuedJobsPerRepository})` } };
        }
        const jobId = await this.deps.jobs.enqueue(CODEINTEL_QUEUE, spec, { secrets, creatorId: options.userId, db: tx });
        await store.insertIndexJob(tx, {
          jobId,
          repositoryName,
          commit,
          root: job.root,
          indexer: job.indexer,
          indexerName,
          outfile: job.outfile,
          source,
          configHash,
          requestedEnvVars: job.requestedEnvVars,
        });
        return { jobId };
      });
      if ('jobId' in outcome && outcome.jobId !== undefined) base.jobs.push({ jobId: outcome.jobId, root: job.root, indexer: job.indexer });
      else if ('skip' in outcome && outcome.skip) base.skipped.push({ root: job.root, indexer: job.indexer, ...outcome.skip });
    }

    const summary = (s: SkippedJob) => `${s.root || '.'} (${indexerNameOf(s.indexer)}): ${s.message}`;
    let outcome: ScheduleOutcome;
    let message: string;
    if (base.jobs.length > 0) {
      outcome = 'queued';
      message = `queued ${base.jobs.length} index job(s) (${base.jobs.map((j) => `#${j.jobId}`).join(', ')}) from the ${source} configuration${base.skipped.length > 0 ? `; skipped ${base.skipped.map(summary).join('; ')}` : ''}`;
    } else if (base.skipped.some((s) => s.reason === 'blocked')) {
      outcome = 'blocked';
      message = base.skipped.map(summary).join('; ');
    } else if (base.skipped.some((s) => s.reason === 'capped')) {
      outcome = 'capped';
      message = base.skipped.map(summary).join('; ');
    } else {
      outcome = 'up_to_date';
      message = `every index job of ${commit.slice(0, 12)} is queued, running or done already`;
    }
    if (base.jobs.length > 0) logger.info('scheduled index jobs', { repository: repositoryName, commit, jobIds: base.jobs.map((j) => j.jobId), source });
    return finish({ ...base, source, outcome, message });
  }

  /** Evaluates every enabled policy once: repositories due for their branch's head get scheduled. */
  async runPolicies(): Promise<void> {
    const { store, logger } = this.deps;
    const policies = (await store.listPolicies()).filter((p) => p.enabled);
    if (policies.length === 0) return;
    const repositories = await this.deps.repositories.list();
    for (const policy of policies) {
      for (const repository of repositories) {
        if (this.stopped) return;
        if (!repositoryPatternMatches(policy.repositoryPattern, repository.name)) continue;
        const last = await store.policyLastRun(policy.id, repository.name);
        if (last && Date.now() - last.getTime() < policy.intervalMs) continue;
        await store.setPolicyLastRun(policy.id, repository.name);
        try {
          await this.scheduleRepository(repository.name, policy.branch, { userId: null });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          await store.setRepositoryStatus({ repositoryName: repository.name, commit: '', outcome: 'config_error', message: `policy ${JSON.stringify(policy.name)}: ${err.message}` });
          logger.warn('policy could not schedule a repository', { policy: policy.name, repository: repository.name, err: err.message });
        }
      }
    }
  }

  start(): void {
    const tick = () => {
      this.running = this.runPolicies()
        .catch((err: unknown) => this.deps.logger.error('auto-indexing policies failed', { err: (err as Error).stack ?? String(err) }))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.deps.config.schedulerIntervalMs);
        });
    };
    this.timer = setTimeout(tick, Math.min(5_000, this.deps.config.schedulerIntervalMs));
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
