// Changesets end to end on a real coordinator, real git and both databases: a completed workspace's
// result becomes a changeset spec, the preview shows its diff and counts, apply pushes its branch into the
// coordinator's bare repository (author, committer, message; clone the branch back over the served URL and
// the change is there), apply is idempotent, a new result moves the branch, groups make branches of their
// own, duplicate branches and diffs that do not apply are refused, merged and deleted branches read back
// as MERGED and CLOSED, a repository that left the spec is closed, and others' batch changes are 404.
//
// The batch store (batch changes, executions, workspaces) is written on another branch: here an in-test
// BatchChangeLookup over parseBatchSpec stands in for it, and the test calls the ChangesetHook as the
// execution side does when a workspace's result is stored.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchChangeLookup, BatchChangeRef } from '../../src/coordinator/batches/batch-change-lookup.js';
import type { CompletedWorkspace } from '../../src/coordinator/batches/changeset-hook.js';
import { createChangesetService, type ChangesetService } from '../../src/coordinator/batches/changesets/changeset-service.js';
import { parseBatchSpec } from '../../src/coordinator/batches/spec/parse-batch-spec.js';
import { repositoryDirFor } from '../../src/coordinator/git/repository-mirror.js';
import { startHttpServer, type CoordinatorHttpServer } from '../../src/coordinator/http/http-server.js';
import { silentLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const run = promisify(execFile);
const GIT_ENV = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'Up Stream', GIT_AUTHOR_EMAIL: 'up@example.com', GIT_COMMITTER_NAME: 'Up Stream', GIT_COMMITTER_EMAIL: 'up@example.com' };
const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env: GIT_ENV, maxBuffer: 16 * 1024 * 1024 })).stdout;
const gitLine = async (cwd: string, ...args: string[]) => (await git(cwd, ...args)).trim();

/** Stands in for the batch store (another branch): batch changes parsed with parseBatchSpec, kept in memory. */
class InTestBatchChanges implements BatchChangeLookup {
  private readonly refs = new Map<number, BatchChangeRef>();
  private nextId = 1;

  constructor(private readonly usernames: Map<number, string>) {}

  add(owner: TestUser, yaml: string): BatchChangeRef {
    const parsed = parseBatchSpec(yaml);
    if (!parsed.ok) throw new Error(`the test's spec does not parse: ${JSON.stringify(parsed.errors)}`);
    const ref: BatchChangeRef = { id: this.nextId++, name: parsed.spec.name, namespace: owner.username, ownerUserId: owner.id, spec: parsed.spec };
    this.refs.set(ref.id, ref);
    return ref;
  }

  async findByName(actorUserId: number | null, isAdmin: boolean, name: string, namespace?: string): Promise<BatchChangeRef | undefined> {
    const wanted = namespace ?? (actorUserId !== null ? this.usernames.get(actorUserId) : undefined);
    return [...this.refs.values()].find((r) => r.name === name && r.namespace === wanted && (isAdmin || r.ownerUserId === actorUserId));
  }

  byId = async (id: number): Promise<BatchChangeRef | undefined> => this.refs.get(id);
}

/** A changesetTemplate-ending spec over `repositories`. */
function specYaml(name: string, repositories: string[], template: { branch?: string; published?: string; author?: boolean; groups?: string } = {}): string {
  return `name: ${name}
description: Replaces old with new
on:
${repositories.map((r) => `  - repository: ${r}`).join('\n')}
steps:
  - run: sed -i s/old/new/ README.md
    container: alpine:3
    outputs:
      count:
        value: \${{ step.stdout }}
${template.groups ?? ''}changesetTemplate:
  title: Replace old in \${{ repository.name }} (\${{ outputs.count }})
  body: "Changed: \${{ join steps.modified_files \\", \\" }}; added: \${{ join steps.added_files \\", \\" }}; in '\${{ steps.path }}'"
  branch: ${template.branch ?? `batch/${name}`}
  commit:
    message: "Replace old with new\\n\\nBy batch change \${{ batch_change.name }}."
${template.author === false ? '' : '    author:\n      name: Ada Author\n      email: ada@example.com\n'}  published: ${template.published ?? 'true'}
`;
}

describe.each(BACKENDS)('changesets on %s', (backend) => {
  let c: TestCoordinator;
  let server: CoordinatorHttpServer;
  let admin: AdminApi;
  let alice: TestUser;
  let bob: TestUser;
  let work: string;
  let batchChanges: InTestBatchChanges;
  let service: ChangesetService;
  let nextExecution = 1;
  let nextWorkspace = 1;
  let repositoryCount = 0;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    alice = await createTestUser(admin, 'alice');
    bob = await createTestUser(admin, 'bob');
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-changesets-'));
    batchChanges = new InTestBatchChanges(new Map([[alice.id, alice.username], [bob.id, bob.username]]));
    service = createChangesetService({ db: c.database.db, repositoriesDir: c.services.repositoriesDir, users: c.services.users, batchChangeById: batchChanges.byId, logger: silentLogger });
    // The coordinator's routes over the same services, with the changeset routes added (the lead wires
    // them into the coordinator itself with the batch store).
    server = await startHttpServer({ ...c.services, changesets: { changesets: service, lookup: batchChanges } }, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await c?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const as = (user: TestUser) => new AdminApi(server.url, user.token);
  const bare = (repository: string) => repositoryDirFor(c.services.repositoriesDir, repository);

  /** A source repository with README.md ("old") and two packages, registered with the coordinator. */
  async function newRepository(): Promise<{ name: string; source: string; base: string }> {
    const name = `github.com/acme/app${++repositoryCount}`;
    const source = path.join(work, `source-${repositoryCount}`);
    const created = await createSourceRepository(source, [
      { message: 'base', files: { 'README.md': 'an old readme\n', 'pkg/a/a.go': 'package a // old\n', 'pkg/b/b.go': 'package b // old\n', 'notes.txt': 'keep\n' } },
    ]);
    const res = await admin.post('/api/v1/repositories', { name, url: source });
    expect(res.status, res.text).toBe(201);
    return { name, source, base: created.commits[0]! };
  }

  /** Re-mirrors a repository from its source, as an admin registering it again does. */
  async function remirror(repository: { name: string; source: string }): Promise<void> {
    const res = await admin.post('/api/v1/repositories', { name: repository.name, url: repository.source });
    expect(res.status, res.text).toBe(200);
  }

  /** `git diff --binary` of `edits` (path → content, null deletes) against the base commit, as a workspace's result carries. */
  async function diffOf(repository: { source: string; base: string }, edits: Record<string, string | null>): Promise<string> {
    const tree = await fs.mkdtemp(path.join(work, 'edit-'));
    await git(work, 'clone', '-q', repository.source, tree);
    await git(tree, 'checkout', '-q', repository.base);
    for (const [file, content] of Object.entries(edits)) {
      if (content === null) await fs.rm(path.join(tree, file));
      else {
        await fs.mkdir(path.dirname(path.join(tree, file)), { recursive: true });
        await fs.writeFile(path.join(tree, file), content);
      }
    }
    await git(tree, 'add', '-A');
    return git(tree, 'diff', '--cached', '--binary', repository.base);
  }

  /** The hook's call for a workspace of `ref` that finished with `diff` (execution `executionId`). */
  function completed(ref: BatchChangeRef, repository: { name: string; base: string }, diff: string, options: { executionId: number; workspaceId?: number; path?: string }): CompletedWorkspace {
    return {
      batchChangeId: ref.id,
      executionId: options.executionId,
      workspaceId: options.workspaceId ?? nextWorkspace++,
      repositoryName: repository.name,
      branch: 'main',
      commit: repository.base,
      path: options.path ?? '',
      cached: false,
      result: { version: 1, diff, outputs: { count: '1' }, steps: [] },
    };
  }

  async function startExecution(ref: BatchChangeRef): Promise<number> {
    const id = nextExecution++;
    await service.executionStarted(ref.id, id);
    return id;
  }

  /** Clones `branch` of a repository over the coordinator's served git URL (as an executor would fetch it). */
  async function cloneBranch(repository: string, branch: string): Promise<string> {
    const dir = await fs.mkdtemp(path.join(work, 'clone-'));
    const headers = [`Authorization: token-executor ${c.executorToken}`, 'X-Sourcegraph-Job-ID: 1', 'X-Sourcegraph-Executor-Name: changesets-test'];
    await git(work, ...headers.flatMap((h) => ['-c', `http.extraHeader=${h}`]), 'clone', '-q', '--branch', branch, `${server.url}/.executors/git/${repository}`, dir);
    return dir;
  }

  const branchHead = async (repository: string, branch: string) => {
    try {
      return await gitLine(bare(repository), 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}`);
    } catch {
      return null;
    }
  };

  it('previews a workspace result and pushes it on apply: message, author and committer from the spec, the change there in a clone', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('replace-old', [repo.name]));
    const diff = await diffOf(repo, { 'README.md': 'a new readme\nwith a second line\n', 'docs/added.md': 'added\n' });
    const workspace = completed(ref, repo, diff, { executionId: await startExecution(ref) });
    await service.workspaceCompleted(workspace);

    const preview = await as(alice).get('/api/v1/batch-changes/replace-old/preview');
    expect(preview.status, preview.text).toBe(200);
    expect(preview.json.changesets).toHaveLength(1);
    expect(preview.json.changesets[0]).toMatchObject({
      repository: repo.name,
      branch: 'batch/replace-old',
      title: `Replace old in ${repo.name} (1)`,
      body: "Changed: README.md; added: docs/added.md; in ''",
      diff,
      added: 3,
      deleted: 1,
      operation: 'create',
      publish: true,
    });

    const applied = await as(alice).post('/api/v1/batch-changes/replace-old/apply');
    expect(applied.status, applied.text).toBe(200);
    expect(applied.json.changesets).toMatchObject([{ repository: repo.name, branch: 'batch/replace-old', state: 'OPEN', operation: 'create' }]);
    const pushed = applied.json.changesets[0].pushedCommit as string;
    expect(await branchHead(repo.name, 'batch/replace-old')).toBe(pushed);

    const commit = (await git(bare(repo.name), 'log', '-1', '--format=%P%n%an <%ae>%n%cn <%ce>%n%B', pushed)).split('\n');
    expect(commit.slice(0, 5)).toEqual([repo.base, 'Ada Author <ada@example.com>', 'Ada Author <ada@example.com>', 'Replace old with new', '']);
    expect(commit[5]).toBe('By batch change replace-old.');

    const clone = await cloneBranch(repo.name, 'batch/replace-old');
    expect(await fs.readFile(path.join(clone, 'README.md'), 'utf8')).toBe('a new readme\nwith a second line\n');
    expect(await fs.readFile(path.join(clone, 'docs/added.md'), 'utf8')).toBe('added\n');
    expect(await git(clone, 'diff', '--binary', repo.base, 'HEAD')).toBe(preview.json.changesets[0].diff);

    // Apply again, and replay the same result: nothing moves, nothing is duplicated.
    await service.workspaceCompleted(workspace);
    const again = await as(alice).post('/api/v1/batch-changes/replace-old/apply');
    expect(again.status, again.text).toBe(200);
    expect(await branchHead(repo.name, 'batch/replace-old')).toBe(pushed);
    const list = await as(alice).get('/api/v1/batch-changes/replace-old/changesets');
    expect(list.json.changesets).toMatchObject([{ repository: repo.name, branch: 'batch/replace-old', state: 'OPEN', pushedCommit: pushed, title: `Replace old in ${repo.name} (1)` }]);
  });

  it('replaces a replayed workspace result and makes no spec for an empty diff; apply twice changes nothing', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('replay', [repo.name]));
    const execution = await startExecution(ref);
    const diff = await diffOf(repo, { 'README.md': 'a new readme\n' });
    const workspace = completed(ref, repo, diff, { executionId: execution });
    await service.workspaceCompleted(workspace);
    await service.workspaceCompleted(workspace);
    const empty = completed(ref, repo, '', { executionId: execution });
    await service.workspaceCompleted(empty);
    const preview = await as(alice).get('/api/v1/batch-changes/replay/preview');
    expect(preview.json.changesets).toHaveLength(1);

    const first = await as(alice).post('/api/v1/batch-changes/replay/apply');
    expect(first.json.changesets).toMatchObject([{ operation: 'create', state: 'OPEN' }]);
    const pushed = await branchHead(repo.name, 'batch/replay');
    const second = await as(alice).post('/api/v1/batch-changes/replay/apply');
    expect(second.json.changesets).toMatchObject([{ operation: 'none', state: 'OPEN', pushedCommit: pushed }]);
    expect((await as(alice).get('/api/v1/batch-changes/replay/preview')).json.changesets).toMatchObject([{ operation: 'none' }]);
    expect(await branchHead(repo.name, 'batch/replay')).toBe(pushed);
  });

  it('moves the branch to a new commit when a new execution changes the result', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('republish', [repo.name]));
    await service.workspaceCompleted(completed(ref, repo, await diffOf(repo, { 'README.md': 'first try\n' }), { executionId: await startExecution(ref) }));
    await as(alice).post('/api/v1/batch-changes/republish/apply');
    const before = await branchHead(repo.name, 'batch/republish');

    const late = completed(ref, repo, await diffOf(repo, { 'README.md': 'late\n' }), { executionId: nextExecution - 1 });
    await service.workspaceCompleted(completed(ref, repo, await diffOf(repo, { 'README.md': 'second try\n' }), { executionId: await startExecution(ref) }));
    // A result of the earlier execution arriving now (its last job finishing late) is not current.
    await service.workspaceCompleted(late);
    const preview = await as(alice).get('/api/v1/batch-changes/republish/preview');
    expect(preview.json.changesets).toMatchObject([{ operation: 'update', diff: expect.stringContaining('+second try') }]);
    const applied = await as(alice).post('/api/v1/batch-changes/republish/apply');
    expect(applied.status, applied.text).toBe(200);
    const after = await branchHead(repo.name, 'batch/republish');
    expect(after).not.toBe(before);
    expect(await gitLine(bare(repo.name), 'rev-parse', `${after}^`)).toBe(repo.base);
    expect(await gitLine(bare(repo.name), 'show', `${after}:README.md`)).toBe('second try');
  });

  it('refuses to apply two specs that would push the same branch, naming both, and pushes nothing', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('duplicate', [repo.name], { branch: 'batch/same' }));
    const execution = await startExecution(ref);
    const a = completed(ref, repo, await diffOf(repo, { 'pkg/a/a.go': 'package a // new\n' }), { executionId: execution, path: 'pkg/a' });
    const b = completed(ref, repo, await diffOf(repo, { 'pkg/b/b.go': 'package b // new\n' }), { executionId: execution, path: 'pkg/b' });
    await service.workspaceCompleted(a);
    await service.workspaceCompleted(b);
    const applied = await as(alice).post('/api/v1/batch-changes/duplicate/apply');
    expect(applied.status, applied.text).toBe(409);
    expect(applied.json).toMatchObject({ code: 'changesets.duplicate_branch', repository: repo.name, branch: 'batch/same' });
    expect(applied.json.specs.map((s: { workspaceId: number }) => s.workspaceId)).toEqual([a.workspaceId, b.workspaceId]);
    expect(applied.json.error).toContain(`workspace ${a.workspaceId}`);
    expect(applied.json.error).toContain(`workspace ${b.workspaceId}`);
    expect(await branchHead(repo.name, 'batch/same')).toBeNull();
    expect((await as(alice).get('/api/v1/batch-changes/duplicate/changesets')).json.changesets).toEqual([]);
  });

  it('splits a diff by transformChanges groups into branches of their own', async () => {
    const repo = await newRepository();
    const groups = `transformChanges:\n  group:\n    - directory: pkg/a\n      branch: batch/groups-pkg-a\n    - directory: pkg/b\n      branch: batch/groups-pkg-b\n      repository: github.com/acme/elsewhere\n`;
    const ref = batchChanges.add(alice, specYaml('groups', [repo.name], { groups }));
    const diff = await diffOf(repo, { 'README.md': 'new\n', 'pkg/a/a.go': 'package a // new\n', 'pkg/a/more.go': 'package a\n', 'pkg/b/b.go': 'package b // new\n' });
    await service.workspaceCompleted(completed(ref, repo, diff, { executionId: await startExecution(ref) }));
    const preview = await as(alice).get('/api/v1/batch-changes/groups/preview');
    // pkg/b's group is for another repository: its file stays in the workspace's own changeset.
    expect(preview.json.changesets.map((p: { branch: string; body: string; added: number; deleted: number }) => [p.branch, p.body, p.added, p.deleted])).toEqual([
      ['batch/groups', "Changed: README.md, pkg/b/b.go; added: ; in ''", 2, 2],
      ['batch/groups-pkg-a', "Changed: pkg/a/a.go; added: pkg/a/more.go; in 'pkg/a'", 2, 1],
    ]);
    expect((await as(alice).post('/api/v1/batch-changes/groups/apply')).status).toBe(200);
    const files = async (branch: string) => (await git(bare(repo.name), 'diff', '--name-only', repo.base, `refs/heads/${branch}`)).trim().split('\n');
    expect(await files('batch/groups')).toEqual(['README.md', 'pkg/b/b.go']);
    expect(await files('batch/groups-pkg-a')).toEqual(['pkg/a/a.go', 'pkg/a/more.go']);
  });

  it('reads MERGED when the default branch reaches the pushed commit, and keeps published branches through a re-mirror', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('merge-me', [repo.name]));
    await service.workspaceCompleted(completed(ref, repo, await diffOf(repo, { 'README.md': 'merged\n' }), { executionId: await startExecution(ref) }));
    const applied = await as(alice).post('/api/v1/batch-changes/merge-me/apply');
    const pushed = applied.json.changesets[0].pushedCommit as string;

    // The source moves on; a re-mirror (fetch --prune) keeps the branch the coordinator published.
    await createSourceRepositoryCommit(repo.source, 'unrelated.txt');
    await remirror(repo);
    expect(await branchHead(repo.name, 'batch/merge-me')).toBe(pushed);
    expect((await as(alice).get('/api/v1/batch-changes/merge-me/changesets')).json.changesets).toMatchObject([{ state: 'OPEN' }]);

    // Upstream merges the branch (fetched from the coordinator), and the coordinator re-mirrors.
    await git(repo.source, 'fetch', '-q', bare(repo.name), 'refs/heads/batch/merge-me');
    await git(repo.source, 'merge', '-q', '--no-edit', 'FETCH_HEAD');
    await remirror(repo);
    expect((await as(alice).get('/api/v1/batch-changes/merge-me/changesets')).json.changesets).toMatchObject([{ state: 'MERGED', mergedAt: expect.any(String) }]);
  });

  it('reads CLOSED when the branch is deleted', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('delete-me', [repo.name]));
    await service.workspaceCompleted(completed(ref, repo, await diffOf(repo, { 'README.md': 'doomed\n' }), { executionId: await startExecution(ref) }));
    await as(alice).post('/api/v1/batch-changes/delete-me/apply');
    await git(bare(repo.name), 'update-ref', '-d', 'refs/heads/batch/delete-me');
    expect((await as(alice).get('/api/v1/batch-changes/delete-me/changesets')).json.changesets).toMatchObject([{ state: 'CLOSED', closedAt: expect.any(String) }]);
    // Its marker went with it: a re-mirror no longer treats the name as the coordinator's.
    expect(await gitLine(bare(repo.name), 'for-each-ref', 'refs/batch-changes/')).toBe('');
  });

  it('closes the changeset of a repository that left the spec: the preview says close, apply deletes its branch', async () => {
    const stays = await newRepository();
    const leaves = await newRepository();
    const ref = batchChanges.add(alice, specYaml('two-repos', [stays.name, leaves.name]));
    const first = await startExecution(ref);
    await service.workspaceCompleted(completed(ref, stays, await diffOf(stays, { 'README.md': 'stays\n' }), { executionId: first }));
    await service.workspaceCompleted(completed(ref, leaves, await diffOf(leaves, { 'README.md': 'leaves\n' }), { executionId: first }));
    expect((await as(alice).post('/api/v1/batch-changes/two-repos/apply')).json.changesets).toHaveLength(2);
    expect(await branchHead(leaves.name, 'batch/two-repos')).not.toBeNull();
    const staysHead = await branchHead(stays.name, 'batch/two-repos');

    // The next execution: the same change in one repository (nothing to push again), none in the other.
    const second = await startExecution(ref);
    await service.workspaceCompleted(completed(ref, stays, await diffOf(stays, { 'README.md': 'stays\n' }), { executionId: second }));
    const preview = await as(alice).get('/api/v1/batch-changes/two-repos/preview');
    expect(preview.json.changesets.map((p: { repository: string; operation: string }) => [p.repository, p.operation])).toEqual([
      [stays.name, 'none'],
      [leaves.name, 'close'],
    ]);
    const applied = await as(alice).post('/api/v1/batch-changes/two-repos/apply');
    expect(applied.json.changesets.map((p: { repository: string; state: string }) => [p.repository, p.state])).toEqual([
      [stays.name, 'OPEN'],
      [leaves.name, 'CLOSED'],
    ]);
    expect(await branchHead(leaves.name, 'batch/two-repos')).toBeNull();
    expect(await branchHead(stays.name, 'batch/two-repos')).toBe(staysHead);
    expect((await as(alice).get('/api/v1/batch-changes/two-repos/preview')).json.changesets.map((p: { operation: string }) => p.operation)).toEqual(['none']);
  });

  it('refuses a diff that does not apply to the base commit with git\'s message, and pushes nothing', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('no-apply', [repo.name]));
    // A diff made against other content than the base commit's README.
    const other = { source: repo.source, base: (await createSourceRepositoryCommit(repo.source, 'README.md')) };
    const diff = await diffOf(other, { 'README.md': 'edited elsewhere\n' });
    await service.workspaceCompleted(completed(ref, repo, diff, { executionId: await startExecution(ref) }));
    const applied = await as(alice).post('/api/v1/batch-changes/no-apply/apply');
    expect(applied.status, applied.text).toBe(422);
    expect(applied.json.code).toBe('changesets.patch_does_not_apply');
    expect(applied.json.error).toMatch(/does not apply to github\.com\/acme\/app\d+ at [0-9a-f]{40}: .*patch (failed|does not apply)/s);
    expect(await branchHead(repo.name, 'batch/no-apply')).toBeNull();
    expect((await as(alice).get('/api/v1/batch-changes/no-apply/changesets')).json.changesets).toEqual([]);
  });

  it('keeps an unpublished changeset off git until it is published, authored by the batch change owner by default', async () => {
    const repo = await newRepository();
    const ref = batchChanges.add(alice, specYaml('later', [repo.name], { published: 'false', author: false }));
    await service.workspaceCompleted(completed(ref, repo, await diffOf(repo, { 'README.md': 'later\n' }), { executionId: await startExecution(ref) }));
    const applied = await as(alice).post('/api/v1/batch-changes/later/apply');
    expect(applied.json.changesets).toMatchObject([{ state: 'UNPUBLISHED', pushedCommit: null }]);
    expect(await branchHead(repo.name, 'batch/later')).toBeNull();

    const id = applied.json.changesets[0].id as number;
    const published = await as(alice).post(`/api/v1/batch-changes/later/changesets/${id}/publish`);
    expect(published.status, published.text).toBe(200);
    expect(published.json).toMatchObject({ id, state: 'OPEN' });
    const head = (await branchHead(repo.name, 'batch/later'))!;
    expect(head).toBe(published.json.pushedCommit);
    expect(await gitLine(bare(repo.name), 'log', '-1', '--format=%an <%ae>|%cn <%ce>', head)).toBe('alice <alice@users.noreply.invalid>|alice <alice@users.noreply.invalid>');
    expect((await as(alice).post(`/api/v1/batch-changes/later/changesets/999999/publish`)).status).toBe(404);
  });

  it('answers 404 naming the batch change to a user who cannot see it', async () => {
    const repo = await newRepository();
    batchChanges.add(alice, specYaml('private-change', [repo.name]));
    for (const [method, route] of [['GET', 'preview'], ['POST', 'apply'], ['GET', 'changesets']] as const) {
      const res = method === 'GET' ? await as(bob).get(`/api/v1/batch-changes/private-change/${route}?namespace=alice`) : await as(bob).post(`/api/v1/batch-changes/private-change/${route}?namespace=alice`);
      expect(res.status, res.text).toBe(404);
      expect(res.json).toEqual({ error: 'no batch change "private-change" in namespace "alice"', field: 'name' });
    }
    expect((await as(bob).get('/api/v1/batch-changes/private-change/preview')).json.error).toBe('no batch change "private-change" in your namespace');
    // A site admin sees it; no token is a 401.
    expect((await new AdminApi(server.url, c.adminToken).get('/api/v1/batch-changes/private-change/preview?namespace=alice')).status).toBe(200);
    expect((await new AdminApi(server.url, '').get('/api/v1/batch-changes/private-change/preview')).status).toBe(401);
  });
});

/** Commits a change to `file` in the source repository; returns the new commit. */
async function createSourceRepositoryCommit(source: string, file: string): Promise<string> {
  await fs.writeFile(path.join(source, file), `changed upstream at ${Date.now()}\n`);
  await git(source, 'add', '-A');
  await git(source, 'commit', '-qm', `upstream change to ${file}`);
  return gitLine(source, 'rev-parse', 'HEAD');
}
