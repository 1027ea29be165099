// Who may manage the secrets of a namespace: site admins the global one, a user their own, members their
// organization's. Nobody else, site admins included: a user's or organization's secrets are theirs.
import type { SecretNamespace } from '../store/secret-store.js';
import type { UserRow, UserStore } from '../store/user-store.js';

export async function canManageSecrets(users: Pick<UserStore, 'isMember'>, user: UserRow, ns: SecretNamespace): Promise<boolean> {
  if (ns.kind === 'global') return user.siteAdmin;
  if (ns.kind === 'user') return ns.userId === user.id;
  return users.isMember(ns.orgId, user.id);
}
