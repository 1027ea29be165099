// Batch changes' changeset specs and changesets (migration 0009): specs replaced per workspace result
// and superseded per execution, changesets created and moved through their states by apply and publish.
import type { ChangesetState } from '../batches/changesets/changeset-state.js';
import type { Database, Queryable } from './database.js';

/** A changeset spec as the builder makes it, before it is stored. */
export interface NewChangesetSpec {
  batchChangeId: number;
  executionId: number;
  workspaceId: number;
  repositoryName: string;
  baseBranch: string;
  baseCommit: string;
  headBranch: string;
  /** The transformChanges group's directory; '' for the workspace's own changeset. */
  groupDirectory: string;
  title: string;
  body: string;
  commitMessage: string;
  /** Null: the batch change's owner. */
  author: { name: string; email: string } | null;
  diff: string;
  addedLines: number;
  deletedLines: number;
  published: 'true' | 'false' | 'draft';
}

export interface ChangesetSpecRow extends NewChangesetSpec {
  id: number;
  superseded: boolean;
  createdAt: Date;
}

export interface ChangesetRow {
  id: number;
  batchChangeId: number;
  repositoryName: string;
  headBranch: string;
  baseBranch: string;
  state: ChangesetState;
  currentSpecId: number | null;
  pushedSpecId: number | null;
  pushedCommit: string | null;
  publishedAt: Date | null;
  mergedAt: Date | null;
  closedAt: Date | null;
  stateCheckedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const SPEC_COLUMNS = `id, batch_change_id AS "batchChangeId", execution_id AS "executionId", workspace_id AS "workspaceId",
  repository_name AS "repositoryName", base_branch AS "baseBranch", base_commit AS "baseCommit", head_branch AS "headBranch",
  group_directory AS "groupDirectory", title, body, commit_message AS "commitMessage", author_name AS "authorName",
  author_email AS "authorEmail", diff, added_lines AS "addedLines", deleted_lines AS "deletedLines", published, superseded,
  created_at AS "createdAt"`;

const CHANGESET_COLUMNS = `id, batch_change_id AS "batchChangeId", repository_name AS "repositoryName", head_branch AS "headBranch",
  base_branch AS "baseBranch", state, current_spec_id AS "currentSpecId", pushed_spec_id AS "pushedSpecId",
  pushed_commit AS "pushedCommit", published_at AS "publishedAt", merged_at AS "mergedAt", closed_at AS "closedAt",
  state_checked_at AS "stateCheckedAt", created_at AS "createdAt", updated_at AS "updatedAt"`;

type SpecDbRow = Omit<ChangesetSpecRow, 'author'> & { authorName: string | null; authorEmail: string | null };

function specFromDb(row: SpecDbRow): ChangesetSpecRow {
  const { authorName, authorEmail, ...rest } = row;
  return { ...rest, author: authorName !== null && authorEmail !== null ? { name: authorName, email: authorEmail } : null };
}

/** Whether a stored spec says exactly what a new one says (a replayed result then keeps its spec's id). */
function sameSpec(a: NewChangesetSpec, b: NewChangesetSpec): boolean {
  return (
    a.repositoryName === b.repositoryName &&
    a.baseBranch === b.baseBranch &&
    a.baseCommit === b.baseCommit &&
    a.headBranch === b.headBranch &&
    a.groupDirectory === b.groupDirectory &&
    a.title === b.title &&
    a.body === b.body &&
    a.commitMessage === b.commitMessage &&
    a.author?.name === b.author?.name &&
    a.author?.email === b.author?.email &&
    a.diff === b.diff &&
    a.published === b.published
  );
}

export class ChangesetStore {
  constructor(private readonly db: Database) {}

  /**
   * Replaces the specs of one workspace of one execution with `specs` in one transaction: a spec equal to
   * a stored one keeps the stored row (and its id), the others are deleted and inserted. A result of an
   * execution older than the batch change's latest is stored superseded. Returns the workspace's specs.
   */
  async replaceWorkspaceSpecs(batchChangeId: number, executionId: number, workspaceId: number, specs: readonly NewChangesetSpec[]): Promise<ChangesetSpecRow[]> {
    return this.db.transaction(async (tx) => {
      // Serialises results of one workspace (a replay racing the first delivery) on the latest-execution row.
      const latest = await this.lockLatestExecution(tx, batchChangeId, executionId);
      const superseded = executionId < latest;
      const existing = (await tx.query<SpecDbRow>(`SELECT ${SPEC_COLUMNS} FROM batch_changeset_specs WHERE execution_id = $1 AND workspace_id = $2 ORDER BY id`, [executionId, workspaceId])).map(specFromDb);
      const kept: ChangesetSpecRow[] = [];
      const toInsert: NewChangesetSpec[] = [];
      for (const spec of specs) {
        const same = existing.find((e) => !kept.includes(e) && sameSpec(e, spec));
        if (same) kept.push(same);
        else toInsert.push(spec);
      }
      const stale = existing.filter((e) => !kept.includes(e)).map((e) => e.id);
      if (stale.length > 0) await tx.query(`DELETE FROM batch_changeset_specs WHERE id = ANY($1::bigint[])`, [stale]);
      const inserted: ChangesetSpecRow[] = [];
      for (const s of toInsert) {
        const rows = await tx.query<SpecDbRow>(
          `INSERT INTO batch_changeset_specs (batch_change_id, execution_id, workspace_id, repository_name, base_branch, base_commit,
             head_branch, group_directory, title, body, commit_message, author_name, author_email, diff, added_lines, deleted_lines,
             published, superseded)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
           RETURNING ${SPEC_COLUMNS}`,
          [
            s.batchChangeId, s.executionId, s.workspaceId, s.repositoryName, s.baseBranch, s.baseCommit, s.headBranch, s.groupDirectory,
            s.title, s.body, s.commitMessage, s.author?.name ?? null, s.author?.email ?? null, s.diff, s.addedLines, s.deletedLines,
            s.published, superseded,
          ],
        );
        inserted.push(specFromDb(rows[0]!));
      }
      return [...kept, ...inserted].sort((a, b) => a.id - b.id);
    });
  }

  /**
   * Execution `executionId` started: the specs of the batch change's earlier executions are superseded,
   * and those no changeset points at are deleted.
   */
  async supersedeBefore(batchChangeId: number, executionId: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const latest = await this.lockLatestExecution(tx, batchChangeId, executionId);
      await tx.query(`UPDATE batch_changeset_specs SET superseded = true WHERE batch_change_id = $1 AND execution_id < $2 AND NOT superseded`, [batchChangeId, latest]);
      await tx.query(
        `DELETE FROM batch_changeset_specs s WHERE s.batch_change_id = $1 AND s.superseded
           AND NOT EXISTS (SELECT 1 FROM batch_changesets c WHERE c.current_spec_id = s.id OR c.pushed_spec_id = s.id)`,
        [batchChangeId],
      );
    });
  }

  /** Records `executionId` as seen (the latest is the largest) and returns the latest, holding its row lock. */
  private async lockLatestExecution(tx: Queryable, batchChangeId: number, executionId: number): Promise<number> {
    const rows = await tx.query<{ executionId: number }>(
      `INSERT INTO batch_changeset_executions (batch_change_id, latest_execution_id) VALUES ($1, $2)
       ON CONFLICT (batch_change_id) DO UPDATE SET latest_execution_id = GREATEST(batch_changeset_executions.latest_execution_id, excluded.latest_execution_id)
       RETURNING latest_execution_id AS "executionId"`,
      [batchChangeId, executionId],
    );
    return rows[0]!.executionId;
  }

  /** The batch change's current (not superseded) specs, by repository, branch and id. */
  async currentSpecs(batchChangeId: number): Promise<ChangesetSpecRow[]> {
    const rows = await this.db.query<SpecDbRow>(
      `SELECT ${SPEC_COLUMNS} FROM batch_changeset_specs WHERE batch_change_id = $1 AND NOT superseded ORDER BY repository_name, head_branch, id`,
      [batchChangeId],
    );
    return rows.map(specFromDb);
  }

  async specsByIds(ids: readonly number[]): Promise<Map<number, ChangesetSpecRow>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db.query<SpecDbRow>(`SELECT ${SPEC_COLUMNS} FROM batch_changeset_specs WHERE id = ANY($1::bigint[])`, [[...new Set(ids)]]);
    return new Map(rows.map((r) => [r.id, specFromDb(r)]));
  }

  async listChangesets(batchChangeId: number): Promise<ChangesetRow[]> {
    return this.db.query<ChangesetRow>(`SELECT ${CHANGESET_COLUMNS} FROM batch_changesets WHERE batch_change_id = $1 ORDER BY repository_name, head_branch`, [batchChangeId]);
  }

  async getChangeset(batchChangeId: number, id: number): Promise<ChangesetRow | null> {
    return (await this.db.query<ChangesetRow>(`SELECT ${CHANGESET_COLUMNS} FROM batch_changesets WHERE batch_change_id = $1 AND id = $2`, [batchChangeId, id]))[0] ?? null;
  }

  /** The changeset of (repository, branch), made UNPUBLISHED if new, with `spec` as its current spec. */
  async attachSpec(spec: ChangesetSpecRow): Promise<ChangesetRow> {
    const rows = await this.db.query<ChangesetRow>(
      `INSERT INTO batch_changesets (batch_change_id, repository_name, head_branch, base_branch, current_spec_id)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (batch_change_id, repository_name, head_branch) DO UPDATE SET current_spec_id = excluded.current_spec_id,
         base_branch = excluded.base_branch, updated_at = now()
       RETURNING ${CHANGESET_COLUMNS}`,
      [spec.batchChangeId, spec.repositoryName, spec.headBranch, spec.baseBranch, spec.id],
    );
    return rows[0]!;
  }

  /** The branch now holds `commit` of `specId`: OPEN. */
  async markPushed(id: number, specId: number, commit: string): Promise<ChangesetRow> {
    const rows = await this.db.query<ChangesetRow>(
      `UPDATE batch_changesets SET state = 'OPEN', pushed_spec_id = $2, pushed_commit = $3, published_at = COALESCE(published_at, now()),
         closed_at = NULL, state_checked_at = now(), updated_at = now()
       WHERE id = $1 RETURNING ${CHANGESET_COLUMNS}`,
      [id, specId, commit],
    );
    return rows[0]!;
  }

  /** The branch's commit is the one `specId` makes too (an unchanged re-run): the spec it was pushed from is `specId` now. */
  async setPushedSpec(id: number, specId: number): Promise<ChangesetRow> {
    const rows = await this.db.query<ChangesetRow>(`UPDATE batch_changesets SET pushed_spec_id = $2, updated_at = now() WHERE id = $1 RETURNING ${CHANGESET_COLUMNS}`, [id, specId]);
    return rows[0]!;
  }

  /** CLOSED: its branch is gone. `detach` (the repository left the spec) also drops its current spec. */
  async markClosed(id: number, options: { detach: boolean }): Promise<void> {
    await this.db.query(
      `UPDATE batch_changesets SET state = 'CLOSED', closed_at = now(), state_checked_at = now(), updated_at = now(),
         current_spec_id = CASE WHEN $2 THEN NULL ELSE current_spec_id END
       WHERE id = $1`,
      [id, options.detach],
    );
  }

  async markMerged(id: number): Promise<void> {
    await this.db.query(`UPDATE batch_changesets SET state = 'MERGED', merged_at = now(), state_checked_at = now(), updated_at = now() WHERE id = $1`, [id]);
  }

  /** OPEN changesets of the batch change to check against git, the least recently checked first. */
  async openChangesetsToCheck(batchChangeId: number, limit: number): Promise<Array<ChangesetRow & { pushedCommit: string }>> {
    return this.db.query<ChangesetRow & { pushedCommit: string }>(
      `SELECT ${CHANGESET_COLUMNS} FROM batch_changesets WHERE batch_change_id = $1 AND state = 'OPEN' AND pushed_commit IS NOT NULL
       ORDER BY state_checked_at NULLS FIRST, id LIMIT $2`,
      [batchChangeId, limit],
    );
  }

  /** Checked against git and found unchanged. */
  async markChecked(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(`UPDATE batch_changesets SET state_checked_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
  }
}
