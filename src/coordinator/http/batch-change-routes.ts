// Batch changes under /api/v1/batch-changes (a user's API token, or COORDINATOR_ADMIN_TOKEN): create or
// replace one from a batch spec (resolved into workspaces at once), list, show (state and workspaces),
// execute, cancel, retry a workspace or every failed one, and one workspace's result. A batch change lives
// in a namespace: the caller's own by default, or `?namespace=` (body `namespace` on create) naming an
// organization they belong to. Errors: {"error", "field"}; a bad spec also lists `errors` [{field, line, message}].
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { resolveBatchNamespace } from '../batches/batch-namespace.js';
import { saveBatchChange } from '../batches/save-batch-change.js';
import type { BatchChangeRow, BatchExecutionRow, BatchNamespace, BatchWorkspaceRow, WorkspaceExecutionRow } from '../store/batch-store.js';
import type { UserRow } from '../store/user-store.js';
import { authenticateUser } from './admin-auth.js';
import { fieldError, HttpError } from './http-error.js';
import { readableRepositories } from './readable-repositories.js';
import { readJson } from './request-body.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

/** The most a spec's YAML may be. */
export const MAX_BATCH_SPEC_BYTES = 1024 * 1024;

const CreateSchema = z.strictObject({
  spec: z.string().min(1, 'the batch spec YAML is empty').max(MAX_BATCH_SPEC_BYTES, `the batch spec is over ${MAX_BATCH_SPEC_BYTES} characters`),
  namespace: z.string().min(1).optional(),
});
const ExecuteSchema = z.strictObject({ noCache: z.boolean().default(false) });
const EmptySchema = z.strictObject({});

function workspaceView(w: BatchWorkspaceRow, e: WorkspaceExecutionRow | undefined) {
  return {
    id: w.id,
    repository: w.repositoryName,
    branch: w.branch,
    commit: w.commit,
    path: w.path,
    searchResultPaths: w.searchResultPaths,
    onlyFetchWorkspace: w.onlyFetchWorkspace,
    skipped: w.skipped,
    skippedReason: w.skippedReason,
    // SKIPPED and PENDING are the original's states of a workspace with no job: skipped, or not executed yet.
    state: w.skipped ? 'SKIPPED' : (e?.state ?? 'PENDING'),
    jobId: e?.jobId ?? null,
    cached: e?.cached ?? false,
    failureMessage: e?.failureMessage ?? null,
    diffBytes: e?.result ? Buffer.byteLength(e.result.diff) : null,
    startedAt: e?.startedAt?.toISOString() ?? null,
    finishedAt: e?.finishedAt?.toISOString() ?? null,
  };
}

function executionView(e: BatchExecutionRow) {
  return { id: e.id, state: e.state, noCache: e.noCache, createdAt: e.createdAt.toISOString(), finishedAt: e.finishedAt?.toISOString() ?? null };
}

function summaryView(b: BatchChangeRow, execution: BatchExecutionRow | null) {
  return {
    id: b.id,
    name: b.name,
    namespace: b.namespace.name,
    namespaceKind: b.namespace.kind,
    description: b.description,
    ownerUserId: b.ownerUserId,
    // The original's batch spec state before any execution.
    state: execution?.state ?? 'PENDING',
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

export function addBatchChangeRoutes(router: Router, s: HttpServices): void {
  const { store, execution: executions } = s.batches;
  const user = (ctx: RequestContext) => authenticateUser(ctx.req, s);

  const namespaceOf = async (caller: UserRow, name: string | undefined, field: string): Promise<BatchNamespace> => {
    try {
      return await resolveBatchNamespace(s.users, caller, name);
    } catch (err) {
      if (err instanceof AppError && err.code === 'batches.unknown_namespace') throw fieldError(404, field, err.message);
      throw err;
    }
  };
  /** The batch change of the path's name in `?namespace=` (default the caller's own); 404 naming it otherwise. */
  const batchChangeOf = async (ctx: RequestContext, caller: UserRow): Promise<BatchChangeRow> => {
    const ns = await namespaceOf(caller, ctx.url.searchParams.get('namespace') ?? undefined, 'namespace');
    const found = await store.getBatchChange(ns, ctx.params.name!);
    if (!found) throw fieldError(404, 'name', `no batch change ${JSON.stringify(ctx.params.name)} in namespace ${ns.name}`);
    return found;
  };
  const asClientError = (err: unknown): never => {
    if (err instanceof AppError) {
      switch (err.code) {
        case 'batches.execution_running':
        case 'batches.not_executed':
        case 'batches.not_retryable':
          throw new HttpError(409, { error: err.message });
        case 'secrets.missing':
          throw fieldError(400, 'spec', err.message);
      }
    }
    throw err;
  };

  /**
   * The batch change with its workspaces and the latest execution's state of each. 🚨 Workspaces of
   * repositories the caller may not read (an organization member with fewer grants) are left out, but for
   * the unresolved ones (unusable or missing names, which the spec's own text shows anyway).
   */
  const fullView = async (caller: UserRow, b: BatchChangeRow) => {
    const execution = await store.latestExecution(b.id);
    const all = await store.listWorkspaces(b.id);
    const names = await readableRepositories(s, caller, all.map((w) => w.repositoryName));
    // An unresolved one (commit '') says only what the spec's own text names, the same for every repository it could be.
    const workspaces = all.filter((w) => names.has(w.repositoryName) || (w.skipped && w.commit === ''));
    const byWorkspace = new Map((execution ? await store.listWorkspaceExecutions(execution.id) : []).map((e) => [e.workspaceId, e]));
    return {
      ...summaryView(b, execution),
      spec: b.specYaml,
      execution: execution ? executionView(execution) : null,
      workspaces: workspaces.map((w) => workspaceView(w, byWorkspace.get(w.id))),
    };
  };

  router.add('POST', '/api/v1/batch-changes', 'batch_changes.create', async (ctx) => {
    const caller = await user(ctx);
    const body = await readJson(ctx.req, CreateSchema, MAX_BATCH_SPEC_BYTES * 2);
    let saved;
    try {
      saved = await saveBatchChange({ batches: s.batches, users: s.users, logger: s.logger }, caller, body.spec, body.namespace);
    } catch (err) {
      if (err instanceof AppError && err.code === 'batches.unknown_namespace') throw fieldError(404, 'namespace', err.message);
      throw err;
    }
    if (!saved.ok && saved.stage === 'workspaces') throw new HttpError(400, { error: saved.errors[0]!.message, field: 'spec', errors: saved.errors });
    if (!saved.ok) {
      const first = saved.errors[0]!;
      throw new HttpError(400, {
        error: `the batch spec has ${saved.errors.length} problem(s); the first: ${first.field}${first.line !== undefined ? ` (line ${first.line})` : ''}: ${first.message}`,
        field: 'spec',
        errors: saved.errors,
      });
    }
    return { status: saved.created ? 201 : 200, body: await fullView(caller, saved.batchChange) };
  });

  router.add('GET', '/api/v1/batch-changes', 'batch_changes.list', async (ctx) => {
    const caller = await user(ctx);
    const rows = await store.listBatchChanges(caller.siteAdmin ? undefined : caller.id);
    const batchChanges = [];
    for (const row of rows) batchChanges.push(summaryView(row, await store.latestExecution(row.id)));
    return { status: 200, body: { batchChanges } };
  });

  router.add('GET', '/api/v1/batch-changes/:name', 'batch_changes.get', async (ctx) => {
    const caller = await user(ctx);
    return { status: 200, body: await fullView(caller, await batchChangeOf(ctx, caller)) };
  });

  router.add('POST', '/api/v1/batch-changes/:name/execute', 'batch_changes.execute', async (ctx) => {
    const caller = await user(ctx);
    const b = await batchChangeOf(ctx, caller);
    const body = await readJson(ctx.req, ExecuteSchema, s.config.maxBodyBytes);
    try {
      await executions.execute(b, caller, { noCache: body.noCache });
    } catch (err) {
      asClientError(err);
    }
    return { status: 201, body: await fullView(caller, b) };
  });

  router.add('POST', '/api/v1/batch-changes/:name/cancel', 'batch_changes.cancel', async (ctx) => {
    const caller = await user(ctx);
    const b = await batchChangeOf(ctx, caller);
    await readJson(ctx.req, EmptySchema, s.config.maxBodyBytes);
    const outcome = await executions.cancel(b);
    if (!outcome.execution) throw new HttpError(409, { error: `batch change ${b.name} has not been executed: nothing to cancel` });
    return { status: 200, body: { canceled: outcome.canceled, canceling: outcome.canceling, ...(await fullView(caller, b)) } };
  });

  router.add('POST', '/api/v1/batch-changes/:name/retry', 'batch_changes.retry', async (ctx) => {
    const caller = await user(ctx);
    const b = await batchChangeOf(ctx, caller);
    await readJson(ctx.req, EmptySchema, s.config.maxBodyBytes);
    let retried = 0;
    try {
      retried = (await executions.retry(b, caller)).retried;
    } catch (err) {
      asClientError(err);
    }
    return { status: 200, body: { retried, ...(await fullView(caller, b)) } };
  });

  const workspaceIdOf = async (ctx: RequestContext, caller: UserRow, b: BatchChangeRow): Promise<BatchWorkspaceRow> => {
    const raw = ctx.params.id!;
    const id = /^\d{1,15}$/.test(raw) ? Number(raw) : -1;
    const workspace = (await store.listWorkspaces(b.id)).find((w) => w.id === id);
    // 🚨 A workspace of a repository the caller may not read reads as missing.
    if (!workspace || !(await readableRepositories(s, caller, [workspace.repositoryName])).has(workspace.repositoryName)) {
      throw fieldError(404, 'id', `batch change ${b.name} has no workspace ${JSON.stringify(raw)}`);
    }
    return workspace;
  };

  router.add('POST', '/api/v1/batch-changes/:name/workspaces/:id/retry', 'batch_changes.workspaces.retry', async (ctx) => {
    const caller = await user(ctx);
    const b = await batchChangeOf(ctx, caller);
    const workspace = await workspaceIdOf(ctx, caller, b);
    await readJson(ctx.req, EmptySchema, s.config.maxBodyBytes);
    try {
      await executions.retry(b, caller, [workspace.id]);
    } catch (err) {
      asClientError(err);
    }
    return { status: 200, body: await fullView(caller, b) };
  });

  // One workspace with its result: the diff, the outputs and each step's result.
  router.add('GET', '/api/v1/batch-changes/:name/workspaces/:id', 'batch_changes.workspaces.get', async (ctx) => {
    const caller = await user(ctx);
    const b = await batchChangeOf(ctx, caller);
    const workspace = await workspaceIdOf(ctx, caller, b);
    const execution = await store.latestExecution(b.id);
    const row = execution ? (await store.listWorkspaceExecutions(execution.id)).find((e) => e.workspaceId === workspace.id) : undefined;
    return { status: 200, body: { ...workspaceView(workspace, row), result: row?.result ?? null } };
  });
}
