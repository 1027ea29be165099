// Dequeue for the executor API: one queue or several (weighted fair choice, reference §7.3), answering
// at once or — the long-poll extension — waiting up to `waitMs` for a job to be enqueued.
import type { Job } from '../../protocol/job.js';
import { payloadVersionFor } from '../../protocol/payload-version.js';
import type { JobStore } from '../store/job-store.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { applyJobSecrets } from '../secrets/job-secrets.js';
import type { SecretStore } from '../store/secret-store.js';
import { toWireJob } from './job-payload.js';
import { newJobToken } from './job-token.js';
import type { JobWaker } from './job-waker.js';
import type { JobAccess } from './job-access.js';
import type { MultiQueueSelector } from './multi-queue-selector.js';

export interface DequeueOptions {
  /** One queue (single-queue route) or several (multi-queue route). */
  queues: readonly string[];
  multiQueue: boolean;
  executorName: string;
  executorVersion: string | undefined;
  /** 0 answers at once, as the original. */
  waitMs: number;
  /** Aborted when the client disconnects or the coordinator stops. */
  signal: AbortSignal;
  /** What the executor reported of its job resources (reference §2.4), for queues whose jobs use them. */
  resources?: { numCPUs?: number; memory?: string; diskSpace?: string };
}

/**
 * A queue's dequeue-time transformation of its jobs (the original's per-queue transformer, §3.4): it
 * completes a job with what only the dequeue knows (the job's token, the executor). A throw fails the
 * job with `failed to transform record: <message>`, as the original does.
 */
export type JobTransformer = (job: Job, context: { executorName: string; resources: NonNullable<DequeueOptions['resources']> }) => Promise<Job>;

export class Dequeuer {
  constructor(
    private readonly jobs: JobStore,
    private readonly waker: JobWaker,
    private readonly selector: MultiQueueSelector,
    /** Resolves jobs' executor secrets into their payloads; without it, such jobs fail at dequeue. */
    private readonly secrets?: SecretStore,
    private readonly logger?: Logger,
    /** Re-checks that a job's creator may still use its repository, files and secrets; without it, nothing is re-checked. */
    private readonly access?: JobAccess,
    /** Per queue name. */
    private readonly transformers: ReadonlyMap<string, JobTransformer> = new Map(),
  ) {}

  /** Resolves to the dequeued job, or null when there was none (within the wait). */
  async dequeue(options: DequeueOptions): Promise<Job | null> {
    const deadlineMs = Date.now() + options.waitMs;
    let woken = false;
    for (;;) {
      const since = this.waker.generation(options.queues);
      if (options.signal.aborted) return null;
      const job = await this.tryOnce(options);
      if (job) {
        if (woken) this.waker.passOn(options.queues);
        return job;
      }
      if (Date.now() >= deadlineMs) return null;
      await this.waker.wait(options.queues, since, deadlineMs, options.signal);
      woken = true;
    }
  }

  private async tryOnce(options: DequeueOptions): Promise<Job | null> {
    let queue: string | undefined;
    if (options.multiQueue) {
      queue = this.selector.choose(await this.jobs.queuesWithQueuedJobs(options.queues));
      if (!queue) return null;
    } else {
      queue = options.queues[0]!;
    }
    // A job whose creator may no longer use what it names, or whose secrets cannot be resolved, fails
    // here, and the next one is tried at once.
    for (;;) {
      const token = newJobToken();
      const row = await this.jobs.dequeue(queue, options.executorName, token.sha256);
      if (!row) return null;
      if (options.multiQueue) this.selector.record(queue);
      const fail = async (message: string, why: string) => {
        this.logger?.warn(why, { jobId: row.id, queue: row.queue, err: message });
        await this.jobs.markFailed({ jobId: row.id, queue: row.queue, executorName: options.executorName, tokenSha256: null }, message);
      };
      const denied = await this.access?.dequeueProblem(row);
      if (denied) {
        await fail(denied, 'a job\'s creator may no longer use what it names; the job fails');
        continue;
      }
      const job = toWireJob(row, token.value, payloadVersionFor(options.executorVersion), { includeQueue: options.multiQueue });
      try {
        if (row.secretRefs) {
          if (!this.secrets) throw new AppError('secrets.unavailable', 'this coordinator cannot read executor secrets');
          await applyJobSecrets(this.secrets, job, row.secretRefs);
        }
        const transform = this.transformers.get(row.queue);
        if (!transform) return job;
        try {
          return await transform(job, { executorName: options.executorName, resources: options.resources ?? {} });
        } catch (err) {
          throw new AppError('queues.transform_failed', `failed to transform record: ${(err as Error).message}`, { cause: err });
        }
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        await fail(err.message, 'a job cannot be completed for its executor (secrets, transformer); the job fails');
      }
    }
  }
}
