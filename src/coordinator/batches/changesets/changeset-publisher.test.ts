// ChangesetPublisher and detectPublishedState against a real bare repository: a patch committed on its
// base without a worktree (author, committer, dates, parent), branches moved only by compare-and-swap with
// their markers, refusals for a patch that does not apply and for the default branch, and the states read back.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.js';
import { publishedBranches } from '../../git/published-branches.js';
import { ChangesetPublisher } from './changeset-publisher.js';
import { detectPublishedState } from './changeset-state.js';

const run = promisify(execFile);
const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };
const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env: GIT_ENV })).stdout.trim();

const NAME = 'github.com/acme/app';
let dir: string;
let repositoriesDir: string;
let bare: string;
let work: string;
let base: string;
let diff: string;
const publisher = () => new ChangesetPublisher(repositoriesDir);

async function expectAppError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  if (message) expect((err as AppError).message).toMatch(message);
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-publisher-'));
  repositoriesDir = path.join(dir, 'repositories');
  work = path.join(dir, 'work');
  await fs.mkdir(work, { recursive: true });
  await git(work, 'init', '-q', '-b', 'main');
  await fs.writeFile(path.join(work, 'README.md'), 'old\n');
  await fs.writeFile(path.join(work, 'file with space.txt'), 'x\n');
  await git(work, 'add', '-A');
  await git(work, 'commit', '-qm', 'base');
  base = await git(work, 'rev-parse', 'HEAD');
  bare = path.join(repositoriesDir, `${NAME}.git`);
  await fs.mkdir(path.dirname(bare), { recursive: true });
  await git(dir, 'clone', '-q', '--mirror', work, bare);
  await fs.writeFile(path.join(work, 'README.md'), 'new\n');
  await fs.rm(path.join(work, 'file with space.txt'));
  await fs.writeFile(path.join(work, 'added.bin'), Buffer.from([0, 1, 2, 255]));
  await git(work, 'add', '-A');
  diff = (await run('git', ['diff', '--cached', '--binary', base], { cwd: work, env: GIT_ENV })).stdout;
  await git(work, 'reset', '-q', '--hard');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('ChangesetPublisher', () => {
  it('commits a patch on its base commit with the author and committer given, touching no ref and no worktree', async () => {
    const refsBefore = await git(bare, 'for-each-ref');
    const sha = await publisher().commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'Change things\n\nBody.', author: { name: 'Ada', email: 'ada@example.com' }, date: new Date('2026-01-02T03:04:05Z') });
    expect(await git(bare, 'log', '-1', '--format=%P|%an <%ae> %aI|%cn <%ce> %cI|%B', sha)).toBe(`${base}|Ada <ada@example.com> 2026-01-02T03:04:05+00:00|Ada <ada@example.com> 2026-01-02T03:04:05+00:00|Change things\n\nBody.`);
    expect(await git(bare, 'show', `${sha}:README.md`)).toBe('new');
    expect((await git(bare, 'ls-tree', '--name-only', sha)).split('\n')).toEqual(['README.md', 'added.bin']);
    expect(Buffer.from((await run('git', ['cat-file', 'blob', `${sha}:added.bin`], { cwd: bare, encoding: 'buffer' })).stdout)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(await git(bare, 'for-each-ref')).toBe(refsBefore);
    // The same input makes the same commit: a retried apply does not make a different one.
    expect(await publisher().commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'Change things\n\nBody.', author: { name: 'Ada', email: 'ada@example.com' }, date: new Date('2026-01-02T03:04:05Z') })).toBe(sha);
  });

  it("refuses a patch that does not apply with git's message, and a base commit the repository lacks", async () => {
    const broken = diff.replace('-old', '-something else');
    await expectAppError(publisher().commitPatch({ repositoryName: NAME, baseCommit: base, diff: broken, message: 'm', author: { name: 'A', email: 'a@b' } }), 'changesets.patch_does_not_apply', /README\.md.*patch does not apply|patch failed/s);
    await expectAppError(publisher().commitPatch({ repositoryName: NAME, baseCommit: 'f'.repeat(40), diff, message: 'm', author: { name: 'A', email: 'a@b' } }), 'changesets.base_missing', /is not in repository github\.com\/acme\/app/);
    await expectAppError(publisher().commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'm', author: { name: 'A <x>', email: 'a@b' } }), 'changesets.invalid_author', /name "A <x>"/);
  });

  it('moves a branch only from where it is expected, with its marker, and deletes both', async () => {
    const p = publisher();
    const first = await p.commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'one', author: { name: 'A', email: 'a@b' } });
    const second = await p.commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'two', author: { name: 'A', email: 'a@b' } });
    await p.moveBranch(NAME, 'batch/x', first, null);
    expect(await p.branchHead(NAME, 'batch/x')).toBe(first);
    expect(await publishedBranches(bare)).toEqual(['batch/x']);
    // Not from "absent" once it exists, nor from a commit it is not at.
    await expectAppError(p.moveBranch(NAME, 'batch/x', second, null), 'changesets.branch_moved', new RegExp(`is at ${first}, not absent`));
    await expectAppError(p.moveBranch(NAME, 'batch/x', second, base), 'changesets.branch_moved');
    expect(await p.branchHead(NAME, 'batch/x')).toBe(first);
    await p.moveBranch(NAME, 'batch/x', second, first);
    expect(await git(bare, 'rev-parse', 'refs/heads/batch/x', 'refs/batch-changes/heads/batch/x')).toBe(`${second}\n${second}`);
    await expectAppError(p.deleteBranch(NAME, 'batch/x', first), 'changesets.branch_moved');
    await p.deleteBranch(NAME, 'batch/x', second);
    expect(await p.branchHead(NAME, 'batch/x')).toBeNull();
    expect(await publishedBranches(bare)).toEqual([]);
    // A name that would add an instruction of its own to update-ref --stdin is refused before git sees it.
    await expectAppError(p.moveBranch(NAME, `x ${first}\nupdate refs/heads/main`, first, null), 'changesets.invalid_branch');
    expect(await git(bare, 'rev-parse', 'refs/heads/main')).toBe(base);
  });

  it('names why a branch cannot hold a changeset: the default or base branch, or not a branch name', async () => {
    const p = publisher();
    expect(await p.branchProblem(NAME, 'batch/ok', 'main')).toBeNull();
    expect(await p.branchProblem(NAME, 'main', 'release')).toMatch(/default branch/);
    expect(await p.branchProblem(NAME, 'release', 'release')).toMatch(/base branch/);
    for (const bad of ['a..b', 'x.lock', 'has space', '-dash', 'a//b', '']) expect(await p.branchProblem(NAME, bad, 'main'), bad).toMatch(/not a valid branch name/);
  });
});

describe('detectPublishedState', () => {
  it('reads OPEN, then MERGED once the base branch contains the commit (even with the branch gone), CLOSED when the branch is deleted unmerged', async () => {
    const p = publisher();
    const merged = await p.commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'merge me', author: { name: 'A', email: 'a@b' } });
    const closed = await p.commitPatch({ repositoryName: NAME, baseCommit: base, diff, message: 'close me', author: { name: 'A', email: 'a@b' } });
    await p.moveBranch(NAME, 'batch/merged', merged, null);
    await p.moveBranch(NAME, 'batch/closed', closed, null);
    const state = (branch: string, pushedCommit: string) => detectPublishedState(bare, { headBranch: branch, baseBranch: 'main', pushedCommit });
    expect(await state('batch/merged', merged)).toBe('OPEN');
    await git(bare, 'update-ref', 'refs/heads/main', merged, base);
    expect(await state('batch/merged', merged)).toBe('MERGED');
    await git(bare, 'update-ref', '-d', 'refs/heads/batch/merged');
    expect(await state('batch/merged', merged)).toBe('MERGED');
    expect(await state('batch/closed', closed)).toBe('OPEN');
    await git(bare, 'update-ref', '-d', 'refs/heads/batch/closed');
    expect(await state('batch/closed', closed)).toBe('CLOSED');
    await git(bare, 'update-ref', 'refs/heads/main', base, merged);
  });
});
