// The changesets of a batch change under /api/v1/batch-changes/{name}: the preview (each changeset's diff,
// +/− counts and what apply would do), apply, publishing one changeset, and the list with states. Any
// user's or a site admin's token; the batch change is found through the BatchChangeLookup (the caller's
// own namespace, or `?namespace=`), and one the caller may not see answers as a missing one (404).
import { AppError } from '../../shared/errors.js';
import type { BatchChangeLookup, BatchChangeRef } from '../batches/batch-change-lookup.js';
import { DuplicateBranchError, type ChangesetService, type PlannedChangeset } from '../batches/changesets/changeset-service.js';
import type { ChangesetRow } from '../store/changeset-store.js';
import { authenticateUser } from './admin-auth.js';
import { fieldError, HttpError } from './http-error.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

export interface ChangesetRouteServices {
  changesets: ChangesetService;
  lookup: BatchChangeLookup;
}

/** The status each changeset error answers: a conflict with what is there (409), or a spec git cannot use (422). */
const ERROR_STATUS: Record<string, number> = {
  'changesets.duplicate_branch': 409,
  'changesets.branch_moved': 409,
  'changesets.merged': 409,
  'changesets.no_spec': 409,
  'changesets.patch_does_not_apply': 422,
  'changesets.base_missing': 422,
  'changesets.invalid_branch': 422,
  'changesets.invalid_author': 422,
  'changesets.not_found': 404,
};

/** A changeset error as `{"error", "code"}` (and, for a duplicate branch, the repository, branch and specs). */
function asClientError(err: unknown): never {
  if (err instanceof DuplicateBranchError) {
    throw new HttpError(409, {
      error: err.message,
      code: err.code,
      repository: err.repositoryName,
      branch: err.branch,
      specs: err.specs.map((s) => ({ id: s.id, workspaceId: s.workspaceId, group: s.groupDirectory || null })),
    });
  }
  if (err instanceof AppError && ERROR_STATUS[err.code] !== undefined) throw new HttpError(ERROR_STATUS[err.code]!, { error: err.message, code: err.code });
  throw err;
}

function changesetView(c: ChangesetRow, title: string | null) {
  return {
    id: c.id,
    repository: c.repositoryName,
    branch: c.headBranch,
    baseBranch: c.baseBranch,
    state: c.state,
    title,
    specId: c.currentSpecId,
    pushedCommit: c.pushedCommit,
    publishedAt: c.publishedAt?.toISOString() ?? null,
    mergedAt: c.mergedAt?.toISOString() ?? null,
    closedAt: c.closedAt?.toISOString() ?? null,
  };
}

function previewView(p: PlannedChangeset) {
  const repository = p.spec?.repositoryName ?? p.changeset!.repositoryName;
  const branch = p.spec?.headBranch ?? p.changeset!.headBranch;
  return {
    repository,
    branch,
    baseBranch: p.spec?.baseBranch ?? p.changeset!.baseBranch,
    title: p.spec?.title ?? '',
    body: p.spec?.body ?? '',
    diff: p.spec?.diff ?? '',
    added: p.spec?.addedLines ?? 0,
    deleted: p.spec?.deletedLines ?? 0,
    operation: p.operation,
    /** Whether apply pushes the branch. */
    publish: p.push,
    changesetId: p.changeset?.id ?? null,
    state: p.changeset?.state ?? null,
    specId: p.spec?.id ?? null,
    workspaceId: p.spec?.workspaceId ?? null,
  };
}

export function addChangesetRoutes(router: Router, s: HttpServices, c: ChangesetRouteServices): void {
  const batchChange = async (ctx: RequestContext): Promise<BatchChangeRef> => {
    const caller = await authenticateUser(ctx.req, s);
    const name = ctx.params.name!;
    const namespace = ctx.url.searchParams.get('namespace') || undefined;
    const ref = await c.lookup.findByName(caller.id, caller.siteAdmin, name, namespace);
    if (!ref) throw fieldError(404, 'name', `no batch change ${JSON.stringify(name)} in ${namespace ? `namespace ${JSON.stringify(namespace)}` : 'your namespace'}`);
    return ref;
  };
  const listView = async (rows: ChangesetRow[]) => {
    const specs = await c.changesets.specsOf(rows);
    return rows.map((r) => changesetView(r, r.currentSpecId !== null ? (specs.get(r.currentSpecId)?.title ?? null) : null));
  };

  router.add('GET', '/api/v1/batch-changes/:name/preview', 'batch_changes.preview', async (ctx) => {
    const ref = await batchChange(ctx);
    const plan = await c.changesets.preview(ref);
    return { status: 200, body: { changesets: plan.map(previewView) } };
  });

  // Applies the current changeset specs; `published` decides which branches are pushed now.
  router.add('POST', '/api/v1/batch-changes/:name/apply', 'batch_changes.apply', async (ctx) => {
    const ref = await batchChange(ctx);
    try {
      const applied = await c.changesets.apply(ref);
      const views = await listView(applied.map((a) => a.changeset));
      return { status: 200, body: { changesets: views.map((v, i) => ({ ...v, operation: applied[i]!.operation })) } };
    } catch (err) {
      asClientError(err);
    }
  });

  router.add('POST', '/api/v1/batch-changes/:name/changesets/:id/publish', 'batch_changes.changesets.publish', async (ctx) => {
    const ref = await batchChange(ctx);
    const id = /^\d{1,15}$/.test(ctx.params.id!) ? Number(ctx.params.id) : -1;
    try {
      const row = await c.changesets.publish(ref, id);
      return { status: 200, body: (await listView([row]))[0] };
    } catch (err) {
      if (err instanceof AppError && err.code === 'changesets.not_found') throw fieldError(404, 'id', err.message);
      asClientError(err);
    }
  });

  router.add('GET', '/api/v1/batch-changes/:name/changesets', 'batch_changes.changesets.list', async (ctx) => {
    const ref = await batchChange(ctx);
    return { status: 200, body: { changesets: await listView(await c.changesets.list(ref)) } };
  });
}
