// The executor API under /.executors/ (reference §2.3–§2.4): auth test, dequeue, heartbeat, log entries
// and the mark calls, single- and multi-queue.
import { z } from 'zod';
import {
  AddExecutionLogEntryRequestSchema,
  DequeueRequestSchema,
  HeartbeatRequestSchema,
  JobOperationRequestSchema,
  MarkErroredRequestSchema,
  MultiQueueHeartbeatRequestSchema,
  UpdateExecutionLogEntryRequestSchema,
  type HeartbeatResponse,
} from '../../protocol/requests.js';
import { labelExecutorMetrics } from '../metrics/executor-metrics.js';
import type { ExecutorHeartbeat } from '../store/executor-store.js';
import type { JobState } from '../queues/job-state.js';
import type { JobClaim } from '../store/job-store.js';
import { HttpError, handlerError } from './http-error.js';
import { readJson } from './request-body.js';
import type { Reply, RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

export function addExecutorRoutes(router: Router, s: HttpServices): void {
  const queueNames = new Set(s.config.queues.map((q) => q.name));
  const knownQueue = (queue: string) => {
    if (!queueNames.has(queue)) throw new HttpError(404, { error: `unknown queue ${JSON.stringify(queue)}; this coordinator serves: ${[...queueNames].join(', ')}` });
    return queue;
  };
  const json = <S extends z.ZodType>(ctx: RequestContext, schema: S) => readJson(ctx.req, schema, s.config.maxBodyBytes);

  router.add('GET', '/.executors/test/auth', 'test.auth', (ctx) => {
    s.executorAuth.requireExecutorToken(ctx.req);
    return { status: 200, body: 'ok' };
  });

  // --- dequeue -------------------------------------------------------------------------------------
  const dequeue = async (ctx: RequestContext, queues: string[] | undefined) => {
    s.executorAuth.requireExecutorToken(ctx.req);
    const body = await json(ctx, DequeueRequestSchema);
    const multiQueue = queues === undefined;
    const names = multiQueue ? (body.queues ?? []) : queues;
    names.forEach(knownQueue);
    if (names.length === 0) return { status: 204 };
    const started = performance.now();
    const waitMs = Math.min(body.waitMs ?? 0, s.config.maxDequeueWaitMs);
    const job = await s.dequeuer.dequeue({
      queues: names,
      multiQueue,
      executorName: body.executorName,
      executorVersion: body.version,
      resources: { numCPUs: body.numCPUs, memory: body.memory, diskSpace: body.diskSpace },
      waitMs,
      // Only a waiting dequeue needs to hear of a disconnect or a shutdown.
      signal: waitMs > 0 ? AbortSignal.any([ctx.signal, s.shutdownSignal]) : s.shutdownSignal,
    });
    s.metrics.dequeueDurationSeconds.observe({ outcome: job ? 'job' : 'empty' }, (performance.now() - started) / 1000);
    if (!job) return { status: 204 };
    // A client that went away (an executor stopping while its long poll waited) never learns of the
    // job: hand it back at once instead of leaving it to the stalled-job resetter 25 s later.
    const release = () => {
      s.logger.info('dequeue client went away before the answer; job released', { jobId: job.id, executor: body.executorName });
      void s.jobs.release(job.id, job.queue ?? names[0]!, body.executorName).catch((err: unknown) => s.logger.warn('releasing a job failed', { jobId: job.id, err }));
    };
    if (ctx.res.closed || !ctx.res.socket || ctx.res.socket.destroyed) {
      release();
      return undefined;
    }
    ctx.res.once('close', () => ctx.res.writableFinished || release());
    return { status: 200, body: job };
  };
  router.add('POST', '/.executors/queue/dequeue', 'queue.dequeue.multi', (ctx) => dequeue(ctx, undefined));
  router.add('POST', '/.executors/queue/:queue/dequeue', 'queue.dequeue', (ctx) => dequeue(ctx, [knownQueue(ctx.params.queue!)]));

  // --- heartbeat -----------------------------------------------------------------------------------
  /**
   * The heartbeat's dump as it is stored: labelled and filtered (executor-metrics.ts), or '' when it is over
   * COORDINATOR_MAX_EXECUTOR_METRICS_SIZE (stale metrics are worse than none), or null to keep the last
   * good one (an empty or malformed dump). A drop is logged once until the executor's dumps fit again.
   */
  const labelMetrics = (dump: string, executorName: string): string | null => {
    if (!dump) return null;
    const { forwarded, forwardingRules, maxExecutorMetricsBytes } = s.metrics;
    let labelled: string;
    try {
      labelled = labelExecutorMetrics(dump, executorName, forwardingRules);
    } catch (err) {
      // A malformed dump never fails the heartbeat: keep the last good one.
      forwarded.noteDropped(executorName, 'dump', 'its prometheusMetrics do not parse; the last good ones are kept', { err });
      return null;
    }
    const bytes = Buffer.byteLength(labelled);
    if (bytes > maxExecutorMetricsBytes) {
      forwarded.noteDropped(executorName, 'dump', `its metrics are over COORDINATOR_MAX_EXECUTOR_METRICS_SIZE (${maxExecutorMetricsBytes} bytes) once labelled`, { bytes, sentBytes: Buffer.byteLength(dump) });
      return '';
    }
    forwarded.noteDropped(executorName, 'dump', undefined);
    return labelled;
  };
  /** Stores the heartbeat's executor row and hands a new dump to this replica's /metrics cache. */
  const upsertExecutor = async (heartbeat: ExecutorHeartbeat) => {
    const version = await s.executors.upsert(heartbeat);
    if (heartbeat.prometheusMetrics !== null) s.metrics.forwarded.remember(heartbeat.hostname, version, heartbeat.prometheusMetrics);
  };
  const telemetry = (b: z.infer<typeof HeartbeatRequestSchema> | z.infer<typeof MultiQueueHeartbeatRequestSchema>) => ({
    os: b.os,
    architecture: b.architecture,
    dockerVersion: b.dockerVersion,
    executorVersion: b.executorVersion,
    gitVersion: b.gitVersion,
    igniteVersion: b.igniteVersion,
    srcCliVersion: b.srcCliVersion,
  });

  router.add('POST', '/.executors/queue/:queue/heartbeat', 'queue.heartbeat', async (ctx) => {
    s.executorAuth.requireExecutorToken(ctx.req);
    const queue = knownQueue(ctx.params.queue!);
    const body = await json(ctx, HeartbeatRequestSchema);
    const heartbeat: ExecutorHeartbeat = {
      hostname: body.executorName,
      queueName: queue,
      queueNames: null,
      ...telemetry(body),
      prometheusMetrics: labelMetrics(body.prometheusMetrics, body.executorName),
    };
    await upsertExecutor(heartbeat);
    const held = await s.jobs.heartbeat(body.executorName, body.jobIds.map((id) => ({ id, queue })));
    // V2 executors get string IDs; older ones the ints they sent (reference §2.4).
    const asId = (id: number) => (body.version === 'V2' ? String(id) : id);
    const response: HeartbeatResponse = { knownIds: held.map((j) => asId(j.id)), cancelIds: held.filter((j) => j.cancel).map((j) => asId(j.id)) };
    return { status: 200, body: response };
  });

  router.add('POST', '/.executors/queue/heartbeat', 'queue.heartbeat.multi', async (ctx) => {
    s.executorAuth.requireExecutorToken(ctx.req);
    const body = await json(ctx, MultiQueueHeartbeatRequestSchema);
    body.queueNames.forEach(knownQueue);
    for (const entry of body.jobIdsByQueue) {
      if (!body.queueNames.includes(entry.queueName)) {
        throw new HttpError(400, `invalid request body: jobIdsByQueue: queue ${JSON.stringify(entry.queueName)} is not in queueNames`);
      }
    }
    await upsertExecutor({
      hostname: body.executorName,
      queueName: null,
      queueNames: body.queueNames,
      ...telemetry(body),
      prometheusMetrics: labelMetrics(body.prometheusMetrics, body.executorName),
    });
    const held = await s.jobs.heartbeat(
      body.executorName,
      body.jobIdsByQueue.flatMap((e) => e.jobIds.map((id) => ({ id, queue: e.queueName }))),
    );
    const response: HeartbeatResponse = {
      knownIds: held.map((j) => `${j.id}-${j.queue}`),
      cancelIds: held.filter((j) => j.cancel).map((j) => `${j.id}-${j.queue}`),
    };
    return { status: 200, body: response };
  });

  // --- job routes (per-job token) -------------------------------------------------------------------
  /**
   * Checks the headers and the body, then runs `act` with a claim that carries the token, so the token
   * is verified by the same statement that acts: one round trip. When `act` matched nothing, the token
   * is looked up to answer what the original answers (401/403) before `notHeld` is answered.
   */
  const jobRoute = async <S extends z.ZodType<{ jobId: number; executorName: string }>, R>(
    ctx: RequestContext,
    schema: S,
    act: (body: z.infer<S>, claim: JobClaim) => Promise<R | null | false>,
    reply: (result: R) => Reply,
    notHeld: (claim: JobClaim) => HttpError,
  ): Promise<Reply> => {
    const queue = knownQueue(ctx.params.queue!);
    const credentials = s.executorAuth.jobCredentials(ctx.req);
    const body = await json(ctx, schema);
    if (body.jobId !== credentials.jobId) throw new HttpError(403, `invalid token: it was issued for job ${credentials.jobId}, not job ${body.jobId}`);
    if (body.executorName !== credentials.executorName) throw new HttpError(403, 'executorName in the body does not match X-Sourcegraph-Executor-Name');
    const claim: JobClaim = { jobId: body.jobId, queue, executorName: body.executorName, tokenSha256: credentials.tokenSha256 };
    const result = await act(body, claim);
    if (result !== null && result !== false) return reply(result);
    if (credentials.kind === 'job') await s.executorAuth.checkToken(credentials, { queue });
    throw notHeld(claim);
  };

  router.add('POST', '/.executors/queue/:queue/addExecutionLogEntry', 'queue.addExecutionLogEntry', (ctx) =>
    jobRoute(
      ctx,
      AddExecutionLogEntryRequestSchema,
      (body, claim) => s.jobs.addLogEntry(claim, body),
      (entryId) => ({ status: 200, body: entryId }),
      (claim) => handlerError(`failed to add log entry: unknown job ${claim.jobId}`),
    ),
  );

  router.add('POST', '/.executors/queue/:queue/updateExecutionLogEntry', 'queue.updateExecutionLogEntry', (ctx) =>
    jobRoute(
      ctx,
      UpdateExecutionLogEntryRequestSchema,
      (body, claim) => s.jobs.updateLogEntry(claim, body.entryId, body),
      () => ({ status: 204 }),
      (claim) => handlerError(`failed to update log entry: unknown job ${claim.jobId} or entry`),
    ),
  );

  // Mark calls answer 404 with no body when the job is unknown, not processing, or another executor's.
  const notHeld = () => new HttpError(404);
  const done = () => ({ status: 204 });
  /** The state the job ended in, counted for the Jobs page's charts (in memory: no extra write here). */
  const counted = (queue: string) => (state: JobState | null) => {
    if (state) s.historyRecorder.jobFinished(queue, state);
    // A batch workspace follows its job: failed or canceled now rather than at the next settling pass
    // (a completed one was settled when its result arrived).
    if (state && state !== 'completed' && queue === 'batches') s.batches.execution.settleSoon();
    return state;
  };
  router.add('POST', '/.executors/queue/:queue/markComplete', 'queue.markComplete', (ctx) =>
    jobRoute(ctx, JobOperationRequestSchema, (_body, claim) => s.jobs.markComplete(claim).then(counted(claim.queue)), done, notHeld),
  );
  router.add('POST', '/.executors/queue/:queue/markErrored', 'queue.markErrored', (ctx) =>
    jobRoute(ctx, MarkErroredRequestSchema, (body, claim) => s.jobs.markErrored(claim, body.errorMessage, s.config.maxNumRetries).then(counted(claim.queue)), done, notHeld),
  );
  router.add('POST', '/.executors/queue/:queue/markFailed', 'queue.markFailed', (ctx) =>
    jobRoute(ctx, MarkErroredRequestSchema, (body, claim) => s.jobs.markFailed(claim, body.errorMessage).then(counted(claim.queue)), done, notHeld),
  );
}
