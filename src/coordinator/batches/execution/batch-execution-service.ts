// Runs a batch change's spec: an execution with one `batches` job per workspace (or a result from the
// user's step cache, which makes no job), cancel and retry, the result a job uploads (its diff checked
// against the base commit before it is stored), and the settling of workspace and execution states from
// the jobs' states. Calls the ChangesetHook when an execution starts and when a workspace's result is in.
import type { BatchExecutionResult } from '../../../protocol/batch-execution.js';
import type { Job } from '../../../protocol/job.js';
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { repositoryDirFor } from '../../git/repository-mirror.js';
import type { JobTransformer } from '../../queues/dequeuer.js';
import { planJobSecrets, type PlannedJobSecrets } from '../../secrets/job-secrets.js';
import type { BatchChangeRow, BatchExecutionRow, BatchStore, BatchWorkspaceRow, NewWorkspaceExecution, WorkspaceExecutionRow } from '../../store/batch-store.js';
import { LIVE_EXECUTION_STATES } from '../../store/batch-store.js';
import type { JobStore } from '../../store/job-store.js';
import type { SecretNamespace, SecretStore } from '../../store/secret-store.js';
import type { Queryable } from '../../store/database.js';
import type { ChangesetHook } from '../changeset-hook.js';
import { batchJobSpec, BATCHES_QUEUE, stepCacheKey, uploadStepEnv, workspaceTask } from './batch-job-builder.js';
import { diffApplyProblem } from './diff-check.js';
import { redactResult } from './redact-result.js';
import { computeExecutionState } from './execution-state.js';

export interface BatchExecutionDeps {
  store: BatchStore;
  jobs: JobStore;
  secrets: SecretStore;
  hook: ChangesetHook;
  repositoriesDir: string;
  logger: Logger;
  /** The image of the helper steps (`src batch-helper`): COORDINATOR_CODEINTEL_SRC_CLI_IMAGE's `executors-src-cli`. */
  helperImage: () => string;
  /** How a job reaches this coordinator (the upload step's SRC_ENDPOINT). */
  frontendUrl: () => string;
  srcProxy?: string;
}

/** Who asks: the execution's jobs run as them (repositories they may read, secrets, step cache). */
export interface BatchActor {
  id: number;
  siteAdmin: boolean;
}

/** The result a job may upload: refused when its workspace is no longer waiting for one, or its diff does not apply. */
export type ResultOutcome = { ok: true } | { ok: false; status: number; message: string };

const EMPTY_RESULT: BatchExecutionResult = { version: 1, diff: '', outputs: {}, steps: [] };

/** One workspace ready to run: its job (or cached result), planned before any transaction. */
interface PlannedWorkspace {
  workspace: BatchWorkspaceRow;
  cacheKey: string;
  cached: BatchExecutionResult | null;
  job: { spec: ReturnType<typeof batchJobSpec>['spec']; secrets: PlannedJobSecrets } | null;
}

export class BatchExecutionService {
  private pendingSettle: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: BatchExecutionDeps) {}

  private secretNamespace(batchChange: BatchChangeRow, actor: BatchActor): SecretNamespace {
    return batchChange.namespace.kind === 'org' ? { kind: 'org', orgId: batchChange.namespace.orgId } : { kind: 'user', userId: actor.id };
  }

  /**
   * Plans each workspace: its cache key (secret versions read once for all), the cached result unless
   * `noCache`, else its job and secrets. `secrets.missing` names a secret that does not exist.
   */
  private async plan(batchChange: BatchChangeRow, workspaces: readonly BatchWorkspaceRow[], actor: BatchActor, noCache: boolean): Promise<PlannedWorkspace[]> {
    const { store, secrets } = this.deps;
    const ns = this.secretNamespace(batchChange, actor);
    const tasks = workspaces.map((workspace) => ({ workspace, task: workspaceTask(batchChange.spec, workspace) }));
    const names = [...new Set(tasks.flatMap((t) => t.task.stepSecrets.flat()))];
    const found = await secrets.find(ns, 'batches', names);
    const versions = new Map([...found].map(([key, s]) => [key, `${s.id}:${s.updatedAt.toISOString()}`]));
    const missing = names.filter((n) => !found.has(n));
    if (missing.length > 0) throw new AppError('secrets.missing', `no executor secret named ${missing.join(', ')} as batches secrets in the batch change's namespace or globally (the steps' env names them without a value)`);
    const orgId = batchChange.namespace.kind === 'org' ? batchChange.namespace.orgId : null;
    const keyed = tasks.map((t) => ({ ...t, cacheKey: stepCacheKey(t.task, t.workspace.onlyFetchWorkspace, versions) }));
    const cache = noCache ? new Map<string, BatchExecutionResult>() : await store.cachedResults(actor.id, keyed.map((k) => k.cacheKey));
    const planned: PlannedWorkspace[] = [];
    for (const { workspace, task, cacheKey } of keyed) {
      if (task.input.steps.length === 0) {
        planned.push({ workspace, cacheKey, cached: EMPTY_RESULT, job: null });
        continue;
      }
      const cached = cache.get(cacheKey) ?? null;
      if (cached) {
        planned.push({ workspace, cacheKey, cached, job: null });
        continue;
      }
      const { spec, stepSecrets } = batchJobSpec(task, { onlyFetchWorkspace: workspace.onlyFetchWorkspace, helperImage: this.deps.helperImage() });
      const jobSecrets = await planJobSecrets(secrets, { userId: actor.id, orgId, queue: BATCHES_QUEUE, stepSecrets });
      planned.push({ workspace, cacheKey, cached: null, job: { spec, secrets: jobSecrets } });
    }
    return planned;
  }

  private async enqueue(tx: Queryable, plannedWorkspace: PlannedWorkspace, actor: BatchActor): Promise<Omit<NewWorkspaceExecution, 'executionId' | 'workspaceId'>> {
    const { cacheKey, cached, job } = plannedWorkspace;
    if (!job) return { state: 'COMPLETED', jobId: null, cacheKey, cached: cached !== EMPTY_RESULT, result: cached, failureMessage: null };
    const jobId = await this.deps.jobs.enqueue(BATCHES_QUEUE, job.spec, { secrets: job.secrets, creatorId: actor.id, db: tx });
    return { state: 'QUEUED', jobId, cacheKey, cached: false, result: null, failureMessage: null };
  }

  /** Tells the changeset side about results that came from the cache (or needed no job). */
  private async announceCompleted(batchChange: BatchChangeRow, executionId: number, planned: readonly PlannedWorkspace[]): Promise<void> {
    for (const p of planned) {
      if (p.job || !p.cached) continue;
      await this.workspaceCompleted(batchChange.id, executionId, p.workspace, p.cached, p.cached !== EMPTY_RESULT);
    }
  }

  private async workspaceCompleted(batchChangeId: number, executionId: number, workspace: BatchWorkspaceRow, result: BatchExecutionResult, cached: boolean): Promise<void> {
    try {
      await this.deps.hook.workspaceCompleted({
        batchChangeId,
        executionId,
        workspaceId: workspace.id,
        repositoryName: workspace.repositoryName,
        branch: workspace.branch,
        commit: workspace.commit,
        path: workspace.path,
        cached,
        result,
      });
    } catch (err) {
      // A template of changesetTemplate that fails on this result (`changesets.template_failed`) or a diff
      // it cannot split is the spec's fault: the workspace fails with the message, which names the field.
      if (err instanceof AppError && err.code.startsWith('changesets.')) {
        await this.deps.store.failCompletedWorkspaceExecution(executionId, workspace.id, err.message);
        this.deps.logger.warn('no changeset for a completed workspace', { batchChangeId, executionId, workspaceId: workspace.id, code: err.code, message: err.message });
        return;
      }
      this.deps.logger.error('the changeset side failed on a completed workspace', { batchChangeId, executionId, workspaceId: workspace.id, err });
    }
  }

  /**
   * Starts an execution of every workspace that is not skipped. `batches.execution_running` when one is
   * still running; `secrets.missing` when a step names a secret that does not exist.
   */
  async execute(batchChange: BatchChangeRow, actor: BatchActor, options: { noCache: boolean }): Promise<BatchExecutionRow> {
    const { store } = this.deps;
    const latest = await store.latestExecution(batchChange.id);
    if (latest && LIVE_EXECUTION_STATES.includes(latest.state)) {
      throw new AppError('batches.execution_running', `execution ${latest.id} of batch change ${batchChange.name} is ${latest.state}: cancel it first, or wait for it to finish`);
    }
    const workspaces = (await store.listWorkspaces(batchChange.id)).filter((w) => !w.skipped);
    const planned = await this.plan(batchChange, workspaces, actor, options.noCache);
    const execution = await store.transaction(async (tx) => {
      // Checked again under the lock: two executes at once make one execution.
      await store.lockBatchChange(tx, batchChange.id);
      const running = await store.latestExecution(batchChange.id, tx);
      if (running && LIVE_EXECUTION_STATES.includes(running.state)) {
        throw new AppError('batches.execution_running', `execution ${running.id} of batch change ${batchChange.name} is ${running.state}: cancel it first, or wait for it to finish`);
      }
      return store.createExecution(tx, { batchChangeId: batchChange.id, userId: actor.id, noCache: options.noCache });
    });
    // Before any job exists, so a result can never arrive for an execution the changeset side has not seen start.
    await this.deps.hook.executionStarted(batchChange.id, execution.id);
    try {
      await store.transaction(async (tx) => {
        for (const p of planned) {
          const row = await this.enqueue(tx, p, actor);
          await store.insertWorkspaceExecution(tx, { ...row, executionId: execution.id, workspaceId: p.workspace.id });
        }
      });
    } catch (err) {
      await store.setExecutionState(execution.id, 'FAILED');
      throw err;
    }
    const jobs = planned.filter((p) => p.job).length;
    this.deps.logger.info('batch change execution started', { batchChange: batchChange.name, executionId: execution.id, workspaces: planned.length, jobs, cached: planned.length - jobs });
    await this.announceCompleted(batchChange, execution.id, planned);
    await this.settle([execution.id]);
    return (await store.getExecution(execution.id))!;
  }

  /** Cancels the latest execution's queued and running jobs (running ones end at the executor's next heartbeat). */
  async cancel(batchChange: BatchChangeRow): Promise<{ execution: BatchExecutionRow | null; canceled: number; canceling: number }> {
    const { store, jobs } = this.deps;
    const execution = await store.latestExecution(batchChange.id);
    if (!execution) return { execution: null, canceled: 0, canceling: 0 };
    let canceled = 0;
    let canceling = 0;
    for (const we of await store.listWorkspaceExecutions(execution.id)) {
      if (!LIVE_EXECUTION_STATES.includes(we.state) || we.jobId === null) continue;
      const outcome = await jobs.cancel(BATCHES_QUEUE, we.jobId);
      if (outcome === 'canceled') {
        await store.markCanceled(we.id, 'CANCELED');
        canceled++;
      } else if (outcome === 'cancel-requested') {
        await store.markCanceled(we.id, 'CANCELING');
        canceling++;
      }
    }
    await this.settle([execution.id]);
    return { execution: await store.getExecution(execution.id), canceled, canceling };
  }

  /**
   * Runs finished workspaces of the latest execution again: `workspaceIds`, or every FAILED and CANCELED
   * one. `batches.not_executed` without an execution, `batches.not_retryable` for a workspace still running
   * or not in it.
   */
  async retry(batchChange: BatchChangeRow, actor: BatchActor, workspaceIds?: readonly number[]): Promise<{ execution: BatchExecutionRow; retried: number }> {
    const { store } = this.deps;
    const execution = await store.latestExecution(batchChange.id);
    if (!execution) throw new AppError('batches.not_executed', `batch change ${batchChange.name} has not been executed: POST .../execute first`);
    const rows = await store.listWorkspaceExecutions(execution.id);
    let chosen: WorkspaceExecutionRow[];
    if (workspaceIds) {
      chosen = [];
      for (const id of workspaceIds) {
        const row = rows.find((r) => r.workspaceId === id);
        if (!row) throw new AppError('batches.not_retryable', `workspace ${id} is not part of execution ${execution.id} (skipped, or of another batch change)`);
        if (LIVE_EXECUTION_STATES.includes(row.state)) throw new AppError('batches.not_retryable', `workspace ${id} is ${row.state}: only a finished workspace is retried`);
        chosen.push(row);
      }
    } else {
      chosen = rows.filter((r) => r.state === 'FAILED' || r.state === 'CANCELED');
    }
    const byId = new Map((await store.listWorkspaces(batchChange.id)).map((w) => [w.id, w]));
    const planned = await this.plan(batchChange, chosen.map((r) => byId.get(r.workspaceId)!), actor, execution.noCache);
    await store.transaction(async (tx) => {
      await store.lockBatchChange(tx, batchChange.id);
      for (const [i, p] of planned.entries()) {
        const next = await this.enqueue(tx, p, actor);
        // Another retry took it first: this one's jobs are rolled back with the transaction.
        if (!(await store.resetWorkspaceExecution(tx, chosen[i]!.id, next))) {
          throw new AppError('batches.not_retryable', `workspace ${chosen[i]!.workspaceId} is being retried already`);
        }
      }
    });
    await this.announceCompleted(batchChange, execution.id, planned);
    await this.settle([execution.id]);
    return { execution: (await store.getExecution(execution.id))!, retried: planned.length };
  }

  /** Before a batch change's workspaces are replaced: its jobs that may still run are canceled. */
  async cancelLiveJobs(batchChangeId: number): Promise<void> {
    for (const { jobId } of await this.deps.store.liveJobs(batchChangeId)) await this.deps.jobs.cancel(BATCHES_QUEUE, jobId);
  }

  /** Moves workspace executions along with their jobs, then the state of every execution touched (and `executionIds`). */
  async settle(executionIds: readonly number[] = []): Promise<void> {
    const touched = await this.deps.store.settleFromJobs();
    await this.settleExecutions([...touched, ...executionIds]);
  }

  /**
   * The state of each of `executionIds` from its workspaces' states, without looking at jobs: after a
   * result, which sets its workspace's state itself (the jobs' states are the periodic pass's and a mark's;
   * scanning every live workspace's job per result made each result cost more the more workspaces ran).
   */
  private async settleExecutions(executionIds: readonly number[]): Promise<void> {
    const { store } = this.deps;
    for (const id of new Set(executionIds)) {
      const execution = await store.getExecution(id);
      if (!execution) continue;
      const state = computeExecutionState(await store.workspaceStateCounts(id));
      if (state !== execution.state) await store.setExecutionState(id, state);
    }
  }

  /** The periodic pass: every live execution. */
  async settleAll(): Promise<void> {
    await this.settle(await this.deps.store.liveExecutionIds());
  }

  /**
   * A `batches` job just finished (a mark call): settle at once rather than at the next periodic pass.
   * Not awaited by the caller; calls while one is pending are folded into it.
   */
  settleSoon(): void {
    if (this.closed || this.pendingSettle) return;
    this.pendingSettle = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.settleAll())
      .catch((err: unknown) => this.deps.logger.error('settling batch executions failed', { err }))
      .finally(() => (this.pendingSettle = undefined));
  }

  /** No more settling; waits for one in progress. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pendingSettle;
  }

  /**
   * A result uploaded by job `jobId` (its token checked by the route): refused (404) for a job that is not
   * a workspace's, (409) when the workspace no longer waits for it, (422) with git's message when the diff
   * does not apply to the base commit — the workspace then fails with that message. Otherwise stored (the
   * values of its secrets taken out of the steps' output and the outputs), put in the user's step cache,
   * and handed to the changeset side.
   */
  async acceptResult(jobId: number, result: BatchExecutionResult): Promise<ResultOutcome> {
    const { store, logger } = this.deps;
    const context = await store.contextForJob(jobId);
    if (!context) return { ok: false, status: 404, message: `job ${jobId} runs no batch change workspace` };
    const { execution, workspace } = context;
    if (!LIVE_EXECUTION_STATES.includes(execution.state)) return { ok: false, status: 409, message: `the workspace of job ${jobId} is ${execution.state}: it takes no result` };
    const problem = await diffApplyProblem(repositoryDirFor(this.deps.repositoriesDir, workspace.repositoryName), workspace.commit, result.diff);
    if (problem) {
      const message = `the diff does not apply to ${workspace.repositoryName}@${workspace.commit}: ${problem}`;
      await store.failWorkspaceExecution(execution.id, message);
      await this.settleExecutions([execution.executionId]);
      logger.warn('refused a batch workspace result whose diff does not apply', { jobId, repository: workspace.repositoryName, problem });
      return { ok: false, status: 422, message };
    }
    result = await this.withoutSecrets(jobId, result);
    if (!(await store.completeWorkspaceExecution(execution.id, result))) return { ok: false, status: 409, message: `the workspace of job ${jobId} takes no result any more` };
    if (context.userId !== null) await store.putCachedResult(context.userId, execution.cacheKey, result);
    await this.workspaceCompleted(context.batchChangeId, execution.executionId, workspace, result, false);
    await this.settleExecutions([execution.executionId]);
    return { ok: true };
  }

  /** The result with the values of the job's executor secrets taken out of its output (read as the job's, access-logged). */
  private async withoutSecrets(jobId: number, result: BatchExecutionResult): Promise<BatchExecutionResult> {
    const refs = (await this.deps.jobs.find(BATCHES_QUEUE, jobId))?.secretRefs;
    const keys = [...new Set(refs?.steps.flat() ?? [])];
    if (!refs || keys.length === 0) return result;
    const ns: SecretNamespace = refs.orgId !== null ? { kind: 'org', orgId: refs.orgId } : { kind: 'user', userId: refs.userId };
    const { values } = await this.deps.secrets.readValues(ns, refs.scope, keys, { userId: refs.userId }, jobId);
    return redactResult(result, values);
  }

  /**
   * The `batches` queue's dequeue-time step: the last helper step, which uploads, gets the job's
   * credentials (and they are redacted from its log). A job queued by hand through the admin API is left
   * as it was asked.
   */
  readonly transformer: JobTransformer = async (job: Job, context) => {
    const found = await this.deps.store.contextForJob(job.id);
    if (!found) return job;
    const env = uploadStepEnv({ jobId: job.id, token: job.token, executorName: context.executorName, frontendUrl: this.deps.frontendUrl(), srcProxy: this.deps.srcProxy });
    return {
      ...job,
      dockerSteps: job.dockerSteps.map((step, i) => (i === job.dockerSteps.length - 1 ? { ...step, env: [...(step.env ?? []), ...env] } : step)),
      // 🚨 The token is in the last step's env (and so in its logged command): never in a log.
      redactedValues: { ...job.redactedValues, [`Bearer ${job.token}`]: 'Bearer REDACTED', [job.token]: 'PASSWORD_REMOVED' },
    };
  };
}
