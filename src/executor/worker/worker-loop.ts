// The executor's worker loop (reference §4.1 steps 4 and 6, §4.2, §4.12): ping until the coordinator
// answers, then dequeue into up to EXECUTOR_MAXIMUM_NUM_JOBS slots, heartbeat, and mark each job by outcome.
import { Backoff, sleep } from '../../shared/backoff.js';
import type { Logger } from '../../shared/logger.js';
import { CoordinatorFatalError, CoordinatorRetryableError } from '../client/client-errors.js';
import type { CoordinatorClient, DequeuedJob, JobRef } from '../client/coordinator-client.js';
import type { ExecutorConfig } from '../config.js';
import { ExecutorMetrics, type FinishedJobOutcome } from './executor-metrics.js';
import { HeartbeatLoop } from './heartbeat-loop.js';
import type { JobAbortReason, JobHandler, JobOutcome } from './job-handler.js';
import { gatherTelemetry, type StaticTelemetry } from './telemetry.js';

/** Below the coordinator's default COORDINATOR_MAX_DEQUEUE_WAIT (30 s), so it answers before it caps the wait. */
export const DEFAULT_DEQUEUE_WAIT_MS = 25_000;
/** Between start-up pings (reference §2.4): the first retry; later ones back off to PING_MAX_INTERVAL_MS. */
export const DEFAULT_PING_INTERVAL_MS = 1000;
/**
 * The longest wait between start-up pings, in ms. The original pings every second forever and says
 * nothing for the first minute; here the first failure is reported at once (the logger folds the
 * repeats) and the pings slow down, so a coordinator that comes back is found within 15 s.
 */
const PING_MAX_INTERVAL_MS = 15_000;

/** The settings the loop reads from ExecutorConfig. */
export type WorkerLoopConfig = Pick<
  ExecutorConfig,
  'maximumNumJobs' | 'queuePollIntervalMs' | 'maximumRuntimePerJobMs' | 'numTotalJobs' | 'maxActiveTimeMs' | 'runtime'
>;

/** The client calls the loop makes. */
export type WorkerCoordinator = Pick<
  CoordinatorClient,
  'ping' | 'heartbeat' | 'dequeue' | 'markComplete' | 'markErrored' | 'markFailed' | 'supportsLongPoll'
>;

export interface WorkerLoopOptions {
  config: WorkerLoopConfig;
  client: WorkerCoordinator;
  handler: JobHandler;
  logger: Logger;
  /** Heartbeat interval in ms. Default 5000 (hard-coded in the original). */
  heartbeatIntervalMs?: number;
  /** `waitMs` of each dequeue while the coordinator long-polls, in ms. Default 25 000. */
  dequeueWaitMs?: number;
  /** Between start-up pings, in ms. Default 1000. */
  pingIntervalMs?: number;
  /** Static telemetry; default gathered once at `run()` (git and docker versions, 5 s limit each). */
  telemetry?: StaticTelemetry;
  /** Default a new ExecutorMetrics. */
  metrics?: ExecutorMetrics;
  /** The coordinator's URL, named in the connection lines of the log. */
  coordinatorUrl?: string;
}

/** One job in a slot: its abort controller and what the heartbeat learned about it. */
interface RunningJob {
  job: DequeuedJob;
  /** When it was taken (performance.now()), for the duration in the log. */
  startedMs: number;
  controller: AbortController;
  /** Missing from a heartbeat's knownIds: not ours any more, so never marked. */
  lost: boolean;
  /** The handler has returned; the heartbeat no longer cancels or drops it (its mark may be in flight). */
  handled: boolean;
}

/** Why dequeuing stopped, for the log. */
type DrainReason = 'stop requested' | 'EXECUTOR_NUM_TOTAL_JOBS reached' | 'EXECUTOR_MAX_ACTIVE_TIME passed' | 'the coordinator cannot be used';

const jobKey = (job: JobRef) => `${job.queue}\u0000${job.id}`;

/**
 * Runs jobs from the coordinator until it is stopped. `run()` resolves once dequeuing has stopped
 * (stop(), EXECUTOR_NUM_TOTAL_JOBS, EXECUTOR_MAX_ACTIVE_TIME) and every running job has been marked;
 * it rejects with CoordinatorFatalError when the coordinator refuses the password or its TLS certificate.
 */
export class WorkerLoop {
  /** The executor's metrics, sent with every heartbeat. */
  readonly metrics: ExecutorMetrics;
  private readonly options: WorkerLoopOptions;
  private readonly logger: Logger;
  private readonly running = new Map<string, RunningJob>();
  /** Aborted when dequeuing stops: ends a waiting dequeue, a ping, a poll sleep. */
  private readonly drainController = new AbortController();
  /** The worker's root signal: mark calls and heartbeats use it, never a job's (reference §4.12). */
  private readonly rootController = new AbortController();
  private wakeWaiters: Array<() => void> = [];
  private runPromise: Promise<void> | undefined;
  private fatalError: CoordinatorFatalError | undefined;
  private dequeuedCount = 0;
  /** The coordinator answered a ping (readiness, health-server.ts). */
  private answered = false;
  private staticTelemetry: StaticTelemetry | undefined;

  constructor(options: WorkerLoopOptions) {
    this.options = options;
    this.logger = options.logger;
    this.metrics = options.metrics ?? new ExecutorMetrics();
  }

  /** Jobs running now. */
  get runningJobCount(): number {
    return this.running.size;
  }

  /** Whether dequeuing has stopped (running jobs may still be finishing). */
  get draining(): boolean {
    return this.drainController.signal.aborted;
  }

  /** Whether the coordinator has answered and no fatal error stopped the loop: the health server's /ready. */
  get ready(): boolean {
    return this.answered && !this.fatalError;
  }

  /** Starts the loop; resolves when it has drained (see the class). Calling it again returns the same promise. */
  run(): Promise<void> {
    this.runPromise ??= this.runLoop();
    return this.runPromise;
  }

  /**
   * The first signal: stop dequeuing and let the running jobs finish. Resolves when `run()` has ended,
   * whichever way. Idempotent.
   */
  async stop(): Promise<void> {
    this.drain('stop requested');
    await this.runPromise?.catch(() => {});
  }

  /** The second signal (or a fatal error): stop dequeuing and abort every running job with `reason`. */
  abortRunningJobs(reason: JobAbortReason = 'shutdown'): void {
    this.drain('stop requested');
    const entries = [...this.running.values()].filter((e) => !e.controller.signal.aborted);
    if (entries.length > 0) this.logger.info(`canceling ${entries.length} running job${entries.length === 1 ? '' : 's'}; their logs are flushed`, { reason, jobIds: entries.map((e) => e.job.id).join(',') });
    for (const entry of entries) entry.controller.abort(reason);
  }

  private drain(reason: DrainReason): void {
    if (this.draining) return;
    const n = this.running.size;
    this.logger.info(`draining: no new jobs; ${n === 0 ? 'no job is running' : `waiting for ${n} running job${n === 1 ? '' : 's'} to finish`}`, { reason, runningJobs: n });
    this.drainController.abort(new Error(`no longer dequeuing: ${reason}`));
    this.wake();
  }

  private wake(): void {
    const waiters = this.wakeWaiters;
    this.wakeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves at the next job end or drain. */
  private changed(): Promise<void> {
    return new Promise((resolve) => this.wakeWaiters.push(resolve));
  }

  private fail(err: CoordinatorFatalError): void {
    if (this.fatalError) return;
    this.fatalError = err;
    this.logger.error('stopping: the coordinator cannot be used until this is fixed', { err: err.message, code: err.code });
    this.drain('the coordinator cannot be used');
    this.abortRunningJobs('shutdown');
  }

  private async runLoop(): Promise<void> {
    const { config } = this.options;
    const heartbeat = new HeartbeatLoop({
      client: this.options.client,
      intervalMs: this.options.heartbeatIntervalMs,
      runningJobs: () => [...this.running.values()].filter((e) => !e.lost).map((e) => ({ id: e.job.id, queue: e.job.queue })),
      telemetry: async () => ({ ...this.staticTelemetry, prometheusMetrics: await this.metrics.metricsText() }),
      onCancel: (job) => this.cancelJob(job),
      onLost: (job) => this.loseJob(job),
      onFatal: (err) => this.fail(err),
      logger: this.logger,
      coordinatorUrl: this.options.coordinatorUrl,
    });
    let activeTimer: NodeJS.Timeout | undefined;
    let unexpected: unknown;
    try {
      this.staticTelemetry = this.options.telemetry ?? (await gatherTelemetry({ skipDocker: config.runtime === 'kubernetes' }));
      if (await this.pingUntilAnswered()) {
        heartbeat.start();
        if (config.maxActiveTimeMs > 0) activeTimer = setTimeout(() => this.drain('EXECUTOR_MAX_ACTIVE_TIME passed'), config.maxActiveTimeMs);
        await this.dequeueLoop();
      }
    } catch (err) {
      if (err instanceof CoordinatorFatalError) {
        this.fail(err);
      } else {
        // A bug: do not leave jobs running unmarked behind a dead loop.
        unexpected = err;
        this.abortRunningJobs('shutdown');
      }
    }
    // Heartbeats go on while the running jobs finish, so the coordinator keeps them ours.
    while (this.running.size > 0) await this.changed();
    clearTimeout(activeTimer);
    await heartbeat.stop();
    this.rootController.abort(new Error('worker loop ended'));
    if (unexpected !== undefined) throw unexpected;
    if (this.fatalError) throw this.fatalError;
    this.logger.info('worker stopped: no jobs running', { jobsDequeued: this.dequeuedCount });
  }

  /**
   * Pings (a heartbeat with no jobs, which registers this executor) until the coordinator answers: the
   * first failure is a warning at once, the repeats are folded by the logger, and the pings back off
   * from `pingIntervalMs` to 15 s. False when stopped first. Throws CoordinatorFatalError.
   */
  private async pingUntilAnswered(): Promise<boolean> {
    const signal = this.drainController.signal;
    const intervalMs = this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    const backoff = new Backoff({ initialMs: intervalMs, maxMs: Math.max(intervalMs, PING_MAX_INTERVAL_MS) });
    const url = this.options.coordinatorUrl;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.client.ping(signal, this.staticTelemetry);
        this.answered = true;
        this.logger.info('connected to the coordinator', { url, attempts: attempt });
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        if (err instanceof CoordinatorFatalError) throw err;
        // Fields that stay the same from one attempt to the next, so the logger can fold the repeats.
        this.logger.warn(isConnectionRefused(err) ? 'cannot reach the coordinator (nothing listens there yet?); retrying with backoff' : 'the coordinator did not answer; retrying with backoff', {
          url,
          err: err instanceof Error ? err.message : String(err),
        });
      }
      // Full jitter, but never faster than the interval: a fleet restarting together spreads out.
      const delayMs = Math.max(intervalMs, backoff.nextDelayMs(attempt));
      if (!(await sleep(delayMs, signal))) return false;
    }
  }

  private async dequeueLoop(): Promise<void> {
    const { config, client } = this.options;
    const signal = this.drainController.signal;
    const errorBackoff = new Backoff({ initialMs: Math.max(config.queuePollIntervalMs, 500), maxMs: 30_000 });
    let consecutiveErrors = 0;
    while (!this.draining) {
      while (this.running.size >= config.maximumNumJobs && !this.draining) await this.changed();
      if (this.draining) return;
      const waitMs = client.supportsLongPoll ? (this.options.dequeueWaitMs ?? DEFAULT_DEQUEUE_WAIT_MS) : 0;
      let job: DequeuedJob | null;
      try {
        // Aborting a waiting dequeue can, rarely, lose a job the coordinator claimed at that instant; the
        // coordinator's resetter requeues it once no heartbeat names it.
        job = await client.dequeue({ waitMs }, signal);
      } catch (err) {
        if (this.draining) return;
        if (err instanceof CoordinatorFatalError) throw err;
        const delayMs = errorBackoff.nextDelayMs(consecutiveErrors++);
        // No attempt number or delay in the fields: identical lines fold (the logger counts them).
        this.logger.warn('dequeue failed; retrying with backoff', { err: err instanceof Error ? err.message : String(err) });
        await sleep(Math.max(delayMs, config.queuePollIntervalMs), signal);
        continue;
      }
      if (consecutiveErrors > 0) this.logger.info('dequeuing again: the coordinator answers', { failedDequeues: consecutiveErrors });
      consecutiveErrors = 0;
      if (job === null) {
        // A long poll that came back empty has already waited; otherwise wait the poll interval.
        if (waitMs === 0 || !client.supportsLongPoll) await sleep(config.queuePollIntervalMs, signal);
        continue;
      }
      this.startJob(job);
      this.dequeuedCount++;
      if (config.numTotalJobs > 0 && this.dequeuedCount >= config.numTotalJobs) this.drain('EXECUTOR_NUM_TOTAL_JOBS reached');
      // After a dequeue the loop asks again at once (reference §4.2).
    }
  }

  private startJob(job: DequeuedJob): void {
    const key = jobKey(job);
    if (this.running.has(key)) {
      // The original's ErrJobAlreadyExists: a coordinator bug; the copy already running owns the job.
      this.logger.error('the coordinator handed out a job that is already running here; ignoring the duplicate', { jobId: job.id, queue: job.queue });
      return;
    }
    const entry: RunningJob = { job, startedMs: performance.now(), controller: new AbortController(), lost: false, handled: false };
    this.running.set(key, entry);
    this.metrics.jobStarted(job.queue);
    this.logger.info('job taken', {
      jobId: job.id,
      queue: job.queue,
      repository: job.repositoryName || undefined,
      commit: job.commit ? job.commit.slice(0, 12) : undefined,
      steps: job.dockerSteps.length,
      slots: `${this.running.size}/${this.options.config.maximumNumJobs}`,
    });
    void this.runJob(entry).finally(() => {
      this.running.delete(key);
      this.wake();
    });
  }

  private async runJob(entry: RunningJob): Promise<void> {
    const { job, controller } = entry;
    const log = this.logger.with({ jobId: job.id, queue: job.queue, repository: job.repositoryName || undefined });
    const maxMs = this.options.config.maximumRuntimePerJobMs;
    const timer = setTimeout(() => {
      log.warn('job exceeded its maximum runtime; aborting it', { maximumRuntimePerJobMs: maxMs });
      controller.abort('timeout' satisfies JobAbortReason);
    }, maxMs);
    let outcome: JobOutcome;
    try {
      outcome = await this.options.handler.handle(job, controller.signal);
    } catch (err) {
      // The handler reports a job's failure as an outcome; a throw is a bug in it, still worth a retry.
      log.error('the job handler threw', { err });
      outcome = { state: 'errored', message: `the job handler failed: ${err instanceof Error ? err.message : String(err)}` };
    } finally {
      clearTimeout(timer);
      entry.handled = true;
    }
    outcome = this.finalOutcome(outcome, controller.signal);
    let finished: FinishedJobOutcome = outcome.state;
    if (entry.lost) {
      finished = 'lost';
      log.warn('not marking the job: the coordinator no longer gives it to this executor', { outcome: outcome.state });
    } else {
      await this.mark(job, outcome, log);
    }
    this.metrics.jobFinished(job.queue, finished);
    const line = { outcome: finished, duration: `${((performance.now() - entry.startedMs) / 1000).toFixed(1)}s`, ...('message' in outcome ? { message: outcome.message } : {}) };
    if (finished === 'completed') log.info('job finished', line);
    else log.warn('job finished', line);
  }

  /**
   * Reference §4.12: a job canceled through cancelIds is marked failed (the coordinator then stores
   * `canceled`); a timeout is marked errored, whatever the handler returned; the handler's message stays.
   */
  private finalOutcome(outcome: JobOutcome, signal: AbortSignal): JobOutcome {
    if (outcome.state === 'completed' || !signal.aborted) return outcome;
    const reason = signal.reason as JobAbortReason;
    if (reason === 'canceled') return { state: 'failed', message: outcome.message };
    if (reason === 'timeout') return { state: 'errored', message: outcome.message };
    return outcome;
  }

  private async mark(job: DequeuedJob, outcome: JobOutcome, log: Logger): Promise<void> {
    const { client } = this.options;
    const signal = this.rootController.signal;
    try {
      const recorded =
        outcome.state === 'completed'
          ? await client.markComplete(job, signal)
          : outcome.state === 'errored'
            ? await client.markErrored(job, outcome.message, signal)
            : await client.markFailed(job, outcome.message, signal);
      if (!recorded) log.warn('the coordinator did not record the outcome: the job is no longer ours', { outcome: outcome.state });
    } catch (err) {
      if (err instanceof CoordinatorFatalError) this.fail(err);
      else if (err instanceof CoordinatorRetryableError) log.error('could not mark the job; the coordinator will reset it once heartbeats stop naming it', { err });
      else log.error('marking the job failed', { err });
    }
  }

  private cancelJob(ref: JobRef): void {
    const entry = this.running.get(jobKey(ref));
    if (!entry || entry.handled || entry.controller.signal.aborted) return;
    this.logger.info('the coordinator canceled the job; aborting it', { jobId: ref.id, queue: ref.queue });
    entry.controller.abort('canceled' satisfies JobAbortReason);
  }

  private loseJob(ref: JobRef): void {
    const entry = this.running.get(jobKey(ref));
    if (!entry || entry.handled || entry.lost) return;
    entry.lost = true;
    this.logger.warn('heartbeat lost a job: the coordinator no longer gives it to this executor; abandoning it', { jobId: ref.id, queue: ref.queue });
    if (!entry.controller.signal.aborted) entry.controller.abort('canceled' satisfies JobAbortReason);
  }
}

/** Whether a ping failed because nothing listens at the coordinator's address yet. */
function isConnectionRefused(err: unknown): boolean {
  if (!(err instanceof CoordinatorRetryableError)) return false;
  const cause = err.cause as { code?: unknown } | undefined;
  return cause?.code === 'ECONNREFUSED';
}
