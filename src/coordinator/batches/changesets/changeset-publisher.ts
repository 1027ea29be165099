// Publishes a changeset into the coordinator's bare repository, which is the "code host" here: the patch
// is committed on its base commit without a worktree (a temporary index: read-tree, `apply --cached`,
// write-tree, commit-tree), then the branch is moved by compare-and-swap together with its marker ref
// (published-branches.ts), so a re-mirror keeps it and a concurrent writer is refused, never overwritten.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../../shared/errors.js';
import { publishedBranchMarker } from '../../git/published-branches.js';
import { repositoryDirFor, withRepositoryLock } from '../../git/repository-mirror.js';
import { runBareGit } from './bare-git.js';

const ZERO_SHA = '0'.repeat(40);
const SHA = /^[0-9a-f]{40}$/;
/**
 * What a branch name handed to `update-ref --stdin` may never hold, whoever checked it before: a space or
 * control character would end the instruction and start another (git's own rules, which branchProblem
 * applies, refuse these and more).
 */
function unsafeInInstruction(branch: string): boolean {
  return /\s/.test(branch) || [...branch].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
}

function assertInstructionSafe(branch: string): void {
  if (branch === '' || branch.startsWith('-') || unsafeInInstruction(branch)) {
    throw new AppError('changesets.invalid_branch', `branch ${JSON.stringify(branch)} is not a valid branch name`);
  }
}

export interface CommitAuthor {
  name: string;
  email: string;
}

export interface ChangesetCommitInput {
  repositoryName: string;
  baseCommit: string;
  /** A `git diff --binary` against `baseCommit`, paths relative to the repository root. */
  diff: string;
  message: string;
  /** Author and committer both. */
  author: CommitAuthor;
  /** The author and committer date; default now. */
  date?: Date;
}

/**
 * The commit-tree identity variables: git refuses a name or email with `<`, `>` or a newline, which the
 * spec's templates could render; say so rather than let git print its own complaint.
 */
function identityEnv(author: CommitAuthor, date: Date): Record<string, string> {
  for (const [field, value] of [['name', author.name], ['email', author.email]] as const) {
    if (value.trim() === '' || /[<>\n]/.test(value)) {
      throw new AppError('changesets.invalid_author', `commit author ${field} ${JSON.stringify(value)} must be non-empty, one line, without '<' or '>'`);
    }
  }
  const when = `@${Math.floor(date.getTime() / 1000)} +0000`;
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_AUTHOR_DATE: when,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
    GIT_COMMITTER_DATE: when,
  };
}

export class ChangesetPublisher {
  constructor(
    /** Directory of the coordinator's bare repositories (`<data>/repositories`). */
    private readonly repositoriesDir: string,
  ) {}

  repositoryDir(repositoryName: string): string {
    return repositoryDirFor(this.repositoriesDir, repositoryName);
  }

  /**
   * Why `branch` cannot be a changeset's branch in `repositoryName`, or null: it must be a valid branch
   * name (`git check-ref-format --branch`), and not the repository's default branch or the base branch.
   */
  async branchProblem(repositoryName: string, branch: string, baseBranch: string): Promise<string | null> {
    if (branch === '' || branch.startsWith('-')) return `branch ${JSON.stringify(branch)} is not a valid branch name`;
    const dir = this.repositoryDir(repositoryName);
    const check = await runBareGit(dir, ['check-ref-format', '--normalize', `refs/heads/${branch}`]);
    if (check.code !== 0 || check.stdout.trim() !== `refs/heads/${branch}`) return `branch ${JSON.stringify(branch)} is not a valid branch name (git check-ref-format)`;
    const head = await runBareGit(dir, ['symbolic-ref', '--quiet', 'HEAD']);
    const defaultBranch = head.code === 0 ? head.stdout.trim().replace(/^refs\/heads\//, '') : undefined;
    if (branch === baseBranch || branch === defaultBranch) return `branch ${JSON.stringify(branch)} is the repository's ${branch === baseBranch ? 'base' : 'default'} branch: a changeset needs a branch of its own`;
    return null;
  }

  /**
   * Commits `diff` on `baseCommit` in the bare repository; moves no ref (the commit is unreachable until
   * `moveBranch`, and git's gc removes it if it never is).
   * @returns the new commit's sha.
   * @throws AppError `changesets.base_missing` (the base commit is not in the repository),
   *   `changesets.patch_does_not_apply` (with git's message), `changesets.invalid_author`, `changesets.git_failed`.
   */
  async commitPatch(input: ChangesetCommitInput): Promise<string> {
    const dir = this.repositoryDir(input.repositoryName);
    const identity = identityEnv(input.author, input.date ?? new Date());
    if (!SHA.test(input.baseCommit)) throw new AppError('changesets.base_missing', `base commit ${JSON.stringify(input.baseCommit)} is not a commit sha`);
    const indexDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-changeset-index-'));
    try {
      const env = { GIT_INDEX_FILE: path.join(indexDir, 'index') };
      const readTree = await runBareGit(dir, ['read-tree', `${input.baseCommit}^{tree}`], { env });
      if (readTree.code !== 0) {
        throw new AppError('changesets.base_missing', `base commit ${input.baseCommit} is not in repository ${input.repositoryName}: ${readTree.stderr || `git read-tree exited with ${readTree.code}`}`);
      }
      const apply = await runBareGit(dir, ['apply', '--cached', '--whitespace=nowarn', '-'], { env, input: input.diff });
      if (apply.code !== 0) {
        throw new AppError('changesets.patch_does_not_apply', `the diff does not apply to ${input.repositoryName} at ${input.baseCommit}: ${apply.stderr || `git apply exited with ${apply.code}`}`);
      }
      const tree = await runBareGit(dir, ['write-tree'], { env });
      if (tree.code !== 0) throw new AppError('changesets.git_failed', `git write-tree failed in ${input.repositoryName}: ${tree.stderr}`);
      const message = input.message.endsWith('\n') ? input.message : `${input.message}\n`;
      const commit = await runBareGit(dir, ['commit-tree', '--no-gpg-sign', tree.stdout.trim(), '-p', input.baseCommit, '-F', '-'], { env: { ...env, ...identity }, input: message });
      const sha = commit.stdout.trim();
      if (commit.code !== 0 || !SHA.test(sha)) throw new AppError('changesets.git_failed', `git commit-tree failed in ${input.repositoryName}: ${commit.stderr}`);
      return sha;
    } finally {
      await fs.rm(indexDir, { recursive: true, force: true });
    }
  }

  /**
   * Points `refs/heads/<branch>` (and its marker) at `commit`, only if the branch is at `expected` now
   * (null: the branch must not exist).
   * @throws AppError `changesets.branch_moved` naming where the branch is, when it is not at `expected`.
   */
  async moveBranch(repositoryName: string, branch: string, commit: string, expected: string | null): Promise<void> {
    const dir = this.repositoryDir(repositoryName);
    const instructions = `update refs/heads/${branch} ${commit} ${expected ?? ZERO_SHA}\nupdate ${publishedBranchMarker(branch)} ${commit}\n`;
    await this.transaction(repositoryName, branch, dir, instructions, expected);
  }

  /**
   * Deletes the branch (if it is at `expected`; null: whatever it is at, or absent) and its marker.
   * @throws AppError `changesets.branch_moved` when it is not at `expected`.
   */
  async deleteBranch(repositoryName: string, branch: string, expected: string | null): Promise<void> {
    const dir = this.repositoryDir(repositoryName);
    const current = await this.branchHead(repositoryName, branch);
    const lines = [`delete ${publishedBranchMarker(branch)}`];
    if (current !== null) lines.unshift(`delete refs/heads/${branch} ${expected ?? current}`);
    await this.transaction(repositoryName, branch, dir, lines.join('\n') + '\n', expected);
  }

  /** Removes only the marker of a branch that is gone (it was deleted; nothing left to keep). */
  async forgetBranch(repositoryName: string, branch: string): Promise<void> {
    const dir = this.repositoryDir(repositoryName);
    await this.transaction(repositoryName, branch, dir, `delete ${publishedBranchMarker(branch)}\n`, null);
  }

  /** The commit `refs/heads/<branch>` points at, or null when there is no such branch. */
  async branchHead(repositoryName: string, branch: string): Promise<string | null> {
    const result = await runBareGit(this.repositoryDir(repositoryName), ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]);
    const sha = result.stdout.trim();
    return result.code === 0 && SHA.test(sha) ? sha : null;
  }

  private async transaction(repositoryName: string, branch: string, dir: string, instructions: string, expected: string | null): Promise<void> {
    assertInstructionSafe(branch);
    // Under the mirror's lock: a re-mirror lists the marked branches before it fetches, so a branch
    // written between the two would be pruned.
    const result = await withRepositoryLock(dir, () => runBareGit(dir, ['update-ref', '--stdin'], { input: instructions }));
    if (result.code === 0) return;
    const current = await this.branchHead(repositoryName, branch);
    if (current !== expected) {
      throw new AppError(
        'changesets.branch_moved',
        `branch ${branch} of ${repositoryName} is ${current === null ? 'absent' : `at ${current}`}, not ${expected === null ? 'absent' : `at ${expected}`} as this changeset left it: it was changed outside the batch change, so it is not overwritten (${result.stderr})`,
      );
    }
    throw new AppError('changesets.git_failed', `git update-ref failed for branch ${branch} of ${repositoryName}: ${result.stderr}`);
  }
}
