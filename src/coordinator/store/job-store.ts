// The job queue in SQL (reference §7.1): enqueue, dequeue with SKIP LOCKED, heartbeats, log entries,
// the mark calls, cancel, the stalled-job resetter. Every statement that changes a job is one round trip.
import type { JobSpec } from '../../protocol/job.js';
import type { ExecutionLogEntry } from '../../protocol/execution-log-entry.js';
import type { JobState } from '../queues/job-state.js';
import { DOCKER_AUTH_CONFIG_KEY, type JobSecretRefs, type PlannedJobSecrets } from '../secrets/job-secrets.js';
import { AppError } from '../../shared/errors.js';
import type { Database, Queryable } from './database.js';

/** What one user may have waiting at once (config `quotas`); 0 = no limit. */
export interface JobQuotaLimits {
  maxQueuedJobs: number;
  maxQueuedJobsPerQueue: number;
  maxQueuedInlineFilesBytes: number;
}

/** An enqueue refused because its creator has as much waiting as a quota allows. Code `jobs.quota_exceeded`. */
export class QuotaExceededError extends AppError {
  constructor(
    /** Which limit of JobQuotaLimits. */
    readonly limit: keyof JobQuotaLimits,
    message: string,
  ) {
    super('jobs.quota_exceeded', message);
  }
}

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

/** A log entry without its output, as job views list it: how long the output is instead. */
export interface LogEntrySummary extends Omit<StoredLogEntry, 'out'> {
  /** Length of `out` in characters (what `…/logs/{entryId}?offset=` counts). */
  outLength: number;
  /** Size of `out` in UTF-8 bytes. */
  outBytes: number;
  /** Line breaks in `out`. */
  lineCount: number;
}

/** A page of one entry's output: `out` from character `offset`, at most `limit` characters. */
export interface LogEntryPage extends LogEntrySummary {
  offset: number;
  out: string;
}

/** Bounds on one job attempt's log (COORDINATOR_MAX_LOG_ENTRIES_PER_JOB, COORDINATOR_MAX_LOG_BYTES_PER_JOB). */
export interface JobLogLimits {
  /** Entries kept; later adds are acknowledged and dropped, and one last entry says how many. Default 10 000. */
  maxEntries: number;
  /** Output bytes kept over all entries; past them each entry's output is cut with a truncation line. Default 100 MiB. */
  maxBytes: number;
}

export const DEFAULT_JOB_LOG_LIMITS: JobLogLimits = { maxEntries: 10_000, maxBytes: 100 * 1024 * 1024 };

/** `out_length, out_lines` of an output given as `sql` (a parameter or expression; NULL counts as ''). */
const outCounts = (sql: string) => `coalesce(length((${sql})::text), 0), coalesce(length((${sql})::text) - length(replace((${sql})::text, E'\\n', '')), 0)`;

/** The key of the entry that ends a log cut at COORDINATOR_MAX_LOG_ENTRIES_PER_JOB. */
export const LOG_TRUNCATED_KEY = 'coordinator.log.truncated';

/**
 * `out` cut to its longest prefix of at most `budgetBytes` UTF-8 bytes (between characters), then the
 * line that says so, like the executor's own per-entry cap; `keptBytes` does not count that line.
 */
export function cutLogOutput(out: string, budgetBytes: number, maxBytes: number): { out: string; keptBytes: number } {
  const bytes = Buffer.from(out, 'utf8');
  let end = Math.max(0, Math.min(budgetBytes, bytes.length));
  // Back up over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
  const kept = bytes.subarray(0, end).toString('utf8');
  const line = `<coordinator: job log truncated at ${maxBytes} bytes (COORDINATOR_MAX_LOG_BYTES_PER_JOB); ${bytes.length - end} more bytes of this entry dropped>\n`;
  return { out: kept === '' || kept.endsWith('\n') ? kept + line : `${kept}\n${line}`, keptBytes: end };
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
  /** Whether that executor is the one the job was dequeued by. */
  heldByExecutor: boolean;
}

export type CancelOutcome = 'canceled' | 'cancel-requested' | 'already-finished' | 'not-found';

const JOB_COLUMNS = `id, queue, state, spec, repository_name AS "repositoryName", failure_message AS "failureMessage",
  queued_at AS "queuedAt", started_at AS "startedAt", last_heartbeat_at AS "lastHeartbeatAt",
  finished_at AS "finishedAt", process_after AS "processAfter", num_resets AS "numResets",
  num_failures AS "numFailures", worker_hostname AS "workerHostname", cancel, secret_refs AS "secretRefs", creator_id AS "creatorId"`;

/** The least time between two ANALYZEs triggered by the collector's row counters alone. */
const MIN_ANALYZE_GAP_MS = 60_000;

export class JobStore {
  /** When this store last ran ANALYZE (epoch ms). */
  private lastAnalyzeMs = 0;
  private readonly logLimits: JobLogLimits;

  constructor(
    private readonly db: Database,
    options: { logLimits?: JobLogLimits } = {},
  ) {
    this.logLimits = options.logLimits ?? DEFAULT_JOB_LOG_LIMITS;
  }

  /**
   * Inserts a queued job and wakes waiting dequeues (NOTIFY is delivered at commit). With `quota`, the
   * insert happens only while the creator's waiting jobs (queued, or errored until retried) stay within
   * it — counted by the same statement, so a quota costs no extra round trip; QuotaExceededError says
   * which limit stopped it. (Concurrent enqueues of one user may each see the other's job as not yet
   * there, so a burst can pass a limit by the few requests in flight at once.)
   */
  async enqueue(
    queue: string,
    spec: JobSpec,
    options: {
      processAfter?: Date;
      secrets?: PlannedJobSecrets;
      creatorId?: number | null;
      inlineFilesBytes?: number;
      quota?: JobQuotaLimits;
      /** Enqueue inside this transaction (a producer's). */
      db?: Queryable;
    } = {},
  ): Promise<number> {
    const planned = options.secrets;
    const fallback = planned && planned.refs === null ? planned.ifDockerAuthConfig : undefined;
    const quota = options.creatorId !== undefined && options.creatorId !== null ? options.quota : undefined;
    const limit = (n: number | undefined) => (n === undefined || n === 0 ? null : n);
    // A job that named no secret still gets DOCKER_AUTH_CONFIG when one exists for it: checked here, in
    // the insert itself, rather than by a query of its own before it.
    const rows = await (options.db ?? this.db).query<{ id: number | null; waiting: number; waitingInQueue: number; waitingBytes: number }>(
      `WITH waiting AS (
         SELECT count(*)::int AS total, (count(*) FILTER (WHERE queue = $1))::int AS in_queue, coalesce(sum(inline_files_bytes), 0)::bigint AS bytes
         FROM jobs WHERE $12::boolean AND creator_id = $6 AND state IN ('queued', 'errored')
       ), inserted AS (
         INSERT INTO jobs (queue, spec, repository_name, process_after, secret_refs, creator_id, inline_files_bytes)
         SELECT $1, $2, $3, $4, COALESCE($5::jsonb, CASE WHEN $7::text IS NOT NULL AND EXISTS (
             SELECT 1 FROM executor_secrets WHERE key = '${DOCKER_AUTH_CONFIG_KEY}' AND scope = $7::text
               AND ((namespace_user_id IS NULL AND namespace_org_id IS NULL) OR namespace_user_id = $8::bigint OR namespace_org_id = $9::bigint)
           ) THEN $10::jsonb END), $6, $11::int
         FROM waiting
         WHERE ($13::int IS NULL OR total < $13) AND ($14::int IS NULL OR in_queue < $14) AND ($15::bigint IS NULL OR bytes + $11::int <= $15)
         RETURNING id, queue
       ), woken AS (
         SELECT pg_notify('${JOB_QUEUED_CHANNEL}', queue) FROM inserted
       )
       SELECT (SELECT id FROM inserted) AS id, (SELECT count(*) FROM woken) AS woken,
         total AS waiting, in_queue AS "waitingInQueue", bytes AS "waitingBytes" FROM waiting`,
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
        options.inlineFilesBytes ?? 0,
        quota !== undefined,
        limit(quota?.maxQueuedJobs),
        limit(quota?.maxQueuedJobsPerQueue),
        limit(quota?.maxQueuedInlineFilesBytes),
      ],
    );
    const row = rows[0]!;
    if (row.id !== null) return row.id;
    const q = quota!;
    if (q.maxQueuedJobs > 0 && row.waiting >= q.maxQueuedJobs) throw new QuotaExceededError('maxQueuedJobs', `you have ${row.waiting} jobs waiting, the most one user may have in all queues (COORDINATOR_USER_MAX_QUEUED_JOBS=${q.maxQueuedJobs})`);
    if (q.maxQueuedJobsPerQueue > 0 && row.waitingInQueue >= q.maxQueuedJobsPerQueue) {
      throw new QuotaExceededError('maxQueuedJobsPerQueue', `you have ${row.waitingInQueue} jobs waiting in queue ${queue}, the most one user may have in one queue (COORDINATOR_USER_MAX_QUEUED_JOBS_PER_QUEUE=${q.maxQueuedJobsPerQueue})`);
    }
    throw new QuotaExceededError(
      'maxQueuedInlineFilesBytes',
      `your waiting jobs hold ${Number(row.waitingBytes)} bytes of inline files; this job's ${options.inlineFilesBytes ?? 0} more would pass the limit of ${q.maxQueuedInlineFilesBytes} (COORDINATOR_USER_MAX_QUEUED_INLINE_FILES_SIZE)`,
    );
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
           failure_message = NULL, worker_hostname = $2, log_entry_count = 0, log_bytes = 0, log_entries_dropped = 0, token_sha256 = $3
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
         EXISTS (SELECT 1 FROM executors WHERE hostname = $2) AS "executorKnown",
         worker_hostname = $2 AS "heldByExecutor"
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

  /**
   * Appends a log entry; returns its 1-based id, or null if the claim does not hold the job. Past
   * `maxEntries` the entry is not stored but still gets an id (the executor must not fail a job over its
   * log): entry `maxEntries + 1` then says how many were dropped. An output past what is left of
   * `maxBytes` is cut (`cutLogOutput`). One statement, plus one transaction when the output must be cut.
   */
  async addLogEntry(claim: JobClaim, entry: ExecutionLogEntry): Promise<number | null> {
    const { maxEntries, maxBytes } = this.logLimits;
    const out = entry.out ?? null;
    const outBytes = out === null ? 0 : Buffer.byteLength(out);
    const rows = await this.db.query<{ entryId: number; fits: boolean }>(
      `WITH cur AS (
         SELECT id, log_entry_count + 1 AS n, log_bytes + $13 <= $12 AS fits FROM jobs WHERE ${CLAIM_HOLDS} FOR UPDATE
       ), job AS (
         UPDATE jobs j SET log_entry_count = cur.n,
           log_entries_dropped = j.log_entries_dropped + CASE WHEN cur.n > $11 THEN 1 ELSE 0 END,
           log_bytes = j.log_bytes + CASE WHEN cur.n <= $11 AND cur.fits THEN $13 ELSE 0 END
         FROM cur WHERE j.id = cur.id
         RETURNING j.id, cur.n AS n, j.log_entries_dropped AS dropped, cur.fits AS fits
       ), kept AS (
         -- An output that does not fit is stored empty here and cut by the caller's second statement.
         INSERT INTO job_log_entries (job_id, entry_id, key, command, start_time, exit_code, out, duration_ms, out_bytes, out_length, out_lines)
         SELECT id, n, $5, $6, $7, $8, CASE WHEN fits THEN $9 ELSE '' END, $10, CASE WHEN fits THEN $13 ELSE 0 END, ${outCounts(`CASE WHEN fits THEN $9 END`)}
         FROM job WHERE n <= $11
       ), marker AS (
         INSERT INTO job_log_entries (job_id, entry_id, key, command, start_time, exit_code, out, duration_ms, out_bytes, out_length, out_lines)
         SELECT id, $11 + 1, '${LOG_TRUNCATED_KEY}', '{}', now(), 0, m.out, 0, 0, ${outCounts('m.out')}
         FROM job, LATERAL (SELECT '<coordinator: log truncated after ' || $11 || ' entries (COORDINATOR_MAX_LOG_ENTRIES_PER_JOB); ' || dropped
             || CASE WHEN dropped = 1 THEN ' more entry dropped>' ELSE ' more entries dropped>' END || E'\n' AS out) m
         WHERE n > $11
         ON CONFLICT (job_id, entry_id) DO UPDATE SET out = excluded.out, out_length = excluded.out_length
       )
       SELECT n AS "entryId", n > $11 OR fits AS fits FROM job`,
      [...claimParams(claim), entry.key, entry.command, entry.startTime, entry.exitCode ?? null, out, entry.durationMs ?? null, maxEntries, maxBytes, outBytes],
    );
    const row = rows[0];
    if (!row) return null;
    if (!row.fits) await this.writeCutOutput(claim, row.entryId, entry);
    return row.entryId;
  }

  /**
   * Replaces a log entry; false if the claim does not hold the job or the entry does not exist. An update
   * of an entry dropped past `maxEntries` changes nothing and succeeds; an output past what is left of
   * `maxBytes` is cut (`cutLogOutput`).
   */
  async updateLogEntry(claim: JobClaim, entryId: number, entry: ExecutionLogEntry): Promise<boolean> {
    const { maxEntries, maxBytes } = this.logLimits;
    const out = entry.out ?? null;
    const outBytes = out === null ? 0 : Buffer.byteLength(out);
    // Both rows locked (job first, as everywhere): bytes counted by concurrent updates of one job add up.
    const rows = await this.db.query<{ held: boolean; dropped: boolean; found: boolean; fits: boolean | null }>(
      `WITH job AS (
         SELECT id, log_bytes, log_entry_count FROM jobs WHERE ${CLAIM_HOLDS} FOR UPDATE
       ), old AS (
         SELECT e.out_bytes FROM job_log_entries e, job WHERE e.job_id = job.id AND e.entry_id = $5 AND $5 <= $12 FOR UPDATE OF e
       ), fit AS (
         SELECT job.id, job.log_bytes - old.out_bytes + $14 <= $13 AS fits, job.log_bytes - old.out_bytes AS others FROM job, old
       ), updated AS (
         UPDATE job_log_entries e SET key = $6, command = $7, start_time = $8, exit_code = $9, out = $10, duration_ms = $11, out_bytes = $14,
           (out_length, out_lines) = (SELECT ${outCounts('$10')})
         FROM fit WHERE e.job_id = fit.id AND e.entry_id = $5 AND fit.fits
       ), counted AS (
         UPDATE jobs j SET log_bytes = fit.others + $14 FROM fit WHERE j.id = fit.id AND fit.fits
       )
       SELECT EXISTS (SELECT 1 FROM job) AS held,
         EXISTS (SELECT 1 FROM job WHERE $5 > $12 AND $5 <= log_entry_count) AS dropped,
         EXISTS (SELECT 1 FROM old) AS found, (SELECT fits FROM fit) AS fits`,
      [...claimParams(claim), entryId, entry.key, entry.command, entry.startTime, entry.exitCode ?? null, out, entry.durationMs ?? null, maxEntries, maxBytes, outBytes],
    );
    const row = rows[0]!;
    if (!row.held) return false;
    if (row.dropped) return true;
    if (!row.found) return false;
    if (!row.fits) return this.writeCutOutput(claim, entryId, entry);
    return true;
  }

  /**
   * The slow path of both: in one transaction, with the job's row locked, the entry's output cut to what
   * the other entries leave of `maxBytes`. Taken only once a job's log is full.
   */
  private writeCutOutput(claim: JobClaim, entryId: number, entry: ExecutionLogEntry): Promise<boolean> {
    const { maxBytes } = this.logLimits;
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ others: number }>(
        `SELECT j.log_bytes - e.out_bytes AS others FROM jobs j JOIN job_log_entries e ON e.job_id = j.id AND e.entry_id = $5
         WHERE ${CLAIM_HOLDS} FOR UPDATE`,
        [...claimParams(claim), entryId],
      );
      const others = rows[0]?.others;
      if (others === undefined) return false;
      const cut = cutLogOutput(entry.out ?? '', maxBytes - others, maxBytes);
      await tx.query(
        `UPDATE job_log_entries SET key = $3, command = $4, start_time = $5, exit_code = $6, out = $7, duration_ms = $8, out_bytes = $9,
           (out_length, out_lines) = (SELECT ${outCounts('$7')})
         WHERE job_id = $1 AND entry_id = $2`,
        [claim.jobId, entryId, entry.key, entry.command, entry.startTime, entry.exitCode ?? null, cut.out, entry.durationMs ?? null, cut.keptBytes],
      );
      await tx.query(`UPDATE jobs SET log_bytes = $2 WHERE id = $1`, [claim.jobId, others + cut.keptBytes]);
      return true;
    });
  }

  /** markComplete: processing → completed, and the job token is deleted. The new state; null if the claim does not hold. */
  markComplete(claim: JobClaim): Promise<JobState | null> {
    return this.finish(claim, `state = 'completed'`);
  }

  /**
   * markErrored: → canceled if the cancel flag is set; else → failed once `num_failures + 1 >=
   * maxNumRetries`; else → errored, to be requeued after the retry delay (reference §7.1).
   */
  markErrored(claim: JobClaim, failureMessage: string, maxNumRetries: number): Promise<JobState | null> {
    return this.finish(
      claim,
      `state = CASE WHEN cancel THEN 'canceled' WHEN num_failures + 1 >= $6 THEN 'failed' ELSE 'errored' END,
       num_failures = CASE WHEN cancel THEN num_failures ELSE num_failures + 1 END,
       failure_message = $5`,
      [failureMessage, maxNumRetries],
    );
  }

  /** markFailed: → canceled if the cancel flag is set, else → failed. */
  markFailed(claim: JobClaim, failureMessage: string): Promise<JobState | null> {
    return this.finish(
      claim,
      `state = CASE WHEN cancel THEN 'canceled' ELSE 'failed' END,
       num_failures = CASE WHEN cancel THEN num_failures ELSE num_failures + 1 END,
       failure_message = $5`,
      [failureMessage],
    );
  }

  /** The state the job ended in, or null when the claim does not hold (nothing changed). */
  private async finish(claim: JobClaim, assignments: string, extraParams: unknown[] = []): Promise<JobState | null> {
    // The token is deleted with the transition (reference §7.2).
    const rows = await this.db.query<{ state: JobState }>(
      `UPDATE jobs SET ${assignments}, finished_at = clock_timestamp(), token_sha256 = NULL
       WHERE ${CLAIM_HOLDS}
       RETURNING state`,
      [...claimParams(claim), ...extraParams],
    );
    return rows[0]?.state ?? null;
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

  /**
   * The job and its log entries without their output (`outLength`, `outBytes` instead): what job views
   * list, so a job with thousands of entries of megabytes each costs kilobytes to show. With `tails`, the
   * last `tails.entries` entries also carry the last `tails.chars` characters of their output and how many
   * lines it has.
   */
  async getSummary(
    queue: string,
    id: number,
    tails?: { entries: number; chars: number },
  ): Promise<{ job: JobRow; entries: Array<LogEntrySummary & { tail?: string }> } | null> {
    const job = await this.find(queue, id);
    if (!job) return null;
    // Lengths and line counts were counted when each output was written; only the tails read outputs,
    // and only of the last few entries.
    const entries = await this.db.query<Omit<LogEntrySummary, 'startTime'> & { startTime: Date; tail: string | null }>(
      `WITH e AS (
         SELECT entry_id, key, command, start_time, exit_code, duration_ms, out_length, out_lines, out,
           entry_id > max(entry_id) OVER () - $2 AS with_tail
         FROM job_log_entries WHERE job_id = $1
       )
       SELECT entry_id AS "entryId", key, command, start_time AS "startTime", exit_code AS "exitCode", duration_ms AS "durationMs",
         out_length AS "outLength", coalesce(octet_length(out), 0) AS "outBytes",
         CASE WHEN with_tail THEN right(coalesce(out, ''), $3) END AS tail, out_lines AS "lineCount"
       FROM e ORDER BY entry_id`,
      [id, tails?.entries ?? 0, tails?.chars ?? 0],
    );
    return {
      job,
      entries: entries.map(({ tail, ...e }) => ({ ...e, startTime: e.startTime.toISOString(), ...(tail === null ? {} : { tail }) })),
    };
  }

  /**
   * One page of one entry: its fields and `limit` characters of its output from character `offset`, or
   * null when the job has no such entry.
   */
  async logEntryPage(jobId: number, entryId: number, offset: number, limit: number): Promise<LogEntryPage | null> {
    const rows = await this.db.query<Omit<LogEntryPage, 'startTime'> & { startTime: Date }>(
      `SELECT entry_id AS "entryId", key, command, start_time AS "startTime", exit_code AS "exitCode", duration_ms AS "durationMs",
         out_length AS "outLength", coalesce(octet_length(out), 0) AS "outBytes", out_lines AS "lineCount", $3::bigint AS "offset",
         coalesce(substr(out, $3::int + 1, $4::int), '') AS out
       FROM job_log_entries WHERE job_id = $1 AND entry_id = $2`,
      [jobId, entryId, offset, limit],
    );
    const row = rows[0];
    return row ? { ...row, startTime: row.startTime.toISOString() } : null;
  }

  /** The last `chars` characters of one entry's output, or null when there is no such entry. */
  async logEntryTail(jobId: number, entryId: number, chars: number): Promise<{ tail: string; outLength: number; lineCount: number } | null> {
    const rows = await this.db.query<{ tail: string; outLength: number; lineCount: number }>(
      `SELECT right(coalesce(out, ''), $3) AS tail, out_length AS "outLength", out_lines AS "lineCount"
       FROM job_log_entries WHERE job_id = $1 AND entry_id = $2`,
      [jobId, entryId, chars],
    );
    return rows[0] ?? null;
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
  async resetStalled(stalledMaxAgeMs: number, maxNumResets: number): Promise<{ resetIds: number[]; failedIds: number[]; failedQueues: string[] }> {
    const rows = await this.db.query<{ resetIds: number[] | null; failedIds: number[] | null; failedQueues: string[] | null }>(
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
         RETURNING j.id, j.queue
       ), woken AS (
         SELECT pg_notify('${JOB_QUEUED_CHANNEL}', queue) FROM (SELECT DISTINCT queue FROM reset) q
       )
       SELECT (SELECT array_agg(id ORDER BY id) FROM reset) AS "resetIds",
              (SELECT array_agg(id ORDER BY id) FROM failed) AS "failedIds",
              (SELECT array_agg(queue ORDER BY id) FROM failed) AS "failedQueues",
              (SELECT count(*) FROM woken) AS woken`,
      [stalledMaxAgeMs, maxNumResets, TOO_MANY_RESETS_MESSAGE],
    );
    return { resetIds: rows[0]?.resetIds ?? [], failedIds: rows[0]?.failedIds ?? [], failedQueues: rows[0]?.failedQueues ?? [] };
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

  /**
   * The jobs processing on these executors (the Executors page's "running jobs"), oldest first. Reads
   * only processing rows (their partial index), never the finished ones.
   */
  async processingOn(executorNames: readonly string[]): Promise<Array<Pick<JobRow, 'id' | 'queue' | 'repositoryName' | 'startedAt' | 'workerHostname'>>> {
    if (executorNames.length === 0) return [];
    return this.db.query(
      `SELECT id, queue, repository_name AS "repositoryName", started_at AS "startedAt", worker_hostname AS "workerHostname"
       FROM jobs WHERE state = 'processing' AND worker_hostname = ANY($1::text[]) ORDER BY started_at, id`,
      [executorNames],
    );
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
