// Checks that a workspace's diff applies to its base commit, in the coordinator's bare repository and
// without a worktree: the commit's tree is read into a temporary index, and `git apply --cached --check`
// tries the patch against it. What git says when it does not apply is the workspace's failure.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runBareGit } from '../bare-git.js';

/** null when `diff` applies to `commit` (an empty diff always does); else git's message. */
export async function diffApplyProblem(repositoryDir: string, commit: string, diff: string): Promise<string | null> {
  if (diff.trim() === '') return null;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'batches-diff-check-'));
  const env = { GIT_INDEX_FILE: path.join(dir, 'index') };
  try {
    const read = await runBareGit(repositoryDir, ['read-tree', commit], { env });
    if (read.code !== 0) return `the base commit ${commit} cannot be read: ${read.stderr || `git read-tree exited ${read.code}`}`;
    const apply = await runBareGit(repositoryDir, ['apply', '--cached', '--check', '--whitespace=nowarn', '-'], { env, input: diff });
    if (apply.code === 0) return null;
    return apply.stderr || `git apply --check exited ${apply.code}`;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
