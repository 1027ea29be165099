// Creating or replacing a batch change from its spec's YAML, for POST /api/v1/batch-changes and the web
// UI's editor alike: the spec is parsed and checked (every problem with its field and line), the
// namespace resolved (the caller's own, or an organization they belong to), the workspaces resolved at
// once; a replaced batch change's live jobs are canceled and its workspaces (with their executions)
// replaced, in one transaction with the new spec.
import type { Logger } from '../../shared/logger.js';
import type { BatchChangeRow } from '../store/batch-store.js';
import type { UserRow, UserStore } from '../store/user-store.js';
import { resolveBatchNamespace } from './batch-namespace.js';
import type { BatchServices } from './batch-services.js';
import type { BatchSpecError } from './spec/batch-spec.js';
import { parseBatchSpec } from './spec/parse-batch-spec.js';
import { WorkspaceResolutionError } from './workspaces/resolve-workspaces.js';

export type SaveBatchChangeResult =
  /** The spec does not parse or check (`stage: 'spec'`), or its workspaces cannot be resolved (`'workspaces'`). */
  | { ok: false; stage: 'spec' | 'workspaces'; errors: BatchSpecError[] }
  | { ok: true; batchChange: BatchChangeRow; created: boolean };

/**
 * Saves `specYaml` as the batch change it names in `namespace` (default the caller's own).
 * @throws AppError `batches.unknown_namespace` for a namespace the caller may not use.
 */
export async function saveBatchChange(
  deps: { batches: Pick<BatchServices, 'store' | 'resolver' | 'execution'>; users: Pick<UserStore, 'getByName' | 'listOrgs'>; logger: Logger },
  caller: UserRow,
  specYaml: string,
  namespace?: string,
): Promise<SaveBatchChangeResult> {
  const { store, resolver, execution } = deps.batches;
  const parsed = parseBatchSpec(specYaml);
  if (!parsed.ok) return { ok: false, stage: 'spec', errors: parsed.errors };
  const ns = await resolveBatchNamespace(deps.users, caller, namespace);
  let workspaces;
  try {
    workspaces = await resolver.resolve(parsed.spec, caller);
  } catch (err) {
    if (err instanceof WorkspaceResolutionError) return { ok: false, stage: 'workspaces', errors: [{ field: err.field, message: err.message }] };
    throw err;
  }
  const existing = await store.getBatchChange(ns, parsed.spec.name);
  // The old workspaces go with their executions: jobs of them that may still run are canceled first.
  if (existing) await execution.cancelLiveJobs(existing.id);
  const { id, created } = await store.transaction(async (tx) => {
    const saved = await store.upsertBatchChange(tx, { name: parsed.spec.name, namespace: ns, ownerUserId: caller.id, description: parsed.spec.description, specYaml, spec: parsed.spec });
    await store.replaceWorkspaces(tx, saved.id, workspaces);
    return saved;
  });
  deps.logger.info(created ? 'batch change created' : 'batch change replaced', { batchChange: parsed.spec.name, namespace: ns.name, workspaces: workspaces.length, skipped: workspaces.filter((w) => w.skipped).length });
  return { ok: true, batchChange: (await store.getBatchChangeById(id))!, created };
}
