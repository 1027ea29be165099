// Tests for repository mirroring, against the real `git` binary and temporary repositories.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { publishedBranchMarker, publishedBranches } from './published-branches.js';
import { mirrorRepository, repositoryDirFor, validateRepositoryName } from './repository-mirror.js';

const execFileAsync = promisify(execFile);
let workDir: string;

// Isolated from the machine's git config; a fixed identity so commits need no setup.
function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: workDir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env: gitEnv() });
  return stdout.trim();
}

async function commit(repo: string, message: string): Promise<string> {
  await git(repo, 'commit', '--allow-empty', '-q', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

async function expectAppError(promise: Promise<unknown>, code: string, messagePart?: RegExp): Promise<AppError> {
  const err: unknown = await promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  if (messagePart) expect((err as AppError).message).toMatch(messagePart);
  return err as AppError;
}

beforeEach(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'repository-mirror-test-'));
});
afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('validateRepositoryName', () => {
  it('accepts host/owner/name style names', () => {
    for (const name of ['github.com/foo/bar', 'a', 'x_y-z.1/.github', 'a'.repeat(255)]) {
      expect(validateRepositoryName(name), name).toBeNull();
    }
  });

  it('names the problem with each invalid name', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['../x', /'\.\.' segment/],
      ['a/../b', /'\.\.' segment/],
      ['a/./b', /'\.' segment/],
      ['/abs', /relative/],
      ['a//b', /empty segment/],
      ['a/', /empty segment/],
      ['a b', /characters outside/],
      ['a/b\\c', /characters outside/],
      ['foo.git/bar', /nest/],
      ['a'.repeat(256), /at most 255/],
    ];
    for (const [name, problem] of cases) expect(validateRepositoryName(name), name).toMatch(problem);
  });
});

describe('repositoryDirFor', () => {
  it('appends .git under the repositories directory', () => {
    expect(repositoryDirFor('/data/repositories', 'github.com/foo/bar')).toBe('/data/repositories/github.com/foo/bar.git');
  });

  it('throws repository.invalid_name for an invalid name', () => {
    expect(() => repositoryDirFor('/data/repositories', '../etc')).toThrow(
      expect.objectContaining({ code: 'repository.invalid_name', message: expect.stringMatching(/\.\./) }),
    );
  });
});

describe('mirrorRepository', () => {
  let source: string;
  let repositoriesDir: string;

  beforeEach(async () => {
    source = path.join(workDir, 'source');
    repositoriesDir = path.join(workDir, 'repositories');
    await execFileAsync('git', ['init', '-q', '-b', 'main', source], { env: gitEnv() });
  });

  it.each(['../x', '/abs', 'a//b', 'a/./b'])('rejects the name %j without touching the disk', async (name) => {
    await expectAppError(mirrorRepository({ repositoriesDir, name, sourceUrl: source, logger: silentLogger }), 'repository.invalid_name');
    await expect(stat(repositoriesDir)).rejects.toThrow(/ENOENT/);
  });

  it('rejects a source URL that would be read as an option', async () => {
    await expectAppError(
      mirrorRepository({ repositoriesDir, name: 'x', sourceUrl: '-uecho', logger: silentLogger }),
      'repository.invalid_source_url',
      /'-'/,
    );
    await expect(stat(repositoriesDir)).rejects.toThrow(/ENOENT/);
  });

  it('clones a mirror with every branch and tag, then fetches new commits and prunes deleted refs', async () => {
    const first = await commit(source, 'first');
    await git(source, 'tag', 'v1');
    await git(source, 'branch', 'doomed');
    const second = await commit(source, 'second');

    const created = await mirrorRepository({ repositoriesDir, name: 'github.com/foo/bar', sourceUrl: source, logger: silentLogger });
    expect(created).toMatchObject({ repositoryDir: path.join(repositoriesDir, 'github.com/foo/bar.git'), created: true });
    const mirror = created.repositoryDir;
    expect(await git(mirror, 'rev-parse', '--is-bare-repository')).toBe('true');
    expect(await git(mirror, 'rev-parse', 'refs/heads/main', 'refs/tags/v1', 'refs/heads/doomed')).toBe(
      [second, first, first].join('\n'),
    );
    // Nothing temporary is left beside the mirrors.
    expect(await readdir(repositoriesDir)).toEqual(['github.com']);

    const third = await commit(source, 'third');
    await git(source, 'branch', '-D', 'doomed');
    const again = await mirrorRepository({ repositoriesDir, name: 'github.com/foo/bar', sourceUrl: source, logger: silentLogger });
    expect(again).toMatchObject({ repositoryDir: mirror, created: false });
    expect(await git(mirror, 'rev-parse', 'refs/heads/main')).toBe(third);
    expect(await git(mirror, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main\nrefs/tags/v1');
  });

  it('keeps the branches changesets published in the mirror when it fetches again with --prune', async () => {
    const first = await commit(source, 'first');
    const mirror = (await mirrorRepository({ repositoriesDir, name: 'github.com/foo/bar', sourceUrl: source, logger: silentLogger })).repositoryDir;
    // What the changeset publisher writes: the branch and its marker, in one transaction.
    await git(mirror, 'update-ref', 'refs/heads/batch/fix', first);
    await git(mirror, 'update-ref', publishedBranchMarker('batch/fix'), first);
    // A branch of the mirror's that upstream does not have and nothing marked is pruned as before.
    await git(mirror, 'update-ref', 'refs/heads/stray', first);
    // Upstream grows a branch of the same name: it does not overwrite the published one.
    const second = await commit(source, 'second');
    await git(source, 'branch', 'batch/fix', second);

    await mirrorRepository({ repositoriesDir, name: 'github.com/foo/bar', sourceUrl: source, logger: silentLogger });
    expect(await git(mirror, 'for-each-ref', '--format=%(refname) %(objectname)')).toBe(
      [`refs/batch-changes/heads/batch/fix ${first}`, `refs/heads/batch/fix ${first}`, `refs/heads/main ${second}`].join('\n'),
    );
    expect(await publishedBranches(mirror)).toEqual(['batch/fix']);
  });

  it('runs concurrent mirrors of one repository one after the other', async () => {
    const head = await commit(source, 'first');
    const options = { repositoriesDir, name: 'github.com/foo/bar', sourceUrl: source, logger: silentLogger };
    const results = await Promise.all([mirrorRepository(options), mirrorRepository(options), mirrorRepository(options)]);
    expect(results.map((r) => r.created)).toEqual([true, false, false]);
    expect(await git(results[0]!.repositoryDir, 'rev-parse', 'refs/heads/main')).toBe(head);
  });

  it('reports a failed clone as repository.clone_failed with git’s message, leaving nothing behind', async () => {
    const missing = path.join(workDir, 'no-such-repository');
    await expectAppError(
      mirrorRepository({ repositoriesDir, name: 'github.com/foo/missing', sourceUrl: missing, logger: silentLogger }),
      'repository.clone_failed',
      /git clone --mirror exited with 128: .*(does not exist|not appear to be a git repository)/s,
    );
    expect(await readdir(repositoriesDir)).toEqual(['github.com']);
    expect(await readdir(path.join(repositoriesDir, 'github.com'))).toEqual(['foo']);
    expect(await readdir(path.join(repositoriesDir, 'github.com/foo'))).toEqual([]);
  });

  it('reports a failed fetch of an existing mirror as repository.clone_failed', async () => {
    await commit(source, 'first');
    await mirrorRepository({ repositoriesDir, name: 'x', sourceUrl: source, logger: silentLogger });
    await rm(source, { recursive: true });
    await expectAppError(
      mirrorRepository({ repositoriesDir, name: 'x', sourceUrl: source, logger: silentLogger }),
      'repository.clone_failed',
      /git fetch exited with \d+: .*(does not exist|not appear to be a git repository)/s,
    );
  });

  it('keeps git’s error message to its last 2 KB', async () => {
    // A long missing path makes git's message long; the `fatal:` at its end must survive the cap.
    const longMissing = path.join(workDir, 'm'.repeat(200), 'n'.repeat(200), 'o'.repeat(200), 'p'.repeat(200), 'q'.repeat(200));
    const err = await expectAppError(
      mirrorRepository({ repositoriesDir, name: 'y', sourceUrl: `${longMissing}/${'r'.repeat(2000)}`, logger: silentLogger }),
      'repository.clone_failed',
    );
    const stderrPart = err.message.slice(err.message.indexOf(': ') + 2);
    expect(Buffer.byteLength(stderrPart)).toBeLessThanOrEqual(2048 + 3);
    expect(stderrPart).toMatch(/^…/);
  });
});
