// The BatchChangeLookup the changeset side uses, over the batch store: a batch change by name in a
// namespace the actor may use (their own by default, an organization they belong to, any for site admins).
import { AppError } from '../../shared/errors.js';
import type { BatchStore } from '../store/batch-store.js';
import type { UserStore } from '../store/user-store.js';
import type { BatchChangeLookup, BatchChangeRef } from './batch-change-lookup.js';
import { resolveBatchNamespace } from './batch-namespace.js';

export class StoreBatchChangeLookup implements BatchChangeLookup {
  constructor(
    private readonly store: Pick<BatchStore, 'getBatchChange'>,
    private readonly users: Pick<UserStore, 'get' | 'getByName' | 'listOrgs'>,
  ) {}

  async findByName(actorUserId: number | null, isAdmin: boolean, name: string, namespace?: string): Promise<BatchChangeRef | undefined> {
    const user = actorUserId === null ? null : await this.users.get(actorUserId);
    // A site admin without a user of its own (none today) must name the namespace.
    const actor = user ? { id: user.id, username: user.username, siteAdmin: isAdmin || user.siteAdmin } : isAdmin && namespace ? { id: -1, username: '', siteAdmin: true } : undefined;
    if (!actor) return undefined;
    let ns;
    try {
      ns = await resolveBatchNamespace(this.users, actor, namespace);
    } catch (err) {
      if (err instanceof AppError && err.code === 'batches.unknown_namespace') return undefined;
      throw err;
    }
    const row = await this.store.getBatchChange(ns, name);
    if (!row) return undefined;
    return { id: row.id, name: row.name, namespace: row.namespace.name, ownerUserId: row.ownerUserId ?? 0, spec: row.spec };
  }
}
