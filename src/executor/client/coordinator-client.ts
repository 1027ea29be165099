// The executor's client for the coordinator's executor API (reference §2, README "Protocol"): auth
// test, ping and heartbeat, dequeue (with the long-poll extension), log entries, mark calls, files.
import type { z } from 'zod';
import type { ExecutionLogEntry } from '../../protocol/execution-log-entry.js';
import { ACTOR_UID_HEADER, EXECUTOR_NAME_HEADER, EXECUTOR_TOKEN_SCHEME, JOB_ID_HEADER, JOB_TOKEN_SCHEME } from '../../protocol/headers.js';
import type {
  AddExecutionLogEntryRequestSchema,
  DequeueRequestSchema,
  HeartbeatRequestSchema,
  JobOperationRequestSchema,
  MarkErroredRequestSchema,
  MultiQueueHeartbeatRequestSchema,
  Telemetry,
  UpdateExecutionLogEntryRequestSchema,
} from '../../protocol/requests.js';
import type { Backoff } from '../../shared/backoff.js';
import type { Logger } from '../../shared/logger.js';
import {
  CoordinatorJobNotHeldError,
  CoordinatorNotCoordinatorError,
  CoordinatorRequestError,
  CoordinatorRetryableError,
  CoordinatorUnauthorizedError,
  CoordinatorUnknownQueueError,
  type CoordinatorCallInfo,
} from './client-errors.js';
import { HttpTransport, type TransportResponse } from './http-transport.js';
import { decodeJob, parseGoJson, type DequeuedJob } from './job-decoder.js';
import { parseHeartbeatId, type HeartbeatIdForm, type JobRef } from './job-ref.js';
import { defaultRetryBackoff, withRetry } from './with-retry.js';

export type { DequeuedFile, DequeuedJob } from './job-decoder.js';
export type { JobRef } from './job-ref.js';

const MiB = 1024 * 1024;
/** Heartbeat, log entry id, auth test: small bodies; 1 MiB holds ~70 000 heartbeat ids. */
const SMALL_RESPONSE_MAX_BYTES = 1 * MiB;
/** A 204 to a waiting dequeue faster than this share of `waitMs` means the server did not wait. */
const NO_LONG_POLL_FRACTION = 0.1;
/** …this many times in a row. */
const NO_LONG_POLL_STREAK = 2;

export interface CoordinatorClientOptions {
  /** EXECUTOR_FRONTEND_URL: `scheme://host[:port]`, http or https, no path (reference §2.1). */
  baseUrl: string;
  /** EXECUTOR_FRONTEND_PASSWORD: the site setting `executors.accessToken`. */
  password: string;
  /** This executor's name, unique per process (`<hostname>-<uuid>`). */
  executorName: string;
  /** This executor's version; decides the payload version the coordinator sends (reference §2.7). */
  executorVersion: string;
  /** One queue: the single-queue routes; several: the multi-queue routes (EXECUTOR_QUEUE_NAME(S)). */
  queues: readonly string[];
  /** Default `executor/<executorVersion>`. */
  userAgent?: string;
  /** Extra CA certificates (PEM) trusted for an https coordinator, on top of Node's bundled roots. */
  ca?: ReadonlyArray<string | Buffer>;
  /** Where `ca` came from (TrustedCertificates.describe), quoted when TLS with the coordinator fails. */
  trustDescription?: string;
  logger: Logger;
  /** Sent with every dequeue when set (reference §2.4): CPUs, and memory and disk such as `12G`. */
  resources?: { numCPUs?: number; memory?: string; diskSpace?: string };
  /** Longest any call may take, in ms, on top of a dequeue's `waitMs`. Default 60 000. */
  requestTimeoutMs?: number;
  /** Tries of the calls that matter: mark calls, the final log update, file downloads. Default 8. */
  retryMaxAttempts?: number;
  /** Backoff between those tries. Default 500 ms doubling to 10 s, full jitter. */
  retryBackoff?: Backoff;
  /** Largest Job a dequeue accepts, in bytes. Default 64 MiB. */
  maxJobBytes?: number;
  /** Largest file `getFile` accepts, in bytes. Default 256 MiB. */
  maxFileBytes?: number;
}

/** What a heartbeat learns: the jobs the coordinator still gives us, and those to cancel. */
export interface HeartbeatResult {
  /** Jobs still ours. A job sent but missing here is no longer ours: stop working for it. */
  knownIds: JobRef[];
  /** Jobs to cancel (an admin canceled them): abort their work, then mark them. */
  cancelIds: JobRef[];
}

/** The job fields a job route needs: which job, on which queue, with which token. */
export type JobCredentials = Pick<DequeuedJob, 'id' | 'queue' | 'token'>;

type HeartbeatBody = z.input<typeof HeartbeatRequestSchema>;
type MultiQueueHeartbeatBody = z.input<typeof MultiQueueHeartbeatRequestSchema>;
type DequeueBody = z.input<typeof DequeueRequestSchema>;

/** How a job route answered: done, or the job is no longer ours. */
type JobCallOutcome = { held: true; response: TransportResponse } | { held: false; info: CoordinatorCallInfo };

/**
 * A client of one coordinator for one executor. Every method takes an AbortSignal and rejects with
 * `signal.reason` when it aborts. Errors are CoordinatorUnauthorizedError (stop: the password is
 * wrong), CoordinatorRetryableError (back off and retry), CoordinatorRequestError (a bug or version
 * skew), or CoordinatorJobNotHeldError (the job is no longer ours).
 */
export class CoordinatorClient {
  readonly executorName: string;
  /** The extra CA certificates this client trusts; the git proxy trusts the same for its upstream. */
  readonly ca: ReadonlyArray<string | Buffer> | undefined;
  readonly queues: readonly string[];
  private readonly origin: URL;
  private readonly options: CoordinatorClientOptions;
  private readonly transport: HttpTransport;
  private readonly userAgent: string;
  private readonly logger: Logger;
  private readonly multiQueue: boolean;
  private readonly requestTimeoutMs: number;
  private readonly retryMaxAttempts: number;
  private readonly retryBackoff: Backoff;
  private readonly maxJobBytes: number;
  private readonly maxFileBytes: number;
  private longPoll = true;
  private fastEmptyStreak = 0;

  constructor(options: CoordinatorClientOptions) {
    this.origin = parseBaseUrl(options.baseUrl);
    if (options.queues.length === 0) throw new Error('CoordinatorClient: at least one queue is required');
    if (!options.executorName) throw new Error('CoordinatorClient: executorName must not be empty');
    this.options = options;
    this.executorName = options.executorName;
    this.queues = [...options.queues];
    this.multiQueue = options.queues.length > 1;
    this.userAgent = options.userAgent ?? `executor/${options.executorVersion}`;
    this.logger = options.logger;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.retryMaxAttempts = options.retryMaxAttempts ?? 8;
    this.retryBackoff = options.retryBackoff ?? defaultRetryBackoff();
    this.maxJobBytes = options.maxJobBytes ?? 64 * MiB;
    this.maxFileBytes = options.maxFileBytes ?? 256 * MiB;
    this.ca = options.ca;
    this.transport = new HttpTransport({ origin: this.origin, ca: options.ca, trustDescription: options.trustDescription });
  }

  /**
   * False once two waiting dequeues in a row got a 204 in under 10% of their `waitMs`: the server does
   * not long-poll (an old Sourcegraph, or COORDINATOR_MAX_DEQUEUE_WAIT far below `waitMs`). The caller
   * then sleeps EXECUTOR_QUEUE_POLL_INTERVAL between dequeues; it may keep sending `waitMs` (servers
   * that do not long-poll ignore it), and a 204 that did wait turns this true again.
   */
  get supportsLongPoll(): boolean {
    return this.longPoll;
  }

  /** Releases the keep-alive sockets. Calls in flight fail. */
  close(): void {
    this.transport.close();
  }

  // --- executor-token routes -------------------------------------------------------------------------

  /** GET /.executors/test/auth: resolves when the coordinator accepts the password (`executor validate`). */
  async testAuth(signal: AbortSignal): Promise<void> {
    const res = await this.executorCall('GET', '/.executors/test/auth', undefined, signal);
    if (res.status !== 200) throw this.unexpectedStatus('GET /.executors/test/auth', res);
  }

  /**
   * The start-up ping: a heartbeat with no jobs, which registers this executor (job routes accept its
   * tokens only after that, reference §2.2). The original sends only its name; with `telemetry` (OS,
   * versions) the Executors page shows them from the first moment instead of one heartbeat later. Not retried here: the caller retries every second until it
   * succeeds (reference §2.4), e.g. with `withRetry`.
   */
  async ping(signal: AbortSignal, telemetry: Partial<Telemetry> = {}): Promise<void> {
    await this.heartbeat([], telemetry, signal);
  }

  /**
   * Reports the running jobs and this executor's telemetry. Not retried: a failed heartbeat is logged
   * and the next tick (5 s) tries again (reference §4.3).
   */
  async heartbeat(jobs: readonly JobRef[], telemetry: Partial<Telemetry>, signal: AbortSignal): Promise<HeartbeatResult> {
    let path: string;
    let body: HeartbeatBody | MultiQueueHeartbeatBody;
    let form: HeartbeatIdForm;
    if (this.multiQueue) {
      const byQueue = new Map<string, string[]>();
      for (const job of jobs) {
        this.assertOurQueue(job);
        const ids = byQueue.get(job.queue) ?? [];
        ids.push(String(job.id));
        byQueue.set(job.queue, ids);
      }
      path = '/.executors/queue/heartbeat';
      body = {
        ...telemetry,
        executorName: this.executorName,
        queueNames: [...this.queues],
        jobIdsByQueue: [...byQueue].map(([queueName, jobIds]) => ({ queueName, jobIds })),
      } satisfies MultiQueueHeartbeatBody;
      form = { kind: 'multi' };
    } else {
      const queue = this.queues[0]!;
      for (const job of jobs) this.assertOurQueue(job);
      path = `/.executors/queue/${encodeURIComponent(queue)}/heartbeat`;
      // "V2": ids as strings, which the server answers with strings (reference §2.4).
      body = { ...telemetry, version: 'V2', executorName: this.executorName, jobIds: jobs.map((j) => String(j.id)) } satisfies HeartbeatBody;
      form = { kind: 'single', queue };
    }
    const call = `POST ${path}`;
    const res = await this.executorCall('POST', path, body, signal);
    if (res.status !== 200) throw this.unexpectedStatus(call, res);
    const parsed = this.parseJson(call, res) as { knownIds?: unknown; cancelIds?: unknown } | undefined;
    const read = (field: 'knownIds' | 'cancelIds'): JobRef[] => {
      const raw = parsed?.[field] ?? [];
      if (!Array.isArray(raw)) throw new CoordinatorRequestError(`${call}: ${field}: expected an array of job ids`, { call, status: res.status });
      return raw.map((id, i) => {
        const ref = parseHeartbeatId(id, form);
        if (!ref) {
          const expected = form.kind === 'multi' ? '"<id>-<queue>"' : 'a decimal job id';
          throw new CoordinatorRequestError(`${call}: ${field}[${i}]: expected ${expected}, got ${JSON.stringify(id)}`, { call, status: res.status });
        }
        return ref;
      });
    };
    return { knownIds: read('knownIds'), cancelIds: read('cancelIds') };
  }

  /**
   * Asks for a job: null when there is none (204). With `waitMs` > 0 the coordinator holds the request
   * until a job is enqueued or `waitMs` passes (the long-poll extension; see `supportsLongPoll`).
   * Not retried: the poll loop backs off. A 200 whose body is not a Job is a CoordinatorRequestError
   * naming the field; the job it may have claimed is reset by the coordinator once its heartbeats stop.
   */
  async dequeue(options: { waitMs: number }, signal: AbortSignal): Promise<DequeuedJob | null> {
    const waitMs = Math.max(0, Math.floor(options.waitMs));
    const path = this.multiQueue ? '/.executors/queue/dequeue' : `/.executors/queue/${encodeURIComponent(this.queues[0]!)}/dequeue`;
    const call = `POST ${path}`;
    const body: DequeueBody = {
      ...(this.multiQueue ? { queues: [...this.queues] } : {}),
      executorName: this.executorName,
      version: this.options.executorVersion,
      ...this.options.resources,
      // The extension is backward compatible: servers that do not long-poll ignore the field.
      ...(waitMs > 0 ? { waitMs } : {}),
    };
    const startedMs = performance.now();
    const res = await this.executorCall('POST', path, body, signal, { maxResponseBytes: this.maxJobBytes, timeoutMs: waitMs + this.requestTimeoutMs });
    if (res.status === 204) {
      if (waitMs > 0) this.observeEmptyWait(performance.now() - startedMs, waitMs);
      return null;
    }
    if (res.status !== 200) throw this.unexpectedStatus(call, res);
    const decoded = decodeJob(this.parseJson(call, res), { queues: this.queues, multiQueue: this.multiQueue });
    if ('problem' in decoded) throw new CoordinatorRequestError(`${call}: the coordinator sent an invalid Job: ${decoded.problem}`, { call, status: res.status });
    return decoded.job;
  }

  private observeEmptyWait(elapsedMs: number, waitMs: number): void {
    if (elapsedMs >= waitMs * NO_LONG_POLL_FRACTION) {
      if (!this.longPoll) this.logger.info('the coordinator long-polls again; waiting dequeues resume', { waitMs });
      this.longPoll = true;
      this.fastEmptyStreak = 0;
      return;
    }
    this.fastEmptyStreak++;
    if (this.longPoll && this.fastEmptyStreak >= NO_LONG_POLL_STREAK) {
      this.longPoll = false;
      this.logger.info('the coordinator does not long-poll dequeues; falling back to polling', { waitMs, elapsedMs: Math.round(elapsedMs) });
    }
  }

  // --- job-token routes ------------------------------------------------------------------------------

  /**
   * The headers that authenticate a job route (reference §2.2): the job's token, its id and this
   * executor's name; a job without a token (an old instance) falls back to the shared password.
   */
  jobAuthHeaders(job: JobCredentials): Record<string, string> {
    return {
      authorization: job.token ? `${JOB_TOKEN_SCHEME} ${job.token}` : `${EXECUTOR_TOKEN_SCHEME} ${this.options.password}`,
      [JOB_ID_HEADER]: String(job.id),
      [EXECUTOR_NAME_HEADER]: this.executorName,
    };
  }

  /** What the git proxy (or `git -c http.extraHeader`) adds to requests to /.executors/git (reference §2.5). */
  gitProxyHeaders(job: JobCredentials): Record<string, string> {
    return { ...this.jobAuthHeaders(job), [ACTOR_UID_HEADER]: 'internal' };
  }

  /** The URL the git proxy forwards to: `<base>/.executors/git`. */
  gitBaseUrl(): string {
    return `${this.origin.origin}/.executors/git`;
  }

  /** `<base>/.executors/files/<bucket>/<key>`, each path segment escaped (reference §2.6). */
  fileUrl(bucket: string, key: string): string {
    return `${this.origin.origin}${filePath(bucket, key)}`;
  }

  /**
   * Downloads a workspace file the job's payload names (`files[path].bucket/key`). Retried like the mark
   * calls. Throws CoordinatorJobNotHeldError when the job is no longer ours, CoordinatorRequestError
   * for 404 (the file is gone) or 403 (the job does not name this file), and when it is over
   * `maxFileBytes`.
   */
  async getFile(job: JobCredentials, bucket: string, key: string, signal: AbortSignal): Promise<Buffer> {
    const path = filePath(bucket, key);
    const outcome = await this.retried(
      () => this.jobCall(job, 'GET', path, undefined, signal, { maxResponseBytes: this.maxFileBytes }),
      signal,
      `GET ${path}`,
    );
    if (!outcome.held) throw new CoordinatorJobNotHeldError(job.id, outcome.info);
    if (outcome.response.status !== 200) throw this.unexpectedStatus(`GET ${path}`, outcome.response);
    return outcome.response.body;
  }

  /**
   * Appends a log entry to the job; resolves to its id (1-based) for `updateExecutionLogEntry`. Not
   * retried: a failed add is logged and skipped (reference §4.10). Throws CoordinatorJobNotHeldError
   * when the job is no longer ours.
   */
  async addExecutionLogEntry(job: JobCredentials, entry: ExecutionLogEntry, signal: AbortSignal): Promise<number> {
    const body: z.input<typeof AddExecutionLogEntryRequestSchema> = { ...entry, executorName: this.executorName, jobId: job.id };
    const path = jobPath(job, 'addExecutionLogEntry');
    const outcome = await this.jobCall(job, 'POST', path, body, signal);
    if (!outcome.held) throw new CoordinatorJobNotHeldError(job.id, outcome.info);
    const call = `POST ${path}`;
    if (outcome.response.status !== 200) throw this.unexpectedStatus(call, outcome.response);
    const entryId = this.parseJson(call, outcome.response);
    if (typeof entryId !== 'number' || !Number.isSafeInteger(entryId) || entryId < 1) {
      throw new CoordinatorRequestError(`${call}: expected the entry id as a positive integer, got ${JSON.stringify(entryId)?.slice(0, 100)}`, { call, status: 200 });
    }
    return entryId;
  }

  /**
   * Replaces a log entry with its current state (the whole entry, not a delta). Periodic updates are
   * not retried (the next sync sends the same entry again); pass `final: true` for the last one, which
   * is retried like the mark calls because the job's result depends on it (reference §4.10). Throws
   * CoordinatorJobNotHeldError when the job is no longer ours.
   */
  async updateExecutionLogEntry(
    job: JobCredentials,
    entryId: number,
    entry: ExecutionLogEntry,
    signal: AbortSignal,
    options: { final?: boolean } = {},
  ): Promise<void> {
    const body: z.input<typeof UpdateExecutionLogEntryRequestSchema> = { ...entry, executorName: this.executorName, jobId: job.id, entryId };
    const path = jobPath(job, 'updateExecutionLogEntry');
    const send = () => this.jobCall(job, 'POST', path, body, signal);
    const outcome = options.final ? await this.retried(send, signal, `POST ${path}`) : await send();
    if (!outcome.held) throw new CoordinatorJobNotHeldError(job.id, outcome.info);
    if (outcome.response.status !== 204 && outcome.response.status !== 200) throw this.unexpectedStatus(`POST ${path}`, outcome.response);
  }

  /**
   * Marks the job completed. Resolves `true` when the coordinator recorded it (204) and `false` when
   * the job is no longer ours: 404 (not processing, or another executor's), or 401 because its token
   * is gone (the job already finished or was reset). A second markComplete therefore resolves `false`.
   * Retried a few times on network errors and 5xx; `false` after a retry may also mean an earlier try
   * succeeded and only its answer was lost (logged as a warning).
   */
  markComplete(job: JobCredentials, signal: AbortSignal): Promise<boolean> {
    const body: z.input<typeof JobOperationRequestSchema> = { executorName: this.executorName, jobId: job.id };
    return this.mark(job, 'markComplete', body, signal);
  }

  /**
   * Marks the job errored (retried by the coordinator, or failed once out of retries) with `message`.
   * `true` on 204, `false` when the job is no longer ours: see markComplete.
   */
  markErrored(job: JobCredentials, message: string, signal: AbortSignal): Promise<boolean> {
    const body: z.input<typeof MarkErroredRequestSchema> = { executorName: this.executorName, jobId: job.id, errorMessage: message };
    return this.mark(job, 'markErrored', body, signal);
  }

  /** Marks the job failed for good with `message`. `true` on 204, `false` when the job is no longer ours: see markComplete. */
  markFailed(job: JobCredentials, message: string, signal: AbortSignal): Promise<boolean> {
    const body: z.input<typeof MarkErroredRequestSchema> = { executorName: this.executorName, jobId: job.id, errorMessage: message };
    return this.mark(job, 'markFailed', body, signal);
  }

  private async mark(job: JobCredentials, op: 'markComplete' | 'markErrored' | 'markFailed', body: object, signal: AbortSignal): Promise<boolean> {
    const path = jobPath(job, op);
    const call = `POST ${path}`;
    let answerLost = false;
    const outcome = await this.retried(() => this.jobCall(job, 'POST', path, body, signal), signal, call, (err) => {
      if (err.status === undefined) answerLost = true;
    });
    if (!outcome.held) {
      if (answerLost) this.logger.warn('the coordinator says the job is not ours after a retried mark call; an earlier try may have succeeded', { jobId: job.id, queue: job.queue, call });
      return false;
    }
    if (outcome.response.status !== 204 && outcome.response.status !== 200) throw this.unexpectedStatus(call, outcome.response);
    return true;
  }

  // --- plumbing ------------------------------------------------------------------------------------

  private assertOurQueue(job: JobRef): void {
    // A bug in the caller, not a coordinator error: the server would refuse it with a 400 anyway.
    if (!this.queues.includes(job.queue)) throw new Error(`job ${job.id} is from queue ${JSON.stringify(job.queue)}, which this client does not serve (${this.queues.join(', ')})`);
  }

  private retried<T>(fn: () => Promise<T>, signal: AbortSignal, call: string, observe?: (err: CoordinatorRetryableError) => void): Promise<T> {
    return withRetry(fn, {
      signal,
      maxAttempts: this.retryMaxAttempts,
      backoff: this.retryBackoff,
      onRetry: (err, attempt, delayMs) => {
        observe?.(err);
        this.logger.warn('coordinator call failed; retrying', { call, attempt, delayMs, err: err.message });
      },
    });
  }

  private baseHeaders(): Record<string, string> {
    // The original sends Content-Type on every request, GETs included (reference §2.1).
    return { 'content-type': 'application/json', 'user-agent': this.userAgent, accept: 'application/json, */*' };
  }

  /** A route authenticated with the shared password: 401/403 is CoordinatorUnauthorizedError. */
  private async executorCall(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
    limits: { maxResponseBytes?: number; timeoutMs?: number } = {},
  ): Promise<TransportResponse> {
    const res = await this.transport.request({
      method,
      path,
      headers: { ...this.baseHeaders(), authorization: `${EXECUTOR_TOKEN_SCHEME} ${this.options.password}` },
      body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      signal,
      maxResponseBytes: limits.maxResponseBytes ?? SMALL_RESPONSE_MAX_BYTES,
      timeoutMs: limits.timeoutMs ?? this.requestTimeoutMs,
    });
    const call = `${method} ${path}`;
    // Before anything reads the body: a web page is never quoted, and no status of one can heal.
    if (res.status < 500 && isHtml(res)) throw new CoordinatorNotCoordinatorError(this.origin.origin, `an HTML page (HTTP ${res.status})`, { call, status: res.status });
    if (res.status >= 300 && res.status < 400) {
      const location = typeof res.headers.location === 'string' ? ` to ${res.headers.location.slice(0, 200)}` : '';
      throw new CoordinatorNotCoordinatorError(this.origin.origin, `a redirect (HTTP ${res.status})${location}`, { call, status: res.status });
    }
    if (res.status === 401 || res.status === 403) throw new CoordinatorUnauthorizedError({ call, status: res.status, reason: describeBody(res).slice(2) || undefined });
    // A queue route the coordinator does not have: the queue is not one it serves (reference §2.3:
    // `{queue}` is matched against its queue names). Waiting for it would never end.
    if (res.status === 404 && path.startsWith('/.executors/queue/')) {
      throw new CoordinatorUnknownQueueError(this.origin.origin, this.queues, { call, status: res.status, reason: describeBody(res).slice(2) || undefined });
    }
    this.throwIfRetryable(call, res);
    return res;
  }

  /**
   * A job route. 404 and a 401 for the job's own token mean the job is no longer ours (`held: false`);
   * with the shared password (a job without token) 401/403 is CoordinatorUnauthorizedError.
   */
  private async jobCall(
    job: JobCredentials,
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal,
    limits: { maxResponseBytes?: number } = {},
  ): Promise<JobCallOutcome> {
    const res = await this.transport.request({
      method,
      path,
      headers: { ...this.baseHeaders(), ...this.jobAuthHeaders(job) },
      body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      signal,
      maxResponseBytes: limits.maxResponseBytes ?? SMALL_RESPONSE_MAX_BYTES,
      timeoutMs: this.requestTimeoutMs,
    });
    const call = `${method} ${path}`;
    const usesJobToken = job.token !== '';
    if (!usesJobToken && (res.status === 401 || res.status === 403)) throw new CoordinatorUnauthorizedError({ call, status: res.status });
    // 401 `invalid token`: the token was deleted with the job's transition (finished, reset), or this
    // executor never heartbeated. 403 means a token for another job/queue/file: a bug, reported below.
    if (usesJobToken && res.status === 401) return { held: false, info: { call, status: res.status } };
    // Mark calls answer 404 for a job that is not ours; files answer 404 for a missing file.
    if (res.status === 404 && path.startsWith('/.executors/queue/')) return { held: false, info: { call, status: res.status } };
    this.throwIfRetryable(call, res);
    return { held: true, response: res };
  }

  private throwIfRetryable(call: string, res: TransportResponse): void {
    if (res.status !== 429 && res.status < 500) return;
    throw new CoordinatorRetryableError(`${call}: HTTP ${res.status}${describeBody(res)}`, {
      call,
      status: res.status,
      retryAfterMs: parseRetryAfterMs(res.headers['retry-after']),
    });
  }

  private unexpectedStatus(call: string, res: TransportResponse): CoordinatorRequestError {
    return new CoordinatorRequestError(`${call}: unexpected HTTP ${res.status}${describeBody(res)}`, { call, status: res.status });
  }

  private parseJson(call: string, res: TransportResponse): unknown {
    try {
      return parseGoJson(res.body.toString('utf8'));
    } catch (err) {
      throw new CoordinatorRequestError(`${call}: the response is not JSON: ${(err as Error).message}`, { call, status: res.status, cause: err });
    }
  }
}

function parseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`EXECUTOR_FRONTEND_URL: ${JSON.stringify(raw)} is not a URL; expected scheme://host[:port]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`EXECUTOR_FRONTEND_URL: scheme ${url.protocol} is not http or https`);
  if (url.pathname !== '/' || url.search || url.hash) throw new Error(`EXECUTOR_FRONTEND_URL: ${JSON.stringify(raw)} has a path; expected scheme://host[:port] only`);
  if (url.username || url.password) throw new Error('EXECUTOR_FRONTEND_URL: credentials in the URL are not supported; use EXECUTOR_FRONTEND_PASSWORD');
  return url;
}

function jobPath(job: JobCredentials, op: string): string {
  return `/.executors/queue/${encodeURIComponent(job.queue)}/${op}`;
}

function filePath(bucket: string, key: string): string {
  return `/.executors/files/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Whether a response is a web page: declared `text/html`, or a body that starts with markup. */
function isHtml(res: TransportResponse): boolean {
  const type = String(res.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('text/html') || type.startsWith('application/xhtml')) return true;
  return /^\s*<(!doctype|html|head|body|\?xml)/i.test(res.body.subarray(0, 256).toString('utf8'));
}

/** `: <message>` from a `{"error": …}` or text body, shortened; empty for no body; never a web page. */
function describeBody(res: TransportResponse): string {
  const text = res.body.toString('utf8').trim();
  if (!text) return '';
  if (isHtml(res)) return ' (an HTML page, not shown)';
  let message = text;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') message = (parsed as { error: string }).error;
  } catch {
    // a text body
  }
  return `: ${message.length > 500 ? `${message.slice(0, 500)}…` : message}`;
}

/** `Retry-After: 5` or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfterMs(header: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const dateMs = Date.parse(value);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs);
}
