// Who may use what in a job: the repository it clones (public, or restricted to granted users and
// organizations), the stored files it names (their owner's, or an owning organization's members'), and
// its organization's secrets (its members'). Site admins may use any repository and file. Checked at
// enqueue (the caller is told which field) and again at each dequeue (the job fails, naming what).
import type { JobSpec } from '../../protocol/job.js';
import type { AccessStore, JobAccessFacts } from '../store/access-store.js';
import type { JobRow } from '../store/job-store.js';
import type { UserRow } from '../store/user-store.js';
import { DOCKER_AUTH_CONFIG_KEY } from '../secrets/job-secrets.js';
import type { JobSpecProblem } from './job-spec-check.js';

/** The files of `spec` that come from the files store, with their workspace paths. */
export function storedFilesOf(spec: Pick<JobSpec, 'files'>): Array<{ path: string; bucket: string; key: string }> {
  return Object.entries(spec.files).flatMap(([path, f]) => (f.bucket !== undefined && f.key !== undefined ? [{ path, bucket: f.bucket, key: f.key }] : []));
}

export class JobAccess {
  constructor(private readonly store: AccessStore) {}

  /** At enqueue: whether `user` may queue `spec`; a problem naming the repository or file otherwise. */
  async enqueueProblem(user: UserRow, spec: JobSpec): Promise<JobSpecProblem | null> {
    const files = storedFilesOf(spec);
    if (spec.repositoryName === '' && (files.length === 0 || user.siteAdmin)) return null;
    const facts = await this.store.jobAccess({ userId: user.id, repositoryName: spec.repositoryName, files, orgId: null });
    if (facts.repository) {
      if (user.siteAdmin && !facts.repository.registered) {
        return { status: 400, field: 'repositoryName', message: `repository ${JSON.stringify(spec.repositoryName)} is not registered: add it with POST /api/v1/repositories first` };
      }
      // Unregistered and restricted read the same to a user, so they learn nothing of restricted names.
      if (!user.siteAdmin && !facts.repository.readable) {
        return { status: 403, field: 'repositoryName', message: `no repository ${JSON.stringify(spec.repositoryName)} that you may queue jobs against (it is not registered, or restricted to other users)` };
      }
    }
    if (!user.siteAdmin) {
      const denied = facts.unreadableFiles[0];
      if (denied !== undefined) {
        const file = files[denied]!;
        return { status: 403, field: `files.${file.path}`, message: `you may not use file ${file.bucket}/${file.key}: it does not exist, or neither you nor one of your organizations stored it` };
      }
    }
    return null;
  }

  /**
   * At dequeue: why the job may no longer run as its creator asked (the creator was deleted, lost the
   * repository or a file, or left the organization whose secrets it uses), or null. Jobs with no creator
   * (queued by a producer) and jobs that use none of these are not looked at.
   */
  async dequeueProblem(row: JobRow): Promise<string | null> {
    if (row.creatorId === null) return null;
    const files = storedFilesOf(row.spec);
    const refs = row.secretRefs;
    if (row.repositoryName === '' && files.length === 0 && !refs) return null;
    const orgId = refs?.orgId ?? null;
    const facts = await this.store.jobAccess({ userId: row.creatorId, repositoryName: row.repositoryName, files, orgId, producerFilesReadable: true });
    return describeDequeueProblem(row, facts, files);
  }
}

function describeDequeueProblem(row: JobRow, facts: JobAccessFacts, files: ReturnType<typeof storedFilesOf>): string | null {
  const refs = row.secretRefs;
  const secretNames = refs ? [...new Set([...refs.steps.flat(), ...(refs.dockerAuthConfig ? [DOCKER_AUTH_CONFIG_KEY] : [])])] : [];
  const secretsPart = secretNames.length > 0 ? `executor secret ${secretNames.join(', ')}: ` : '';
  if (!facts.user) return `${secretsPart}the user who queued this job (id ${row.creatorId}) no longer exists`;
  const who = `the user who queued this job (${facts.user.username})`;
  if (facts.repository && !facts.repository.registered) return `repository ${row.repositoryName} is no longer registered on this coordinator`;
  if (facts.repository && !facts.repository.readable && !facts.user.siteAdmin) return `${who} may no longer use repository ${row.repositoryName} (it is restricted to other users)`;
  if (!facts.user.siteAdmin) {
    const denied = facts.unreadableFiles[0];
    if (denied !== undefined) return `${who} may no longer use file ${files[denied]!.bucket}/${files[denied]!.key} (it was deleted or now belongs to others)`;
  }
  if (facts.orgMember === false) return `${secretsPart || 'executor secrets: '}${who} is no longer a member of the organization (id ${row.secretRefs!.orgId}) whose secrets the job uses`;
  return null;
}
