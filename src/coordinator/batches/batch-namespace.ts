// Which namespace a batch change request means: the caller's own by default, or one named — the caller's
// username or an organization they belong to (site admins: any user or organization). A namespace the
// caller may not use reads like one that does not exist.
import { AppError } from '../../shared/errors.js';
import type { BatchNamespace } from '../store/batch-store.js';
import type { UserRow, UserStore } from '../store/user-store.js';

export async function resolveBatchNamespace(users: Pick<UserStore, 'getByName' | 'listOrgs'>, actor: Pick<UserRow, 'id' | 'username' | 'siteAdmin'>, name: string | undefined): Promise<BatchNamespace> {
  if (name === undefined || name === '' || name === actor.username) return { kind: 'user', userId: actor.id, name: actor.username };
  const orgs = await users.listOrgs(actor.siteAdmin ? undefined : actor.id);
  const org = orgs.find((o) => o.name === name);
  if (org) return { kind: 'org', orgId: org.id, name: org.name };
  if (actor.siteAdmin) {
    const user = await users.getByName(name);
    if (user) return { kind: 'user', userId: user.id, name: user.username };
  }
  throw new AppError(
    'batches.unknown_namespace',
    `no namespace ${JSON.stringify(name)} that you may use: a batch change belongs to you (${actor.username}) or to an organization you are a member of`,
  );
}
