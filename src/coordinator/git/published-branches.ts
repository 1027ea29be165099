// The branches the coordinator itself wrote into a mirror (changesets it published) and how a re-mirror
// keeps them. Each published branch `refs/heads/<b>` has a marker ref `refs/batch-changes/heads/<b>` at
// the same commit, written in the same ref transaction; a mirror fetch excludes the marked branches and
// the markers with negative refspecs (git >= 2.29), so `--prune` does not delete them and an upstream
// branch of the same name does not overwrite them. Jobs and clones see the branches as ordinary ones.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Where the markers live; nothing upstream writes here. */
export const PUBLISHED_BRANCH_MARKERS = 'refs/batch-changes/heads/';

/** The marker ref of branch `branch` (a name under refs/heads/). */
export function publishedBranchMarker(branch: string): string {
  return `${PUBLISHED_BRANCH_MARKERS}${branch}`;
}

/** The branches marked as published in the bare repository at `repositoryDir` (names under refs/heads/). */
export async function publishedBranches(repositoryDir: string): Promise<string[]> {
  const { stdout } = await execFileAsync('git', ['-C', repositoryDir, 'for-each-ref', '--format=%(refname)', PUBLISHED_BRANCH_MARKERS], {
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(PUBLISHED_BRANCH_MARKERS))
    .map((line) => line.slice(PUBLISHED_BRANCH_MARKERS.length));
}

/**
 * Negative refspecs for a mirror fetch: the markers, and each published branch. About 40 bytes of argv
 * each, so tens of thousands of published branches stay far below Linux's argument limit (2 MB).
 */
export async function publishedBranchRefspecs(repositoryDir: string): Promise<string[]> {
  const branches = await publishedBranches(repositoryDir);
  return [`^${PUBLISHED_BRANCH_MARKERS}*`, ...branches.map((b) => `^refs/heads/${b}`)];
}
