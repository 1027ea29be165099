// Checks that a workspace's diff applies to its base commit, in the coordinator's bare repository and
// without a worktree: the commit's tree is read into a temporary index, and `git apply --cached --check`
// tries the patch against it. What git says when it does not apply is the workspace's failure.
// Both git commands run from one sh (one process start from the coordinator per result, not two), and the
// temporary index is a file in the repository's own git directory (the coordinator's, private; no
// temporary directory to make and remove per result).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runBareGitScript } from '../bare-git.js';

/** sh's exit status when read-tree failed (git's own are 0, 1 and 128). */
const READ_TREE_FAILED = 97;
const CHECK_SCRIPT = `git read-tree "$1" || exit ${READ_TREE_FAILED}\nexec git apply --cached --check --whitespace=nowarn -`;

/** null when `diff` applies to `commit` (an empty diff always does); else git's message. */
export async function diffApplyProblem(repositoryDir: string, commit: string, diff: string): Promise<string | null> {
  if (diff.trim() === '') return null;
  const index = path.join(repositoryDir, `batches-diff-check-${randomBytes(8).toString('hex')}.index`);
  try {
    const res = await runBareGitScript(repositoryDir, 'git apply --check', CHECK_SCRIPT, [commit], { env: { GIT_INDEX_FILE: index }, input: diff });
    if (res.code === 0) return null;
    if (res.code === READ_TREE_FAILED) return `the base commit ${commit} cannot be read: ${res.stderr || 'git read-tree failed'}`;
    return res.stderr || `git apply --check exited ${res.code}`;
  } finally {
    await fs.rm(index, { force: true });
  }
}
