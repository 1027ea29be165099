// The changeset side of batch changes: it implements the ChangesetHook the execution side calls (a
// workspace's result becomes changeset specs; a new execution supersedes the earlier specs), and answers
// the preview, apply, publish and list routes: which changeset each current spec creates or updates, which
// ones close (their repository left the spec), pushing branches into the coordinator's git, and the states
// read back from it.
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { ChangesetStore, type ChangesetRow, type ChangesetSpecRow } from '../../store/changeset-store.js';
import type { Database } from '../../store/database.js';
import type { UserStore } from '../../store/user-store.js';
import type { BatchChangeRef } from '../batch-change-lookup.js';
import type { ChangesetHook, CompletedWorkspace } from '../changeset-hook.js';
import { buildChangesetSpecs } from './changeset-spec-builder.js';
import { ChangesetPublisher, type CommitAuthor } from './changeset-publisher.js';
import { detectPublishedState } from './changeset-state.js';

/** What apply does to a changeset: a new branch, a new commit (or a reopened one), a deleted branch, nothing. */
export type ChangesetOperation = 'create' | 'update' | 'close' | 'none';

export interface PlannedChangeset {
  operation: ChangesetOperation;
  /** The spec it is applied from; for a close, the spec it was last applied from (null if none is left). */
  spec: ChangesetSpecRow | null;
  /** The changeset as it is now; null before its first apply. */
  changeset: ChangesetRow | null;
  /** Whether apply pushes the branch (published, or published before and now updated). */
  push: boolean;
  /** The branch already holds the commit this spec makes (pushed from it, or from an equal earlier spec). */
  samePushed: boolean;
}

export interface AppliedChangeset {
  operation: ChangesetOperation;
  changeset: ChangesetRow;
}

/** Two current specs would push the same branch of the same repository: apply refuses, naming both. */
export class DuplicateBranchError extends AppError {
  constructor(
    readonly repositoryName: string,
    readonly branch: string,
    readonly specs: ReadonlyArray<Pick<ChangesetSpecRow, 'id' | 'workspaceId' | 'groupDirectory'>>,
  ) {
    super(
      'changesets.duplicate_branch',
      `${specs.map(describeSpec).join(' and ')} would both push branch ${JSON.stringify(branch)} of ${repositoryName}: give them different branches (changesetTemplate.branch, or the transformChanges groups)`,
    );
  }
}

function describeSpec(s: Pick<ChangesetSpecRow, 'id' | 'workspaceId' | 'groupDirectory'>): string {
  return `changeset spec ${s.id} (workspace ${s.workspaceId}${s.groupDirectory !== '' ? `, group ${JSON.stringify(s.groupDirectory)}` : ''})`;
}

/** Looks a batch change up by id: the hook's workspaces name only the id (the lookup finds by name). */
export type BatchChangeById = (batchChangeId: number) => Promise<BatchChangeRef | undefined>;

export interface ChangesetServiceDeps {
  store: ChangesetStore;
  publisher: ChangesetPublisher;
  users: Pick<UserStore, 'get'>;
  batchChangeById: BatchChangeById;
  logger: Logger;
}

/** How many published changesets one read re-checks against git (the least recently checked first). */
export const STATE_REFRESH_MAX_PER_READ = 200;
/** How many git checks run at once during a refresh (each is two short git processes). */
const STATE_REFRESH_CONCURRENCY = 4;
/** The email of a default author: users have no email here; `.invalid` (RFC 2606) says it reaches nobody. */
export const DEFAULT_AUTHOR_EMAIL_DOMAIN = 'users.noreply.invalid';

const keyOf = (repositoryName: string, branch: string) => `${repositoryName}\u0000${branch}`;

/** Whether two specs make the same commit (a re-run that changed nothing pushes nothing new). */
function sameCommit(a: ChangesetSpecRow, b: ChangesetSpecRow): boolean {
  return (
    a.baseCommit === b.baseCommit &&
    a.diff === b.diff &&
    a.commitMessage === b.commitMessage &&
    a.author?.name === b.author?.name &&
    a.author?.email === b.author?.email
  );
}

export class ChangesetService implements ChangesetHook {
  /** Apply and publish of one batch change run one at a time (in this process). */
  private readonly running = new Map<number, Promise<unknown>>();

  constructor(private readonly deps: ChangesetServiceDeps) {}

  async workspaceCompleted(workspace: CompletedWorkspace): Promise<void> {
    const ref = await this.deps.batchChangeById(workspace.batchChangeId);
    if (!ref) {
      this.deps.logger.warn('changeset specs not made: no such batch change', { batchChangeId: workspace.batchChangeId, workspaceId: workspace.workspaceId });
      return;
    }
    const specs = buildChangesetSpecs(ref.spec, workspace);
    await this.deps.store.replaceWorkspaceSpecs(workspace.batchChangeId, workspace.executionId, workspace.workspaceId, specs);
  }

  async executionStarted(batchChangeId: number, executionId: number): Promise<void> {
    await this.deps.store.supersedeBefore(batchChangeId, executionId);
  }

  /** What apply would do now, after re-reading published changesets' states from git. */
  async preview(ref: BatchChangeRef): Promise<PlannedChangeset[]> {
    await this.refreshStates(ref);
    return this.plan(ref);
  }

  /** The batch change's changesets, states re-read from git first. */
  async list(ref: BatchChangeRef): Promise<ChangesetRow[]> {
    await this.refreshStates(ref);
    return this.deps.store.listChangesets(ref.id);
  }

  async specsOf(changesets: readonly ChangesetRow[]): Promise<Map<number, ChangesetSpecRow>> {
    return this.deps.store.specsByIds(changesets.flatMap((c) => (c.currentSpecId !== null ? [c.currentSpecId] : [])));
  }

  /**
   * Applies the current specs: creates or updates a changeset per spec and pushes those to publish,
   * closes (deletes the branch of) those whose repository left the spec. Every commit is made before any
   * branch moves, so a diff that does not apply refuses the whole apply with nothing pushed.
   * @throws DuplicateBranchError; AppError `changesets.patch_does_not_apply`, `changesets.base_missing`,
   *   `changesets.invalid_branch`, `changesets.invalid_author`, `changesets.branch_moved`.
   */
  async apply(ref: BatchChangeRef): Promise<AppliedChangeset[]> {
    return this.serialized(ref.id, async () => {
      await this.refreshStates(ref);
      const plan = await this.plan(ref);
      const byKey = new Map<string, PlannedChangeset[]>();
      for (const p of plan) {
        if (!p.spec || p.operation === 'close') continue;
        const key = keyOf(p.spec.repositoryName, p.spec.headBranch);
        byKey.set(key, [...(byKey.get(key) ?? []), p]);
      }
      for (const same of byKey.values()) {
        if (same.length > 1) throw new DuplicateBranchError(same[0]!.spec!.repositoryName, same[0]!.spec!.headBranch, same.map((p) => p.spec!));
      }
      // Commits first: nothing moves unless every branch to push has its commit.
      const commits = new Map<PlannedChangeset, string>();
      for (const p of plan) if (p.push) commits.set(p, await this.commitFor(ref, p.spec!));

      const applied: AppliedChangeset[] = [];
      for (const p of plan) {
        if (p.operation === 'close') {
          applied.push({ operation: 'close', changeset: await this.close(p.changeset!) });
          continue;
        }
        const spec = p.spec!;
        let changeset = p.changeset && p.changeset.currentSpecId === spec.id ? p.changeset : await this.deps.store.attachSpec(spec);
        // The branch already holds this spec's commit (from an earlier spec that said the same): it is this spec's now.
        if (p.samePushed && changeset.pushedSpecId !== spec.id) changeset = await this.deps.store.setPushedSpec(changeset.id, spec.id);
        const commit = commits.get(p);
        if (commit !== undefined) changeset = await this.push(changeset, spec, commit);
        applied.push({ operation: p.operation, changeset });
      }
      return applied;
    });
  }

  /**
   * Pushes one changeset's current spec, whatever `published` says.
   * @throws AppError `changesets.not_found`, `changesets.no_spec`, `changesets.merged`, and apply's git errors.
   */
  async publish(ref: BatchChangeRef, changesetId: number): Promise<ChangesetRow> {
    return this.serialized(ref.id, async () => {
      await this.refreshStates(ref);
      const changeset = await this.deps.store.getChangeset(ref.id, changesetId);
      if (!changeset) throw new AppError('changesets.not_found', `batch change ${ref.name} has no changeset ${changesetId}`);
      if (changeset.state === 'MERGED') throw new AppError('changesets.merged', `changeset ${changesetId} (${changeset.repositoryName}, branch ${changeset.headBranch}) is merged already`);
      if (changeset.currentSpecId === null) {
        throw new AppError('changesets.no_spec', `changeset ${changesetId} (${changeset.repositoryName}, branch ${changeset.headBranch}) has no spec to publish: its repository left the batch spec`);
      }
      if (changeset.state === 'OPEN' && changeset.pushedSpecId === changeset.currentSpecId) return changeset;
      const spec = (await this.deps.store.specsByIds([changeset.currentSpecId])).get(changeset.currentSpecId)!;
      const commit = await this.commitFor(ref, spec);
      return this.push(changeset, spec, commit);
    });
  }

  /**
   * Re-reads the state of the batch change's OPEN changesets from git (at most STATE_REFRESH_MAX_PER_READ,
   * the least recently checked first): MERGED when the pushed commit reached the base branch, CLOSED when
   * the branch is gone.
   */
  async refreshStates(ref: BatchChangeRef): Promise<void> {
    const open = await this.deps.store.openChangesetsToCheck(ref.id, STATE_REFRESH_MAX_PER_READ);
    const unchanged: number[] = [];
    const queue = [...open];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const state = await detectPublishedState(this.deps.publisher.repositoryDir(c.repositoryName), { headBranch: c.headBranch, baseBranch: c.baseBranch, pushedCommit: c.pushedCommit });
        if (state === 'MERGED') {
          await this.deps.store.markMerged(c.id);
        } else if (state === 'CLOSED') {
          await this.deps.publisher.forgetBranch(c.repositoryName, c.headBranch);
          await this.deps.store.markClosed(c.id, { detach: false });
        } else {
          unchanged.push(c.id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATE_REFRESH_CONCURRENCY, open.length) }, worker));
    await this.deps.store.markChecked(unchanged);
  }

  /** What apply would do, from the current specs and changesets as stored. */
  private async plan(ref: BatchChangeRef): Promise<PlannedChangeset[]> {
    const specs = await this.deps.store.currentSpecs(ref.id);
    const changesets = await this.deps.store.listChangesets(ref.id);
    const byKey = new Map(changesets.map((c) => [keyOf(c.repositoryName, c.headBranch), c]));
    const earlier = await this.deps.store.specsByIds(changesets.flatMap((c) => [c.currentSpecId, c.pushedSpecId].filter((id): id is number => id !== null)));
    const matched = new Set<number>();
    const plan: PlannedChangeset[] = [];
    for (const spec of specs) {
      const changeset = byKey.get(keyOf(spec.repositoryName, spec.headBranch)) ?? null;
      if (!changeset) {
        plan.push({ operation: 'create', spec, changeset: null, push: spec.published === 'true', samePushed: false });
        continue;
      }
      matched.add(changeset.id);
      if (changeset.state === 'MERGED') {
        plan.push({ operation: 'none', spec, changeset, push: false, samePushed: false });
        continue;
      }
      const pushed = changeset.pushedSpecId !== null ? earlier.get(changeset.pushedSpecId) : undefined;
      const current = changeset.currentSpecId !== null ? earlier.get(changeset.currentSpecId) : undefined;
      const pushedSame = pushed !== undefined && (pushed.id === spec.id || sameCommit(pushed, spec));
      // An OPEN changeset follows its spec; an UNPUBLISHED one is pushed when published; a CLOSED one is
      // pushed again when published and either apply closed it (its repository left the spec and came
      // back) or its change differs from what was deleted (a deleted branch is not brought back as it was).
      const push =
        changeset.state === 'OPEN'
          ? !pushedSame
          : spec.published === 'true' && (changeset.state === 'UNPUBLISHED' || current === undefined || !pushedSame);
      const samePushed = changeset.state === 'OPEN' && pushedSame;
      const sameCurrent = current !== undefined && (current.id === spec.id || (sameCommit(current, spec) && current.title === spec.title && current.body === spec.body));
      plan.push({ operation: push || !sameCurrent ? 'update' : 'none', spec, changeset, push, samePushed });
    }
    for (const changeset of changesets) {
      if (matched.has(changeset.id) || (changeset.state !== 'OPEN' && changeset.state !== 'UNPUBLISHED')) continue;
      const spec = changeset.currentSpecId !== null ? (earlier.get(changeset.currentSpecId) ?? null) : null;
      plan.push({ operation: 'close', spec, changeset, push: false, samePushed: false });
    }
    return plan.sort((a, b) => {
      const [ra, ba] = a.spec ? [a.spec.repositoryName, a.spec.headBranch] : [a.changeset!.repositoryName, a.changeset!.headBranch];
      const [rb, bb] = b.spec ? [b.spec.repositoryName, b.spec.headBranch] : [b.changeset!.repositoryName, b.changeset!.headBranch];
      return ra < rb ? -1 : ra > rb ? 1 : ba < bb ? -1 : ba > bb ? 1 : (a.spec?.id ?? 0) - (b.spec?.id ?? 0);
    });
  }

  /** The commit a spec's branch gets: its diff on its base commit, authored as the spec says or by the owner. */
  private async commitFor(ref: BatchChangeRef, spec: ChangesetSpecRow): Promise<string> {
    const problem = await this.deps.publisher.branchProblem(spec.repositoryName, spec.headBranch, spec.baseBranch);
    if (problem !== null) throw new AppError('changesets.invalid_branch', `${describeSpec(spec)} in ${spec.repositoryName}: ${problem}`);
    const author = spec.author ?? (await this.ownerAuthor(ref.ownerUserId));
    try {
      return await this.deps.publisher.commitPatch({ repositoryName: spec.repositoryName, baseCommit: spec.baseCommit, diff: spec.diff, message: spec.commitMessage, author });
    } catch (err) {
      if (err instanceof AppError) throw new AppError(err.code, `${describeSpec(spec)}, branch ${spec.headBranch}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  private async ownerAuthor(userId: number): Promise<CommitAuthor> {
    const owner = await this.deps.users.get(userId);
    const name = owner?.username ?? 'batch-changes';
    return { name, email: `${name}@${DEFAULT_AUTHOR_EMAIL_DOMAIN}` };
  }

  private async push(changeset: ChangesetRow, spec: ChangesetSpecRow, commit: string): Promise<ChangesetRow> {
    // An OPEN changeset's branch must still be where it was pushed; any other must not exist.
    const expected = changeset.state === 'OPEN' ? changeset.pushedCommit : null;
    await this.deps.publisher.moveBranch(spec.repositoryName, spec.headBranch, commit, expected);
    this.deps.logger.info('changeset pushed', { repository: spec.repositoryName, branch: spec.headBranch, commit, changesetId: changeset.id });
    return this.deps.store.markPushed(changeset.id, spec.id, commit);
  }

  private async close(changeset: ChangesetRow): Promise<ChangesetRow> {
    if (changeset.state === 'OPEN') {
      await this.deps.publisher.deleteBranch(changeset.repositoryName, changeset.headBranch, changeset.pushedCommit);
      this.deps.logger.info('changeset closed: branch deleted', { repository: changeset.repositoryName, branch: changeset.headBranch, changesetId: changeset.id });
    }
    await this.deps.store.markClosed(changeset.id, { detach: true });
    return (await this.deps.store.getChangeset(changeset.batchChangeId, changeset.id))!;
  }

  private async serialized<T>(batchChangeId: number, fn: () => Promise<T>): Promise<T> {
    const previous = this.running.get(batchChangeId) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(fn);
    this.running.set(batchChangeId, current);
    try {
      return await current;
    } finally {
      if (this.running.get(batchChangeId) === current) this.running.delete(batchChangeId);
    }
  }
}

/**
 * The changeset side assembled over the coordinator's database and repositories (what Coordinator wires
 * into HttpServices.changesets with the batch store's lookup, and hands the execution side as its hook).
 */
export function createChangesetService(deps: { db: Database; repositoriesDir: string; users: Pick<UserStore, 'get'>; batchChangeById: BatchChangeById; logger: Logger }): ChangesetService {
  return new ChangesetService({
    store: new ChangesetStore(deps.db),
    publisher: new ChangesetPublisher(deps.repositoriesDir),
    users: deps.users,
    batchChangeById: deps.batchChangeById,
    logger: deps.logger.with({ component: 'changesets' }),
  });
}
