// Which batch change a Batch changes page means, for the signed-in user: /batch-changes/{namespace}/{name},
// the namespace the user's own, an organization they belong to, or (site admins) any. The same rules as
// the API: one the user may not see is a page that does not exist (404), and so is a workspace of a
// repository they may not read.
import { AppError } from '../../shared/errors.js';
import type { BatchChangeRef } from '../batches/batch-change-lookup.js';
import { resolveBatchNamespace } from '../batches/batch-namespace.js';
import { HttpError } from '../http/http-error.js';
import { readableRepositories } from '../http/readable-repositories.js';
import type { RequestContext } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import type { BatchChangeRow, BatchWorkspaceRow } from '../store/batch-store.js';
import type { Session } from '../store/session-store.js';

/** The page of a batch change. */
export const batchChangeHref = (b: Pick<BatchChangeRow, 'name' | 'namespace'>, rest = '') => `/batch-changes/${encodeURIComponent(b.namespace.name)}/${encodeURIComponent(b.name)}${rest}`;

/** The batch change of the path's `:namespace` and `:name` that `session`'s user may see; 404 otherwise. */
export function batchChangeOfPage(ctx: RequestContext, s: HttpServices, session: Session): Promise<BatchChangeRow> {
  return batchChangeNamed(s, session, ctx.params.namespace!, ctx.params.name!);
}

/** The batch change `name` in `namespace` that `session`'s user may see; 404 otherwise. */
export async function batchChangeNamed(s: HttpServices, session: Session, namespace: string, name: string): Promise<BatchChangeRow> {
  const missing = new HttpError(404, `No batch change ${name} in namespace ${namespace}.`);
  let ns;
  try {
    ns = await resolveBatchNamespace(s.users, session.user, namespace);
  } catch (err) {
    if (err instanceof AppError && err.code === 'batches.unknown_namespace') throw missing;
    throw err;
  }
  const found = await s.batches.store.getBatchChange(ns, name);
  if (!found) throw missing;
  return found;
}

/**
 * The batch change's workspaces in repositories the user may read, and those skipped before anything of
 * their repository was read (no commit: not registered or not readable by whoever saved the spec, which
 * read the same), so a name the spec gives that matched nothing is listed with its reason.
 */
export async function readableWorkspaces(s: HttpServices, session: Session, b: BatchChangeRow): Promise<BatchWorkspaceRow[]> {
  const all = await s.batches.store.listWorkspaces(b.id);
  const names = await readableRepositories(s, session.user, all.map((w) => w.repositoryName));
  return all.filter((w) => names.has(w.repositoryName) || (w.skipped && w.commit === ''));
}

/** The path's `:id` workspace of `b`, if the user may read its repository; 404 otherwise. */
export async function workspaceOfPage(ctx: RequestContext, s: HttpServices, session: Session, b: BatchChangeRow): Promise<BatchWorkspaceRow> {
  const raw = ctx.params.id!;
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : -1;
  const workspace = (await readableWorkspaces(s, session, b)).find((w) => w.id === id);
  if (!workspace) throw new HttpError(404, `Batch change ${b.name} has no workspace ${raw}.`);
  return workspace;
}

/** What the changeset side knows a batch change by. */
export function batchChangeRef(b: BatchChangeRow): BatchChangeRef {
  return { id: b.id, name: b.name, namespace: b.namespace.name, ownerUserId: b.ownerUserId ?? 0, spec: b.spec };
}
