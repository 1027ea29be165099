// The job queue in SQL (reference §7.1): enqueue, dequeue with SKIP LOCKED, heartbeats, log entries,
// the mark calls, cancel, the stalled-job resetter. Every statement that changes a job is one round trip.
import type { JobSpec } from '../../protocol/job.js';
import type { ExecutionLogEntry } from '../../protocol/execution-log-entry.js';
import type { JobState } from '../queues/job-state.js';
import { DOCKER_AUTH_CONFIG_KEY, type JobSecretRefs, type PlannedJobSecrets } from '../secrets/job-secrets.js';
import type { Database } from './database.js';

/** NOTIFY channel whose payload is the name of a queue that just got a dequeueable job. */
export const JOB_QUEUED_CHANNEL = 'executors_job_queued';

/** The failure message of a job reset too many times (reference §7.1). */
export const TOO_MANY_RESETS_MESSAGE = 'job processor died while handling this message too many times';

export interface JobRow {
  id: number;
  queue: string;
  state: JobState;
  spec: JobSpec;
  repositoryName: string;
  failureMessage: string | null;
  queuedAt: Date;
  startedAt: Date | null;
  lastHeartbeatAt: Date | null;
  finishedAt: Date | null;
  processAfter: Date | null;
  numResets: number;
  numFailures: number;
  workerHostname: string;
  cancel: boolean;
  /** The secrets the job asked for, by name; resolved into the payload at dequeue. */
  secretRefs: JobSecretRefs | null;
  /** The user who asked for the job; null for jobs from before users existed. */
  creatorId: number | null;
}

export interface StoredLogEntry extends ExecutionLogEntry {
  entryId: number;
}

/** Identifies the job of a mark or log call and who claims to hold it. */
export interface JobClaim {
  jobId: number;
  queue: string;
  executorName: string;
  /**
   * The SHA-256 of the presented job token. When set, the statement acts only if it is the job's
   * current token and the executor has heartbeated (reference §2.2), so authentication costs no extra
   * round trip; null when the shared executor token was presented instead.
   */
  tokenSha256: Buffer | null;
}

/** The WHERE conditions of every job-route statement; $1..$4 are the claim's fields. */
const CLAIM_HOLDS = `id = $1 AND queue = $2 AND state = 'processing' AND worker_hostname = $3
  AND ($4::bytea IS NULL OR (token_sha256 = $4 AND EXISTS (SELECT 1 FROM executors WHERE hostname = $3)))`;

function claimParams(claim: JobClaim): unknown[] {
  return [claim.jobId, claim.queue, claim.executorName, claim.tokenSha256];
}

export interface TokenLookup {
  jobId: number;
  queue: string;
  repositoryName: string;
  /** Whether the executor named in the request has heartbeated at least once (reference §2.2). */
  executorKnown: boolean;
}

export type CancelOutcome = 'canceled' | 'cancel-requested' | 'already-finished' | 'not-found';

const JOB_COLUMNS = `id, queue, state, spec, repository_name AS "repositoryName", failure_message AS "failureMessage",
  queued_at AS "queuedAt", started_at AS "startedAt", last_heartbeat_at AS "lastHeartbeatAt",
  finished_at AS "finishedAt", process_after AS "processAfter", num_resets AS "numResets",
  num_failures AS "numFailures", worker_hostname AS "workerHostname", cancel, secret_refs AS "secretRefs", creator_id AS "creatorId"`;

const LOG_ENTRY_COLUMNS = `entry_id AS "entryId", key, command, start_time AS "startTime", exit_code AS "exitCode",
  out, duration_ms AS "durationMs"`;

interface LogEntryRow {
  entryId: number;
  key: string;
  command: string[];
  startTime: Date;
  exitCode: number | null;
  out: string | null;
  durationMs: number | null;
}

function toLogEntry(row: LogEntryRow): StoredLogEntry {
  return { ...row, startTime: row.startTime.toISOString() };
}

/** The least time between two ANALYZEs triggered by the collector's row counters alone. */
const MIN_ANALYZE_GAP_MS = 60_000;

export class JobStore {
  /** When this store last ran ANALYZE (epoch ms). */
  private lastAnalyzeMs = 0;

  constructor(private readonly db: Database) {}

  /** Inserts a queued job and wakes waiting dequeues (NOTIFY is delivered at commit). */
  async enqueue(queue: string, spec: JobSpec, options: { processAfter?: Date; secrets?: PlannedJobSecrets; creatorId?: number | null } = {}): Promise<number> {
    const planned = options.secrets;
    const fallback = planned && planned.refs === null ? planned.ifDockerAuthConfig : undefined;
    // A job that named no secret still gets DOCKER_AUTH_CONFIG when one exists for it: checked here, in
    // the insert itself, rather than by a query of its own before it.
    const rows = await this.db.query<{ id: number }>(
      `WITH inserted AS (
         INSERT INTO jobs (queue, spec, repository_name, process_after, secret_refs, creator_id)
         VALUES ($1, $2, $3, $4, COALESCE($5::jsonb, CASE WHEN $7::text IS NOT NULL AND EXISTS (
             SELECT 1 FROM executor_secrets WHERE key = '${DOCKER_AUTH_CONFIG_KEY}' AND scope = $7::text
               AND ((namespace_user_id IS NULL AND namespace_org_id IS NULL) OR namespace_user_id = $8::bigint OR namespace_org_id = $9::bigint)
           ) THEN $10::jsonb END), $6)
         RETURNING id, queue
       )
       SELECT id, pg_notify('${JOB_QUEUED_CHANNEL}', queue) FROM inserted`,
      [
        queue,
        spec,
        spec.repositoryName,
        options.processAfter ?? null,
        planned?.refs ?? null,
        options.creatorId ?? null,
        fallback?.scope ?? null,
        fallback?.userId ?? null,
        fallback?.orgId ?? null,
        fallback?.refs ?? null,
      ],
    );
    return rows[0]!.id;
  }

  /**
   * Claims the oldest dequeueable job of `queue` for `executorName` and stores its token's SHA-256, in
   * one statement. Returns null when there is none. Must not run inside a transaction (SKIP LOCKED
   * would skip rows the transaction itself holds).
   */
  async dequeue(queue: string, executorName: string, tokenSha256: Buffer): Promise<JobRow | null> {
    const rows = await this.db.query<JobRow>(
      `WITH candidate AS (
         SELECT id, log_entry_count FROM jobs
         WHERE queue = $1 AND state = 'queued' AND (process_after IS NULL OR process_after <= now())
         ORDER BY queued_at, id
         LIMIT 1
         FOR UPDATE SKIP LOCKED
       ), claimed AS (
         -- "id = (scalar)" keeps this a primary-key lookup whatever the statistics say; a join could be
         -- planned as a scan of the whole table.
         UPDATE jobs SET state = 'processing', started_at = now(), last_heartbeat_at = now(), finished_at = NULL,
           failure_message = NULL, worker_hostname = $2, log_entry_count = 0, token_sha256 = $3
         WHERE id = (SELECT id FROM candidate)
         RETURNING *
       ), old_logs AS (
         -- A reset job's earlier attempt left entries; a fresh job has none to look for.
         DELETE FROM job_log_entries WHERE job_id = (SELECT id FROM candidate WHERE log_entry_count > 0)
       )
       SELECT ${JOB_COLUMNS} FROM claimed`,
      [queue, executorName, tokenSha256],
    );
    return rows[0] ?? null;
  }

  /**
   * Gives back a job that was claimed for a client that went away before it got the answer: it goes
   * back to the head of its queue as if never dequeued (no reset counted), and waiting dequeues wake.
   */
  async release(jobId: number, queue: string, executorName: string): Promise<boolean> {
    const rows = await this.db.query(
      `WITH released AS (
         UPDATE jobs SET state = 'queued', started_at = NULL, last_heartbeat_at = NULL, worker_hostname = '', token_sha256 = NULL
         WHERE id = $1 AND queue = $2 AND state = 'processing' AND worker_hostname = $3
         RETURNING id, queue
       )
       SELECT id, pg_notify('${JOB_QUEUED_CHANNEL}', queue) FROM released`,
      [jobId, queue, executorName],
    );
    return rows.length > 0;
  }

  /** Of `queues`, those with at least one dequeueable job now (reference §7.3 step 1, as an existence check). */
  async queuesWithQueuedJobs(queues: readonly string[]): Promise<string[]> {
    const rows = await this.db.query<{ queue: string }>(
      `SELECT q AS queue FROM unnest($1::text[]) AS q
       WHERE EXISTS (SELECT 1 FROM jobs WHERE queue = q AND state = 'queued' AND (process_after IS NULL OR process_after <= now()))`,
      [queues],
    );
    return rows.map((r) => r.queue);
  }

  async lookupToken(tokenSha256: Buffer, executorName: string): Promise<TokenLookup | null> {
    const rows = await this.db.query<TokenLookup>(
      `SELECT id AS "jobId", queue, repository_name AS "repositoryName",
         EXISTS (SELECT 1 FROM executors WHERE hostname = $2) AS "executorKnown"
       FROM jobs WHERE token_sha256 = $1`,
      [tokenSha256, executorName],
    );
    return rows[0] ?? null;
  }

  /**
   * Refreshes `last_heartbeat_at` of the listed jobs that `executorName` holds. Returns the ones it
   * holds (known) with their cancel flag; the executor abandons the others (reference §4.3).
   */
  async heartbeat(executorName: string, jobs: ReadonlyArray<{ id: number; queue: string }>): Promise<Array<{ id: number; queue: string; cancel: boolean }>> {
    if (jobs.length === 0) return [];
    return this.db.query(
      `UPDATE jobs SET last_heartbeat_at = now()
       WHERE (id, queue) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
         AND state = 'processing' AND worker_hostname = $3
       RETURNING id, queue, cancel`,
      [jobs.map((j) => j.id), jobs.map((j) => j.queue), executorName],
    );
  }

  /** Appends a log entry; returns its 1-based id, or null if the claim does not hold the job. */
  async addLogEntry(claim: JobClaim, entry: ExecutionLogEntry): Promise<number | null> {
    const rows = await this.db.query<{ entryId: number }>(
      `WITH job AS (
         UPDATE jobs SET log_entry_count = log_entry_count + 1
         WHERE ${CLAIM_HOLDS}
         RETURNING id, log_entry_count
       )
       INSERT INTO job_log_entries (job_id, entry_id, key, command, start_time, exit_code, out, duration_ms)
       SELECT id, log_entry_count, $5, $6, $7, $8, $9, $10 FROM job
       RETURNING entry_id AS "entryId"`,
      [...claimParams(claim), entry.key, entry.command, entry.startTime, entry.exitCode ?? null, entry.out ?? null, entry.durationMs ?? null],
    );
    return rows[0]?.entryId ?? null;
  }

  /** Replaces a log entry; false if the claim does not hold the job or the entry does not exist. */
  async updateLogEntry(claim: JobClaim, entryId: number, entry: ExecutionLogEntry): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE job_log_entries e SET key = $6, command = $7, start_time = $8, exit_code = $9, out = $10, duration_ms = $11
       WHERE e.job_id = $1 AND e.entry_id = $5 AND EXISTS (SELECT 1 FROM jobs WHERE ${CLAIM_HOLDS})
       RETURNING e.entry_id`,
      [...claimParams(claim), entryId, entry.key, entry.command, entry.startTime, entry.exitCode ?? null, entry.out ?? null, entry.durationMs ?? null],
    );
    return rows.length > 0;
  }

  /** markComplete: processing → completed, and the job token is deleted. False if the claim does not hold. */
  markComplete(claim: JobClaim): Promise<boolean> {
    return this.finish(claim, `state = 'completed'`);
  }

  /**
   * markErrored: → canceled if the cancel flag is set; else → failed once `num_failures + 1 >=
   * maxNumRetries`; else → errored, to be requeued after the retry delay (reference §7.1).
   */
  markErrored(claim: JobClaim, failureMessage: string, maxNumRetries: number): Promise<boolean> {
    return this.finish(
      claim,
      `state = CASE WHEN cancel THEN 'canceled' WHEN num_failures + 1 >= $6 THEN 'failed' ELSE 'errored' END,
       num_failures = CASE WHEN cancel THEN num_failures ELSE num_failures + 1 END,
       failure_message = $5`,
      [failureMessage, maxNumRetries],
    );
  }

  /** markFailed: → canceled if the cancel flag is set, else → failed. */
  markFailed(claim: JobClaim, failureMessage: string): Promise<boolean> {
    return this.finish(
      claim,
      `state = CASE WHEN cancel THEN 'canceled' ELSE 'failed' END,
       num_failures = CASE WHEN cancel THEN num_failures ELSE num_failures + 1 END,
       failure_message = $5`,
      [failureMessage],
    );
  }

  private async finish(claim: JobClaim, assignments: string, extraParams: unknown[] = []): Promise<boolean> {
    // The token is deleted with the transition (reference §7.2).
    const rows = await this.db.query(
      `UPDATE jobs SET ${assignments}, finished_at = clock_timestamp(), token_sha256 = NULL
       WHERE ${CLAIM_HOLDS}
       RETURNING id`,
      [...claimParams(claim), ...extraParams],
    );
    return rows.length > 0;
  }

  /**
   * Cancels a job: a queued (or errored) one becomes canceled at once; a processing one gets its
   * cancel flag, which the next heartbeat delivers in `cancelIds`.
   */
  async cancel(queue: string, id: number): Promise<CancelOutcome> {
    const rows = await this.db.query<{ previous: JobState }>(
      `WITH old AS (SELECT id, state FROM jobs WHERE id = $1 AND queue = $2 FOR UPDATE)
       UPDATE jobs j SET
         state = CASE WHEN old.state IN ('queued', 'errored') THEN 'canceled' ELSE j.state END,
         finished_at = CASE WHEN old.state IN ('queued', 'errored') THEN now() ELSE j.finished_at END,
         cancel = CASE WHEN old.state IN ('queued', 'errored', 'processing') THEN true ELSE j.cancel END
       FROM old WHERE j.id = old.id
       RETURNING old.state AS previous`,
      [id, queue],
    );
    const previous = rows[0]?.previous;
    if (!previous) return 'not-found';
    if (previous === 'queued' || previous === 'errored') return 'canceled';
    if (previous === 'processing') return 'cancel-requested';
    return 'already-finished';
  }

  async find(queue: string, id: number): Promise<JobRow | null> {
    return (await this.db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND queue = $2`, [id, queue]))[0] ?? null;
  }

  /** A job with its log entries. */
  async get(queue: string, id: number): Promise<{ job: JobRow; logEntries: StoredLogEntry[] } | null> {
    const job = await this.find(queue, id);
    if (!job) return null;
    const entries = await this.db.query<LogEntryRow>(
      `SELECT ${LOG_ENTRY_COLUMNS} FROM job_log_entries WHERE job_id = $1 ORDER BY entry_id`,
      [id],
    );
    return { job, logEntries: entries.map(toLogEntry) };
  }

  /** The job and its log entries without their output: what a live log page polls (`outLength` in characters). */
  async getSummary(queue: string, id: number): Promise<{ job: JobRow; entries: Array<Omit<StoredLogEntry, 'out'> & { outLength: number }> } | null> {
    const job = await this.find(queue, id);
    if (!job) return null;
    const entries = await this.db.query<Omit<LogEntryRow, 'out'> & { outLength: number }>(
      `SELECT entry_id AS "entryId", key, command, start_time AS "startTime", exit_code AS "exitCode", duration_ms AS "durationMs",
         coalesce(length(out), 0) AS "outLength"
       FROM job_log_entries WHERE job_id = $1 ORDER BY entry_id`,
      [id],
    );
    return { job, entries: entries.map((e) => ({ ...e, startTime: e.startTime.toISOString() })) };
  }

  /** The output of one log entry, or null when there is no such entry. */
  async logEntryOut(jobId: number, entryId: number): Promise<string | null> {
    const rows = await this.db.query<{ out: string | null }>(`SELECT out FROM job_log_entries WHERE job_id = $1 AND entry_id = $2`, [jobId, entryId]);
    return rows.length === 0 ? null : (rows[0]!.out ?? '');
  }

  /** Newest first, keyset-paged by id: pass the last id of a page as `beforeId` for the next. */
  async list(queue: string, options: { states?: readonly JobState[]; limit: number; beforeId?: number }): Promise<JobRow[]> {
    return this.db.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs
       WHERE queue = $1 AND ($2::text[] IS NULL OR state = ANY($2)) AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [queue, options.states && options.states.length > 0 ? options.states : null, options.beforeId ?? null, options.limit],
    );
  }

  /**
   * The stalled-job resetter (reference §7.1): processing jobs without a heartbeat for `stalledMaxAgeMs`
   * go back to queued, or to failed once they were reset `maxNumResets` times. Their tokens are deleted.
   */
  async resetStalled(stalledMaxAgeMs: number, maxNumResets: number): Promise<{ resetIds: number[]; failedIds: number[] }> {
    const rows = await this.db.query<{ resetIds: number[] | null; failedIds: number[] | null }>(
      `WITH stalled AS (
         SELECT id, num_resets FROM jobs
         WHERE state = 'processing' AND last_heartbeat_at < now() - $1 * interval '1 millisecond'
         FOR UPDATE SKIP LOCKED
       ), reset AS (
         UPDATE jobs j SET state = 'queued', queued_at = now(), started_at = NULL, num_resets = j.num_resets + 1,
           token_sha256 = NULL
         FROM stalled WHERE j.id = stalled.id AND stalled.num_resets < $2
         RETURNING j.id, j.queue
       ), failed AS (
         UPDATE jobs j SET state = 'failed', finished_at = now(), failure_message = $3, token_sha256 = NULL
         FROM stalled WHERE j.id = stalled.id AND stalled.num_resets >= $2
         RETURNING j.id
       ), woken AS (
         SELECT pg_notify('${JOB_QUEUED_CHANNEL}', queue) FROM (SELECT DISTINCT queue FROM reset) q
       )
       SELECT (SELECT array_agg(id ORDER BY id) FROM reset) AS "resetIds",
              (SELECT array_agg(id ORDER BY id) FROM failed) AS "failedIds",
              (SELECT count(*) FROM woken) AS woken`,
      [stalledMaxAgeMs, maxNumResets, TOO_MANY_RESETS_MESSAGE],
    );
    return { resetIds: rows[0]?.resetIds ?? [], failedIds: rows[0]?.failedIds ?? [] };
  }

  /** Errored jobs whose retry delay has passed go back to queued. */
  async requeueErrored(retryAfterMs: number): Promise<number[]> {
    const rows = await this.db.query<{ id: number }>(
      `WITH requeued AS (
         UPDATE jobs SET state = 'queued', queued_at = now(), started_at = NULL, cancel = false
         WHERE state = 'errored' AND finished_at < now() - $1 * interval '1 millisecond'
         RETURNING id, queue
       ), woken AS (
         SELECT pg_notify('${JOB_QUEUED_CHANNEL}', queue) FROM (SELECT DISTINCT queue FROM requeued) q
       )
       SELECT id, (SELECT count(*) FROM woken) AS woken FROM requeued`,
      [retryAfterMs],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Runs ANALYZE on the jobs table when its statistics are stale: a tenth of its rows (plus 50) changed
   * since the last one (autovacuum's rule, from the statistics collector), or its size in pages moved by
   * a tenth (PGlite keeps no such counters). Needed because autovacuum may be off (it is on these
   * machines, and PGlite has none): with statistics from when the table was small, the planner sorts
   * every queued row for each dequeue — measured here at 40–55 ms per dequeue with 100,000 queued,
   * against 0.035 ms for the partial-index plan once analyzed. Returns whether it analyzed.
   */
  async analyzeIfStale(): Promise<boolean> {
    const rows = await this.db.query<{ modified: number | null; live: number | null; analyzedPages: number; pages: number }>(
      `SELECT s.n_mod_since_analyze AS modified, s.n_live_tup AS live, c.relpages AS "analyzedPages",
         pg_relation_size(c.oid) / current_setting('block_size')::int AS pages
       FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
       WHERE c.oid = 'jobs'::regclass`,
    );
    const t = rows[0];
    if (!t) return false;
    // Backends report their row counts to the statistics collector late (after ~1 s, and on PGlite only
    // at a later transaction), so changes made before an ANALYZE can show up as changes after it: the
    // counters alone may only ask again once a minute has passed since our last one.
    const rowsChanged = (t.modified ?? 0) > 50 + 0.1 * (t.live ?? 0) && Date.now() - this.lastAnalyzeMs >= MIN_ANALYZE_GAP_MS;
    const sizeChanged = Math.abs(t.pages - t.analyzedPages) > 8 + 0.1 * t.analyzedPages;
    if (!rowsChanged && !sizeChanged) return false;
    await this.db.query('ANALYZE jobs');
    this.lastAnalyzeMs = Date.now();
    return true;
  }

  /**
   * Per queue, the jobs queued or processing: the autoscaling signal, the same number as
   * `src_executor_total{queue}` (reference §7.6: QueuedCount with includeProcessing). Queues with none are absent.
   */
  async queueSizes(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ queue: string; size: number }>(
      `SELECT queue, count(*)::int AS size FROM jobs WHERE state IN ('queued', 'processing') GROUP BY queue`,
    );
    return new Map(rows.map((r) => [r.queue, r.size]));
  }

  /** Per queue: jobs by state, and the age of the oldest dequeueable job (for /metrics, reference §7.6). */
  async stats(): Promise<Array<{ queue: string; state: JobState; count: number; oldestQueuedAgeSeconds: number | null }>> {
    return this.db.query(
      `SELECT queue, state, count(*)::int AS count,
         CASE WHEN state = 'queued' THEN extract(epoch FROM now() - min(queued_at)) END AS "oldestQueuedAgeSeconds"
       FROM jobs GROUP BY queue, state`,
    );
  }
}
