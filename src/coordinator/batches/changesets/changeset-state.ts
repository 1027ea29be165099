// A changeset's state, and how a published one's is read back from the coordinator's git: MERGED once its
// pushed commit is in the base branch's history (`git merge-base --is-ancestor`), CLOSED once its branch
// is gone; OPEN otherwise. Merged first: a branch deleted after its merge is a merged changeset.
import { runBareGit } from './bare-git.js';

/**
 * 'UNPUBLISHED': applied, never pushed → 'OPEN' on publish. 'OPEN' → 'MERGED' (final) when the pushed commit
 * reached the base branch, → 'CLOSED' when the branch was deleted or apply closed it (the repository left
 * the spec). 'CLOSED' → 'OPEN' when a later spec publishes it again.
 */
export type ChangesetState = 'UNPUBLISHED' | 'OPEN' | 'MERGED' | 'CLOSED';

export const CHANGESET_STATES: readonly ChangesetState[] = ['UNPUBLISHED', 'OPEN', 'MERGED', 'CLOSED'];

/** What git says of a published changeset now. */
export async function detectPublishedState(repositoryDir: string, changeset: { headBranch: string; baseBranch: string; pushedCommit: string }): Promise<'OPEN' | 'MERGED' | 'CLOSED'> {
  // The base branch, or the default branch (HEAD) should the base branch be gone.
  const base = (await runBareGit(repositoryDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${changeset.baseBranch}^{commit}`])).code === 0 ? `refs/heads/${changeset.baseBranch}` : 'HEAD';
  // 0: an ancestor; 1: not; anything else (the commit was garbage-collected): not known to be merged.
  const ancestor = await runBareGit(repositoryDir, ['merge-base', '--is-ancestor', changeset.pushedCommit, base]);
  if (ancestor.code === 0) return 'MERGED';
  const head = await runBareGit(repositoryDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${changeset.headBranch}^{commit}`]);
  return head.code === 0 ? 'OPEN' : 'CLOSED';
}
