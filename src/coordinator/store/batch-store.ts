// The SQL of server-side batch changes, the execution side: batch changes in their namespaces, the
// workspaces each spec resolved to, executions with one row per workspace (its `batches` job goes
// through JobStore), the settling of those rows from their jobs' states, and the per-user step cache.
import type { BatchExecutionResult } from '../../protocol/batch-execution.js';
import type { BatchSpec } from '../batches/spec/batch-spec.js';
import type { Database, Queryable } from './database.js';

/**
 * The state of an execution and of each of its workspaces (the original's batch spec execution states):
 * - `QUEUED`: the job waits for an executor (an execution: every workspace does).
 * - `PROCESSING`: an executor runs the job (an execution: some workspace is not finished).
 * - `COMPLETED`: the result is stored (from the job, or from the step cache).
 * - `FAILED`: the job failed, or its result was refused (a diff that does not apply).
 * - `CANCELING`: cancel was asked while the job ran; the executor is told at its next heartbeat.
 * - `CANCELED`: canceled before or while it ran.
 */
export type BatchExecutionState = 'QUEUED' | 'PROCESSING' | 'COMPLETED' | 'FAILED' | 'CANCELING' | 'CANCELED';
export const TERMINAL_EXECUTION_STATES: readonly BatchExecutionState[] = ['COMPLETED', 'FAILED', 'CANCELED'];
export const LIVE_EXECUTION_STATES: readonly BatchExecutionState[] = ['QUEUED', 'PROCESSING', 'CANCELING'];

/** Whose a batch change is: a user's or an organization's, with its name. */
export type BatchNamespace = { kind: 'user'; userId: number; name: string } | { kind: 'org'; orgId: number; name: string };

export interface BatchChangeRow {
  id: number;
  name: string;
  namespace: BatchNamespace;
  ownerUserId: number | null;
  description: string;
  specYaml: string;
  spec: BatchSpec;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewBatchWorkspace {
  repositoryName: string;
  branch: string;
  commit: string;
  path: string;
  searchResultPaths: string[];
  onlyFetchWorkspace: boolean;
  skipped: boolean;
  skippedReason: string | null;
}

export interface BatchWorkspaceRow extends NewBatchWorkspace {
  id: number;
  batchChangeId: number;
  position: number;
}

export interface BatchExecutionRow {
  id: number;
  batchChangeId: number;
  state: BatchExecutionState;
  noCache: boolean;
  userId: number | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface WorkspaceExecutionRow {
  id: number;
  executionId: number;
  workspaceId: number;
  state: BatchExecutionState;
  jobId: number | null;
  cacheKey: string;
  cached: boolean;
  failureMessage: string | null;
  result: BatchExecutionResult | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** A workspace execution with what its job's routes need: the workspace, the execution's user and batch change. */
export interface WorkspaceExecutionContext {
  execution: WorkspaceExecutionRow;
  workspace: BatchWorkspaceRow;
  batchChangeId: number;
  /** Who the execution runs as (null when that user was deleted). */
  userId: number | null;
}

const BATCH_CHANGE_COLUMNS = `b.id, b.name, b.namespace_user_id AS "namespaceUserId", b.namespace_org_id AS "namespaceOrgId",
  COALESCE(u.username, o.name) AS "namespaceName", b.owner_user_id AS "ownerUserId", b.description, b.spec_yaml AS "specYaml",
  b.spec, b.created_at AS "createdAt", b.updated_at AS "updatedAt"`;
const BATCH_CHANGE_FROM = `batch_changes b LEFT JOIN users u ON u.id = b.namespace_user_id LEFT JOIN orgs o ON o.id = b.namespace_org_id`;

interface RawBatchChange extends Omit<BatchChangeRow, 'namespace'> {
  namespaceUserId: number | null;
  namespaceOrgId: number | null;
  namespaceName: string;
}

function toBatchChange(r: RawBatchChange): BatchChangeRow {
  const { namespaceUserId, namespaceOrgId, namespaceName, ...rest } = r;
  const namespace: BatchNamespace = namespaceUserId !== null ? { kind: 'user', userId: namespaceUserId, name: namespaceName } : { kind: 'org', orgId: namespaceOrgId!, name: namespaceName };
  return { ...rest, namespace };
}

const WORKSPACE_COLUMNS = `w.id, w.batch_change_id AS "batchChangeId", w.position, w.repository_name AS "repositoryName", w.branch, w.commit, w.path,
  w.search_result_paths AS "searchResultPaths", w.only_fetch_workspace AS "onlyFetchWorkspace", w.skipped, w.skipped_reason AS "skippedReason"`;
const EXECUTION_COLUMNS = `id, batch_change_id AS "batchChangeId", state, no_cache AS "noCache", user_id AS "userId", created_at AS "createdAt", finished_at AS "finishedAt"`;
const WORKSPACE_EXECUTION_COLUMNS = `we.id, we.execution_id AS "executionId", we.workspace_id AS "workspaceId", we.state, we.job_id AS "jobId",
  we.cache_key AS "cacheKey", we.cached, we.failure_message AS "failureMessage", we.result, we.created_at AS "createdAt",
  we.started_at AS "startedAt", we.finished_at AS "finishedAt"`;

const nsParams = (ns: Pick<BatchNamespace, 'kind'> & { userId?: number; orgId?: number }): [number | null, number | null] => [ns.kind === 'user' ? ns.userId! : null, ns.kind === 'org' ? ns.orgId! : null];

export interface NewWorkspaceExecution {
  executionId: number;
  workspaceId: number;
  state: BatchExecutionState;
  jobId: number | null;
  cacheKey: string;
  cached: boolean;
  result: BatchExecutionResult | null;
  failureMessage: string | null;
}

export class BatchStore {
  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  // --- batch changes -----------------------------------------------------------------------------------

  /** Creates the batch change, or replaces the spec of the one with its name in its namespace. */
  async upsertBatchChange(
    tx: Queryable,
    input: { name: string; namespace: BatchNamespace; ownerUserId: number; description: string; specYaml: string; spec: BatchSpec },
  ): Promise<{ id: number; created: boolean }> {
    const [userId, orgId] = nsParams(input.namespace);
    const rows = await tx.query<{ id: number; created: boolean }>(
      `INSERT INTO batch_changes (name, namespace_user_id, namespace_org_id, owner_user_id, description, spec_yaml, spec)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT ((COALESCE(namespace_user_id, 0)), (COALESCE(namespace_org_id, 0)), name)
       DO UPDATE SET description = excluded.description, spec_yaml = excluded.spec_yaml, spec = excluded.spec, updated_at = now()
       RETURNING id, (xmax = 0) AS created`,
      [input.name, userId, orgId, input.ownerUserId, input.description, input.specYaml, JSON.stringify(input.spec)],
    );
    return rows[0]!;
  }

  async getBatchChange(namespace: Pick<BatchNamespace, 'kind'> & { userId?: number; orgId?: number }, name: string): Promise<BatchChangeRow | null> {
    const [userId, orgId] = nsParams(namespace);
    const rows = await this.db.query<RawBatchChange>(
      `SELECT ${BATCH_CHANGE_COLUMNS} FROM ${BATCH_CHANGE_FROM}
       WHERE b.name = $1 AND b.namespace_user_id IS NOT DISTINCT FROM $2::bigint AND b.namespace_org_id IS NOT DISTINCT FROM $3::bigint`,
      [name, userId, orgId],
    );
    return rows[0] ? toBatchChange(rows[0]) : null;
  }

  async getBatchChangeById(id: number, db: Queryable = this.db): Promise<BatchChangeRow | null> {
    const rows = await db.query<RawBatchChange>(`SELECT ${BATCH_CHANGE_COLUMNS} FROM ${BATCH_CHANGE_FROM} WHERE b.id = $1`, [id]);
    return rows[0] ? toBatchChange(rows[0]) : null;
  }

  /** Every batch change (site admins), or those in the namespaces of `visibleTo` (the user's own and their organizations'). */
  async listBatchChanges(visibleTo?: number): Promise<BatchChangeRow[]> {
    const rows = await this.db.query<RawBatchChange>(
      `SELECT ${BATCH_CHANGE_COLUMNS} FROM ${BATCH_CHANGE_FROM}
       WHERE $1::bigint IS NULL OR b.namespace_user_id = $1 OR b.namespace_org_id IN (SELECT org_id FROM org_members WHERE user_id = $1)
       ORDER BY b.id`,
      [visibleTo ?? null],
    );
    return rows.map(toBatchChange);
  }

  // --- workspaces --------------------------------------------------------------------------------------

  /** Replaces the batch change's workspaces (and with them every execution of the old ones). */
  async replaceWorkspaces(tx: Queryable, batchChangeId: number, workspaces: readonly NewBatchWorkspace[]): Promise<void> {
    await tx.query(`DELETE FROM batch_executions WHERE batch_change_id = $1`, [batchChangeId]);
    await tx.query(`DELETE FROM batch_workspaces WHERE batch_change_id = $1`, [batchChangeId]);
    if (workspaces.length === 0) return;
    await tx.query(
      `INSERT INTO batch_workspaces (batch_change_id, position, repository_name, branch, commit, path, search_result_paths, only_fetch_workspace, skipped, skipped_reason)
       SELECT $1, w.position, w.repository_name, w.branch, w.commit, w.path, ARRAY(SELECT jsonb_array_elements_text(w.search_result_paths)), w.only_fetch_workspace, w.skipped, w.skipped_reason
       FROM jsonb_to_recordset($2::jsonb) AS w(position int, repository_name text, branch text, commit text, path text, search_result_paths jsonb, only_fetch_workspace boolean, skipped boolean, skipped_reason text)`,
      [
        batchChangeId,
        JSON.stringify(
          workspaces.map((w, position) => ({
            position,
            repository_name: w.repositoryName,
            branch: w.branch,
            commit: w.commit,
            path: w.path,
            search_result_paths: w.searchResultPaths,
            only_fetch_workspace: w.onlyFetchWorkspace,
            skipped: w.skipped,
            skipped_reason: w.skippedReason,
          })),
        ),
      ],
    );
  }

  async listWorkspaces(batchChangeId: number, db: Queryable = this.db): Promise<BatchWorkspaceRow[]> {
    return db.query<BatchWorkspaceRow>(`SELECT ${WORKSPACE_COLUMNS} FROM batch_workspaces w WHERE w.batch_change_id = $1 ORDER BY w.position`, [batchChangeId]);
  }

  // --- executions ----------------------------------------------------------------------------------------

  /** Holds the batch change's row until `tx` ends: one execute (or retry) of it at a time. */
  async lockBatchChange(tx: Queryable, id: number): Promise<void> {
    await tx.query(`SELECT id FROM batch_changes WHERE id = $1 FOR UPDATE`, [id]);
  }

  async createExecution(tx: Queryable, input: { batchChangeId: number; userId: number; noCache: boolean }): Promise<BatchExecutionRow> {
    const rows = await tx.query<BatchExecutionRow>(
      `INSERT INTO batch_executions (batch_change_id, state, no_cache, user_id) VALUES ($1, 'QUEUED', $2, $3) RETURNING ${EXECUTION_COLUMNS}`,
      [input.batchChangeId, input.noCache, input.userId],
    );
    return rows[0]!;
  }

  async latestExecution(batchChangeId: number, db: Queryable = this.db): Promise<BatchExecutionRow | null> {
    const rows = await db.query<BatchExecutionRow>(`SELECT ${EXECUTION_COLUMNS} FROM batch_executions WHERE batch_change_id = $1 ORDER BY id DESC LIMIT 1`, [batchChangeId]);
    return rows[0] ?? null;
  }

  async getExecution(id: number, db: Queryable = this.db): Promise<BatchExecutionRow | null> {
    return (await db.query<BatchExecutionRow>(`SELECT ${EXECUTION_COLUMNS} FROM batch_executions WHERE id = $1`, [id]))[0] ?? null;
  }

  /** Sets an execution's state; `finished_at` is set when it becomes terminal and cleared when it is not. */
  async setExecutionState(id: number, state: BatchExecutionState, db: Queryable = this.db): Promise<void> {
    await db.query(
      `UPDATE batch_executions SET state = $2,
         finished_at = CASE WHEN $2 IN ('COMPLETED', 'FAILED', 'CANCELED') THEN COALESCE(finished_at, now()) ELSE NULL END
       WHERE id = $1`,
      [id, state],
    );
  }

  /** How many of the execution's workspaces are in each state. */
  async workspaceStateCounts(executionId: number, db: Queryable = this.db): Promise<Map<BatchExecutionState, number>> {
    const rows = await db.query<{ state: BatchExecutionState; count: number }>(
      `SELECT state, count(*)::int AS count FROM batch_workspace_executions WHERE execution_id = $1 GROUP BY state`,
      [executionId],
    );
    return new Map(rows.map((r) => [r.state, r.count]));
  }

  // --- workspace executions ---------------------------------------------------------------------------

  async insertWorkspaceExecution(tx: Queryable, e: NewWorkspaceExecution): Promise<number> {
    const rows = await tx.query<{ id: number }>(
      `INSERT INTO batch_workspace_executions (execution_id, workspace_id, state, job_id, cache_key, cached, result, failure_message, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $3 IN ('COMPLETED', 'FAILED', 'CANCELED') THEN now() END) RETURNING id`,
      [e.executionId, e.workspaceId, e.state, e.jobId, e.cacheKey, e.cached, e.result === null ? null : JSON.stringify(e.result), e.failureMessage],
    );
    return rows[0]!.id;
  }

  async listWorkspaceExecutions(executionId: number, db: Queryable = this.db): Promise<WorkspaceExecutionRow[]> {
    return db.query<WorkspaceExecutionRow>(`SELECT ${WORKSPACE_EXECUTION_COLUMNS} FROM batch_workspace_executions we WHERE we.execution_id = $1 ORDER BY we.id`, [executionId]);
  }

  /** The workspace execution of a `batches` job, with its workspace; null for a job no batch change made. One round trip (every dequeue and result asks). */
  async contextForJob(jobId: number): Promise<WorkspaceExecutionContext | null> {
    const rows = await this.db.query<WorkspaceExecutionRow & { batchChangeId: number; userId: number | null } & Record<`w_${string}`, unknown>>(
      `SELECT ${WORKSPACE_EXECUTION_COLUMNS}, e.batch_change_id AS "batchChangeId", e.user_id AS "userId",
         w.position AS w_position, w.repository_name AS w_repository_name, w.branch AS w_branch, w.commit AS w_commit, w.path AS w_path,
         w.search_result_paths AS w_search_result_paths, w.only_fetch_workspace AS w_only_fetch_workspace, w.skipped AS w_skipped, w.skipped_reason AS w_skipped_reason
       FROM batch_workspace_executions we JOIN batch_executions e ON e.id = we.execution_id JOIN batch_workspaces w ON w.id = we.workspace_id
       WHERE we.job_id = $1`,
      [jobId],
    );
    const r = rows[0];
    if (!r) return null;
    const { batchChangeId, userId, w_position, w_repository_name, w_branch, w_commit, w_path, w_search_result_paths, w_only_fetch_workspace, w_skipped, w_skipped_reason, ...execution } = r;
    const workspace: BatchWorkspaceRow = {
      id: execution.workspaceId,
      batchChangeId,
      position: w_position as number,
      repositoryName: w_repository_name as string,
      branch: w_branch as string,
      commit: w_commit as string,
      path: w_path as string,
      searchResultPaths: w_search_result_paths as string[],
      onlyFetchWorkspace: w_only_fetch_workspace as boolean,
      skipped: w_skipped as boolean,
      skippedReason: w_skipped_reason as string | null,
    };
    return { execution: execution as WorkspaceExecutionRow, workspace, batchChangeId, userId };
  }

  /** A live workspace execution → COMPLETED with its result; false when it is not live (canceled, failed) any more. */
  async completeWorkspaceExecution(id: number, result: BatchExecutionResult, db: Queryable = this.db): Promise<boolean> {
    const rows = await db.query(
      `UPDATE batch_workspace_executions SET state = 'COMPLETED', result = $2, failure_message = NULL, finished_at = now()
       WHERE id = $1 AND state IN ('QUEUED', 'PROCESSING', 'CANCELING') RETURNING id`,
      [id, JSON.stringify(result)],
    );
    return rows.length > 0;
  }

  /** A live workspace execution → FAILED with `message`; false when it is not live any more. */
  async failWorkspaceExecution(id: number, message: string, db: Queryable = this.db): Promise<boolean> {
    const rows = await db.query(
      `UPDATE batch_workspace_executions SET state = 'FAILED', failure_message = $2, finished_at = now()
       WHERE id = $1 AND state IN ('QUEUED', 'PROCESSING', 'CANCELING') RETURNING id`,
      [id, message],
    );
    return rows.length > 0;
  }

  /**
   * A COMPLETED workspace execution → FAILED with `message`: its result was stored but the changeset side
   * could not use it (a changesetTemplate that fails on it). False when it is not COMPLETED.
   */
  async failCompletedWorkspaceExecution(executionId: number, workspaceId: number, message: string, db: Queryable = this.db): Promise<boolean> {
    const rows = await db.query(
      `UPDATE batch_workspace_executions SET state = 'FAILED', failure_message = $3
       WHERE execution_id = $1 AND workspace_id = $2 AND state = 'COMPLETED' RETURNING id`,
      [executionId, workspaceId, message],
    );
    return rows.length > 0;
  }

  /** After a cancel of its job: CANCELED (the job was queued) or CANCELING (it runs). */
  async markCanceled(id: number, state: 'CANCELED' | 'CANCELING'): Promise<void> {
    await this.db.query(
      `UPDATE batch_workspace_executions SET state = $2, finished_at = CASE WHEN $2 = 'CANCELED' THEN now() END
       WHERE id = $1 AND state IN ('QUEUED', 'PROCESSING', 'CANCELING')`,
      [id, state],
    );
  }

  /** A finished workspace execution runs again: a new job (or a cached result) in the same row. */
  async resetWorkspaceExecution(
    tx: Queryable,
    id: number,
    next: { state: BatchExecutionState; jobId: number | null; cacheKey: string; cached: boolean; result: BatchExecutionResult | null },
  ): Promise<boolean> {
    const rows = await tx.query(
      `UPDATE batch_workspace_executions SET state = $2, job_id = $3, cache_key = $4, cached = $5, result = $6, failure_message = NULL,
         created_at = now(), started_at = NULL, finished_at = CASE WHEN $2 IN ('COMPLETED', 'FAILED', 'CANCELED') THEN now() END
       WHERE id = $1 AND state IN ('COMPLETED', 'FAILED', 'CANCELED') RETURNING id`,
      [id, next.state, next.jobId, next.cacheKey, next.cached, next.result === null ? null : JSON.stringify(next.result)],
    );
    return rows.length > 0;
  }

  /** The jobs of the batch change's executions that may still run (to cancel before its workspaces are replaced). */
  async liveJobs(batchChangeId: number, db: Queryable = this.db): Promise<Array<{ id: number; jobId: number }>> {
    return db.query(
      `SELECT we.id, we.job_id AS "jobId" FROM batch_workspace_executions we JOIN batch_executions e ON e.id = we.execution_id
       WHERE e.batch_change_id = $1 AND we.state IN ('QUEUED', 'PROCESSING', 'CANCELING') AND we.job_id IS NOT NULL`,
      [batchChangeId],
    );
  }

  /**
   * Moves live workspace executions along with their jobs' states, in one statement: queued (or errored,
   * to be retried) → QUEUED, processing → PROCESSING (CANCELING with the cancel flag), canceled →
   * CANCELED, failed → FAILED with the job's message, completed without a stored result → FAILED (the
   * result arrives before the job completes). A job that is gone fails its workspace. Returns the
   * executions touched.
   */
  async settleFromJobs(db: Queryable = this.db): Promise<number[]> {
    const rows = await db.query<{ executionId: number }>(
      `WITH live AS (
         SELECT we.id, we.state AS old_state, j.id AS job, j.state AS job_state, j.cancel, j.failure_message AS job_failure, j.started_at AS job_started
         FROM batch_workspace_executions we LEFT JOIN jobs j ON j.id = we.job_id
         WHERE we.state IN ('QUEUED', 'PROCESSING', 'CANCELING')
       ), next AS (
         SELECT id, old_state, job_started, CASE
             WHEN job IS NULL THEN 'FAILED'
             WHEN job_state IN ('queued', 'errored') THEN CASE WHEN cancel THEN 'CANCELING' ELSE 'QUEUED' END
             WHEN job_state = 'processing' THEN CASE WHEN cancel THEN 'CANCELING' ELSE 'PROCESSING' END
             WHEN job_state = 'canceled' THEN 'CANCELED'
             ELSE 'FAILED'
           END AS state,
           CASE
             WHEN job IS NULL THEN 'the job of this workspace was deleted'
             WHEN job_state = 'failed' THEN COALESCE(job_failure, 'the job failed')
             WHEN job_state = 'completed' THEN 'the job completed without uploading its result'
           END AS failure
         FROM live
       )
       UPDATE batch_workspace_executions we SET state = next.state,
         failure_message = CASE WHEN next.state = 'FAILED' THEN COALESCE(we.failure_message, next.failure) ELSE we.failure_message END,
         started_at = COALESCE(we.started_at, next.job_started),
         finished_at = CASE WHEN next.state IN ('FAILED', 'CANCELED') THEN now() ELSE we.finished_at END
       FROM next WHERE we.id = next.id AND (next.state <> next.old_state OR (we.started_at IS NULL AND next.job_started IS NOT NULL))
         -- A row a result (or a cancel) changed since the CTE read it is re-checked here on its new version:
         -- left as it is, not overwritten with a state computed from the old one.
         AND we.state = next.old_state
       RETURNING we.execution_id AS "executionId"`,
    );
    return [...new Set(rows.map((r) => r.executionId))];
  }

  /** Executions not yet terminal (to settle their state even when no workspace moved). */
  async liveExecutionIds(db: Queryable = this.db): Promise<number[]> {
    const rows = await db.query<{ id: number }>(`SELECT id FROM batch_executions WHERE state IN ('QUEUED', 'PROCESSING', 'CANCELING')`);
    return rows.map((r) => r.id);
  }

  // --- step cache ------------------------------------------------------------------------------------------

  /** The user's cached results of `cacheKeys` (those there are), in one round trip. */
  async cachedResults(userId: number, cacheKeys: readonly string[], db: Queryable = this.db): Promise<Map<string, BatchExecutionResult>> {
    if (cacheKeys.length === 0) return new Map();
    const rows = await db.query<{ cacheKey: string; result: BatchExecutionResult }>(
      `SELECT cache_key AS "cacheKey", result FROM batch_step_cache WHERE user_id = $1 AND cache_key = ANY($2::text[])`,
      [userId, [...new Set(cacheKeys)]],
    );
    return new Map(rows.map((r) => [r.cacheKey, r.result]));
  }

  async putCachedResult(userId: number, cacheKey: string, result: BatchExecutionResult, db: Queryable = this.db): Promise<void> {
    await db.query(
      `INSERT INTO batch_step_cache (user_id, cache_key, result) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, cache_key) DO UPDATE SET result = excluded.result, created_at = now()`,
      [userId, cacheKey, JSON.stringify(result)],
    );
  }
}
