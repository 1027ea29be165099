// Batch changes through the API on a real coordinator (PGlite and PostgreSQL) with real git repositories:
// resolution of `on` and `workspaces` (a query over three repositories, `.batchignore`, a monorepo with
// rootAtLocationOf, on.repository with branches), a restricted repository never showing, namespaces
// (own, an organization's, another's refused), the errors of bad bodies and specs, and a result a job
// uploads with its own token — refused with git's message when its diff does not apply.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_RESULTS_ROUTE } from '../../src/protocol/batch-execution.js';
import type { ChangesetHook, CompletedWorkspace } from '../../src/coordinator/batches/changeset-hook.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

/** The changeset side as far as these tests need it: what it was told. */
class RecordingChangesetHook implements ChangesetHook {
  completed: CompletedWorkspace[] = [];
  started: Array<{ batchChangeId: number; executionId: number }> = [];
  async workspaceCompleted(workspace: CompletedWorkspace): Promise<void> {
    this.completed.push(workspace);
  }
  async executionStarted(batchChangeId: number, executionId: number): Promise<void> {
    this.started.push({ batchChangeId, executionId });
  }
}

const spec = (body: string) => `name: mode-bar\ndescription: switch the mode\n${body}\nchangesetTemplate:\n  title: Mode bar\n  body: b\n  branch: mode-bar\n  commit:\n    message: switch the mode\n`;
const QUERY_SPEC = spec(`on:
  - repositoriesMatchingQuery: repo:^github\\.com/acme/svc- file:config\\.txt mode=foo
steps:
  - run: sed -i 's/mode=foo/mode=bar/' config.txt
    container: alpine:3`);

describe.each(BACKENDS)('batch changes API on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let bob: TestUser;
  let work: string;
  const hook = new RecordingChangesetHook();
  const sources: Record<string, { path: string; commits: string[] }> = {};

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'batch-changes-api-'));
    c = await startTestCoordinator(backend, {}, { changesetHook: hook });
    admin = new AdminApi(c.url, c.adminToken);
    const add = async (name: string, files: Record<string, string>, visibility?: 'restricted') => {
      const source = await createSourceRepository(path.join(work, name.replaceAll('/', '_')), [{ message: 'initial', files }]);
      const res = await admin.post('/api/v1/repositories', { name, url: source.path, ...(visibility ? { visibility } : {}) });
      expect(res.status, res.text).toBe(201);
      sources[name] = source;
    };
    await add('github.com/acme/svc-a', { 'config.txt': 'mode=foo\n' });
    await add('github.com/acme/svc-b', { 'config.txt': 'mode=foo\n', 'docs/config.txt': 'mode=foo\n' });
    await add('github.com/acme/svc-c', { 'config.txt': 'mode=foo\n' });
    await add('github.com/acme/svc-ignored', { 'config.txt': 'mode=foo\n', '.batchignore': '' });
    await add('github.com/acme/svc-nomatch', { 'config.txt': 'mode=baz\n' });
    await add('github.com/acme/svc-hidden', { 'config.txt': 'mode=foo\n' }, 'restricted');
    await add('github.com/acme/mono', { 'README.md': 'root\n', 'packages/x/package.json': '{}\n', 'packages/y/package.json': '{}\n', 'tools/z/notes.txt': 'z\n' });
    alice = await createTestUser(admin, 'alice');
    bob = await createTestUser(admin, 'bob');
  });
  afterAll(async () => {
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('resolves a query over the repositories the user may read, with .batchignore skipped and the hidden one absent', async () => {
    const res = await alice.api.post('/api/v1/batch-changes', { spec: QUERY_SPEC });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ name: 'mode-bar', namespace: 'alice', state: 'PENDING', execution: null });
    expect(res.json.workspaces.map((w: { repository: string; path: string; state: string }) => [w.repository, w.path, w.state])).toEqual([
      ['github.com/acme/svc-a', '', 'PENDING'],
      ['github.com/acme/svc-b', '', 'PENDING'],
      ['github.com/acme/svc-c', '', 'PENDING'],
      ['github.com/acme/svc-ignored', '', 'SKIPPED'],
    ]);
    const b = res.json.workspaces[1];
    expect(b).toMatchObject({ branch: 'main', commit: sources['github.com/acme/svc-b']!.commits[0], searchResultPaths: ['config.txt', 'docs/config.txt'] });
    expect(res.json.workspaces[3].skippedReason).toBe('the repository has a .batchignore file at its root');
    // 🚨 The restricted repository matches the query but is not alice's to read: it appears nowhere.
    expect(res.text).not.toContain('svc-hidden');
    // A site admin's resolution does include it.
    const asAdmin = await admin.post('/api/v1/batch-changes', { spec: QUERY_SPEC });
    expect(asAdmin.status).toBe(201);
    expect(asAdmin.json.workspaces.map((w: { repository: string }) => w.repository)).toContain('github.com/acme/svc-hidden');
    // Replaced by name: 200, the same batch change.
    const again = await alice.api.post('/api/v1/batch-changes', { spec: QUERY_SPEC.replace('switch the mode', 'switch the mode again') });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id: res.json.id, description: 'switch the mode again' });
    const list = await alice.api.get('/api/v1/batch-changes');
    expect(list.json.batchChanges.map((x: { name: string; namespace: string }) => `${x.namespace}/${x.name}`)).toEqual(['alice/mode-bar']);
  });

  it('makes one workspace per directory holding rootAtLocationOf, and reads on.repository at its branches', async () => {
    const res = await alice.api.post('/api/v1/batch-changes', {
      spec: spec(`on:
  - repository: github.com/acme/mono
  - repository: github.com/acme/svc-a
    branches: [main, nope]
  - repository: github.com/acme/svc-hidden
workspaces:
  - rootAtLocationOf: package.json
    in: github.com/acme/mono
    onlyFetchWorkspace: true
steps:
  - run: touch x
    container: alpine:3`).replace('name: mode-bar', 'name: mono'),
    });
    expect(res.status, res.text).toBe(201);
    const rows = res.json.workspaces.map((w: { repository: string; branch: string; path: string; onlyFetchWorkspace: boolean; skipped: boolean; skippedReason: string | null }) => [w.repository, w.branch, w.path, w.onlyFetchWorkspace, w.skippedReason]);
    expect(rows).toEqual([
      // Named explicitly but restricted: said to be unusable, exactly as an unregistered one would be.
      ['github.com/acme/svc-hidden', '', '', false, 'no repository "github.com/acme/svc-hidden" that you may use (it is not registered, or restricted to other users)'],
      ['github.com/acme/mono', 'main', 'packages/x', true, null],
      ['github.com/acme/mono', 'main', 'packages/y', true, null],
      ['github.com/acme/svc-a', 'main', '', false, null],
      ['github.com/acme/svc-a', 'nope', '', false, 'branch "nope" does not exist in github.com/acme/svc-a'],
    ].sort((x, y) => (x[0]! < y[0]! ? -1 : x[0]! > y[0]! ? 1 : 0)));
  });

  it('puts a batch change in an organization the user belongs to, and keeps it from others', async () => {
    const org = await alice.api.post('/api/v1/orgs', { name: 'acme-platform' });
    expect(org.status).toBe(201);
    const res = await alice.api.post('/api/v1/batch-changes', { spec: QUERY_SPEC, namespace: 'acme-platform' });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ namespace: 'acme-platform', namespaceKind: 'org' });
    expect((await alice.api.get('/api/v1/batch-changes/mode-bar?namespace=acme-platform')).status).toBe(200);
    const denied = await bob.api.get('/api/v1/batch-changes/mode-bar?namespace=acme-platform');
    expect(denied.status).toBe(404);
    expect(denied.json).toMatchObject({ field: 'namespace' });
    expect((await bob.api.post('/api/v1/batch-changes', { spec: QUERY_SPEC, namespace: 'acme-platform' })).json).toMatchObject({ field: 'namespace' });
    // The lookup the changeset side uses follows the same rules.
    const { lookup } = c.services.batches;
    expect(await lookup.findByName(alice.id, false, 'mode-bar', 'acme-platform')).toMatchObject({ id: res.json.id, name: 'mode-bar', namespace: 'acme-platform', ownerUserId: alice.id, spec: { name: 'mode-bar' } });
    expect(await lookup.findByName(alice.id, false, 'mode-bar')).toMatchObject({ namespace: 'alice' });
    expect(await lookup.findByName(bob.id, false, 'mode-bar', 'acme-platform')).toBeUndefined();
    expect(await lookup.findByName(bob.id, false, 'mode-bar')).toBeUndefined();
    expect(await lookup.findByName(null, true, 'mode-bar', 'alice')).toMatchObject({ namespace: 'alice' });
    expect(await lookup.findByName(null, false, 'mode-bar', 'alice')).toBeUndefined();
    // bob has no batch change of his own named so.
    expect((await bob.api.get('/api/v1/batch-changes/mode-bar')).json).toMatchObject({ field: 'name', error: 'no batch change "mode-bar" in namespace bob' });
  });

  it('names what is wrong with a bad body or spec', async () => {
    const post = (body: unknown) => alice.api.post('/api/v1/batch-changes', body);
    expect((await post({})).json).toMatchObject({ field: 'spec' });
    expect((await post({ spec: QUERY_SPEC, extra: 1 })).status).toBe(400);
    const unauthenticated = await new AdminApi(c.url, 'nope').post('/api/v1/batch-changes', { spec: QUERY_SPEC });
    expect(unauthenticated.status).toBe(401);
    const bad = await post({ spec: QUERY_SPEC.replace('container: alpine:3', 'contianer: alpine:3') });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('spec');
    expect(bad.json.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'steps[0].contianer', line: 7, message: expect.stringContaining('unknown field "contianer"') })]));
    const badQuery = await post({ spec: QUERY_SPEC.replace('file:config\\.txt', 'lang:go') });
    expect(badQuery.status).toBe(400);
    expect(badQuery.json.errors[0]).toMatchObject({ field: 'on[0].repositoriesMatchingQuery' });
    expect(badQuery.json.error).toContain('the filter lang: is not supported');
    const execute = await alice.api.post('/api/v1/batch-changes/mode-bar/execute', { noCache: 'yes' });
    expect(execute.status).toBe(400);
    expect(execute.json.field).toBe('noCache');
    expect((await alice.api.post('/api/v1/batch-changes/mode-bar/workspaces/abc/retry')).json).toMatchObject({ field: 'id' });
    expect((await alice.api.post('/api/v1/batch-changes/mode-bar/retry')).status).toBe(409);
    expect((await alice.api.post('/api/v1/batch-changes/mode-bar/cancel')).status).toBe(409);
  });

  it('takes a result only with the job\'s own token, and fails the workspace with git\'s message when its diff does not apply', async () => {
    const started = await alice.api.post('/api/v1/batch-changes/mode-bar/execute', {});
    expect(started.status, started.text).toBe(201);
    expect(started.json.execution.state).toBe('QUEUED');
    expect(hook.started.at(-1)).toEqual({ batchChangeId: started.json.id, executionId: started.json.execution.id });
    expect((await alice.api.post('/api/v1/batch-changes/mode-bar/execute', {})).status).toBe(409);

    // The test speaks the executor protocol itself, over real HTTP.
    const executor = new ExecutorApi(c.url, c.executorToken, 'test-executor');
    expect((await executor.heartbeat('batches')).status).toBe(200);
    const job = (await executor.dequeue('batches')).json;
    // Step 0 rendered by the coordinator into job files: no helper step before it.
    expect(job.dockerSteps.map((s) => s.key)).toEqual(['step.0.run', 'step.0.post']);
    expect(Object.keys(job.files)).toEqual(expect.arrayContaining(['.batches/input.json', '.batches/step0.sh', '.batches/run0.sh']));
    // Only the last helper step, which uploads, has the job's token.
    expect(job.dockerSteps[1]!.env).toEqual(expect.arrayContaining([`SRC_HEADER_AUTHORIZATION=Bearer ${job.token}`]));
    expect(JSON.stringify(job.dockerSteps.slice(0, 1))).not.toContain(job.token);
    expect(JSON.stringify(job.files)).not.toContain(job.token);
    expect(job.redactedValues[job.token]).toBe('PASSWORD_REMOVED');
    const post = (authorization: string, body: unknown) =>
      fetch(c.url + BATCH_RESULTS_ROUTE, {
        method: 'POST',
        headers: { authorization, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': 'test-executor', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const badDiff = 'diff --git a/config.txt b/config.txt\n--- a/config.txt\n+++ b/config.txt\n@@ -1 +1 @@\n-mode=nothing-like-this\n+mode=bar\n';
    const result = { version: 1, diff: badDiff, outputs: {}, steps: [] };
    const shared = await post(`token-executor ${c.executorToken}`, result);
    expect(shared.status).toBe(403);
    const refused = await post(`Bearer ${job.token}`, result);
    expect(refused.status).toBe(422);
    const message = ((await refused.json()) as { error: string }).error;
    expect(message).toMatch(/^the diff does not apply to github\.com\/acme\/svc-[abc]@[0-9a-f]{40}: error: patch failed: config\.txt:1/);
    const view = await alice.api.get('/api/v1/batch-changes/mode-bar');
    const failed = view.json.workspaces.find((w: { jobId: number | null }) => w.jobId === job.id);
    expect(failed).toMatchObject({ state: 'FAILED', failureMessage: message });
    expect(hook.completed).toHaveLength(0);

    // A diff that applies is stored and handed on; a second result for the same job is refused.
    const job2 = (await executor.dequeue('batches')).json;
    const good = { version: 1, diff: 'diff --git a/config.txt b/config.txt\n--- a/config.txt\n+++ b/config.txt\n@@ -1 +1 @@\n-mode=foo\n+mode=bar\n', outputs: { x: 1 }, steps: [] };
    // The shell helper's form (multipart, what git wrote) is checked field by field before anything is kept.
    const malformed = new FormData();
    for (const [name, value] of Object.entries({ version: '1', state: 'null', index: '0', skipped: 'false', exitCode: 'seven', stdout: '', stderr: '', changes: '', diff: '' })) malformed.append(name, value);
    const refusedForm = await fetch(c.url + BATCH_RESULTS_ROUTE, {
      method: 'POST',
      headers: { authorization: `Bearer ${job2.token}`, 'x-sourcegraph-job-id': String(job2.id), 'x-sourcegraph-executor-name': 'test-executor' },
      body: malformed,
    });
    expect(refusedForm.status).toBe(400);
    expect(await refusedForm.text()).toContain('invalid request body: exitCode: expected a number or null, got "seven"');
    const stored = await fetch(c.url + BATCH_RESULTS_ROUTE, {
      method: 'POST',
      headers: { authorization: `Bearer ${job2.token}`, 'x-sourcegraph-job-id': String(job2.id), 'x-sourcegraph-executor-name': 'test-executor', 'content-type': 'application/json' },
      body: JSON.stringify(good),
    });
    expect(stored.status, await stored.clone().text()).toBe(200);
    expect(hook.completed).toHaveLength(1);
    expect(hook.completed[0]).toMatchObject({ batchChangeId: started.json.id, executionId: started.json.execution.id, cached: false, path: '', branch: 'main', result: good });
    const workspace = (await alice.api.get('/api/v1/batch-changes/mode-bar')).json.workspaces.find((w: { jobId: number | null }) => w.jobId === job2.id);
    expect(workspace.state).toBe('COMPLETED');
    const detail = await alice.api.get(`/api/v1/batch-changes/mode-bar/workspaces/${workspace.id}`);
    expect(detail.json.result).toEqual(good);

    // Cancel: the queued job is canceled at once; the two held by the test executor are told to stop.
    const canceled = await alice.api.post('/api/v1/batch-changes/mode-bar/cancel');
    expect(canceled.status, canceled.text).toBe(200);
    expect(canceled.json).toMatchObject({ canceled: 1, canceling: 0 });
    expect(canceled.json.execution.state).toBe('CANCELED');
    expect(canceled.json.workspaces.filter((w: { state: string }) => w.state !== 'SKIPPED').map((w: { state: string }) => w.state).sort()).toEqual(['CANCELED', 'COMPLETED', 'FAILED']);
  });

  it('makes one execution of two executes sent at once', async () => {
    const answers = await Promise.all([alice.api.post('/api/v1/batch-changes/mode-bar/execute', {}), alice.api.post('/api/v1/batch-changes/mode-bar/execute', {})]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    // The workspace whose result was stored above comes from alice's step cache; the two others have a job each.
    const view = (await alice.api.get('/api/v1/batch-changes/mode-bar')).json;
    expect(view.workspaces.filter((w: { skipped: boolean }) => !w.skipped).map((w: { state: string; cached: boolean }) => `${w.state}${w.cached ? ' cached' : ''}`).sort()).toEqual(['COMPLETED cached', 'QUEUED', 'QUEUED']);
    expect((await admin.get('/api/v1/queues/batches/jobs?state=queued')).json.jobs).toHaveLength(2);
    expect((await alice.api.post('/api/v1/batch-changes/mode-bar/cancel')).json).toMatchObject({ canceled: 2 });
  });
});
