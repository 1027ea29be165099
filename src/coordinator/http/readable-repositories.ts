// Which repositories a caller may read through the API and the web UI: site admins all of them, other
// users the public ones and those granted to them or to one of their organizations — the rule a job's
// repository follows (queues/job-access.ts).
import type { UserRow } from '../store/user-store.js';
import type { HttpServices } from './services.js';

export async function readableRepositories(s: Pick<HttpServices, 'repositories'>, caller: Pick<UserRow, 'id' | 'siteAdmin'>, names: readonly string[]): Promise<Set<string>> {
  if (caller.siteAdmin) return new Set(names);
  return s.repositories.readableBy(caller.id, names);
}
