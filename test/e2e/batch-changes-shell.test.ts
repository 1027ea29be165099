// Batch changes end to end on the shell runtime: a coordinator (PostgreSQL) serving real git repositories,
// a batch spec over three of them whose `sed` step's output feeds a later step that also uses an executor
// secret, run by bin/executor with this project's `src batch-helper` (node_modules/.bin); the stored diff
// applies to a fresh clone and is what the steps did; a cached re-run makes no job, noCache makes jobs;
// cancel and retry; a step failing in one workspace while the others complete; a monorepo with
// rootAtLocationOf and onlyFetchWorkspace (the repository's root is not fetched).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangesetHook, CompletedWorkspace } from '../../src/coordinator/batches/changeset-hook.js';
import { AdminApi } from '../helpers/api-client.js';
import { spawnBatchesShellExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const run = promisify(execFile);
const SECRET_VALUE = 'greeting-secret-value-0123456789';

class RecordingChangesetHook implements ChangesetHook {
  completed: CompletedWorkspace[] = [];
  started: number[] = [];
  async workspaceCompleted(workspace: CompletedWorkspace): Promise<void> {
    this.completed.push(workspace);
  }
  async executionStarted(_batchChangeId: number, executionId: number): Promise<void> {
    this.started.push(executionId);
  }
}

const template = `changesetTemplate:
  title: Mode bar (\${{ outputs.count }})
  body: b
  branch: mode-bar
  commit:
    message: switch the mode`;

const MODE_SPEC = `name: mode-bar
description: switch the mode
on:
  - repositoriesMatchingQuery: repo:^github\\.com/acme/svc- mode=foo
steps:
  - run: |
      sed -i "s/mode=foo/mode=$(cat ../new-mode.txt)/" config.txt
      printf %s "$(grep -c "mode=$NEW_MODE" config.txt)"
    container: alpine:3
    # Rendered by the coordinator into the job (step 0): a templated env value and a templated file,
    # outside the repository (the workspace root), so not in the diff.
    env:
      - NEW_MODE: \${{ printf "%s" "bar" }}
    files:
      ../new-mode.txt: \${{ printf "%sr" "ba" }}
    outputs:
      count:
        value: \${{ step.stdout }}
  - run: |
      echo "count=\${{ outputs.count }} files=\${{ join previous_step.modified_files "," }} secret_length=\${#GREETING_TOKEN}" > status.txt
      echo "the token is $GREETING_TOKEN"
    container: alpine:3
    outputs:
      printed:
        value: \${{ step.stdout }}
    env:
      - GREETING_TOKEN
      - LITERAL: \${{ repository.name }}
${template}
`;

describe('batch changes on the shell runtime (bin/executor, src batch-helper)', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let work: string;
  const hook = new RecordingChangesetHook();
  const sources: Record<string, string> = {};

  const runJobs = async (n: number) => {
    const executor = spawnBatchesShellExecutor(c, { tmpDir: work, totalJobs: n, slots: 2 });
    expect(await executor.exited, executor.log()).toBe(0);
  };
  const view = async (name: string) => (await alice.api.get(`/api/v1/batch-changes/${name}`)).json;
  const settled = (name: string) =>
    waitFor(`batch change ${name} to settle`, async () => {
      const v = await view(name);
      return v.execution && ['COMPLETED', 'FAILED', 'CANCELED'].includes(v.execution.state) ? v : undefined;
    }, 30_000);
  const batchJobCount = async () => (await admin.get('/api/v1/queues/batches/jobs?limit=500')).json.jobs.length as number;

  beforeAll(async () => {
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'batch-changes-shell-')));
    c = await startTestCoordinator('postgres', {}, { changesetHook: hook });
    admin = new AdminApi(c.url, c.adminToken);
    const add = async (name: string, files: Record<string, string>) => {
      const source = await createSourceRepository(path.join(work, 'sources', name.replaceAll('/', '_')), [{ message: 'initial', files }]);
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
      sources[name] = source.path;
    };
    await add('github.com/acme/svc-a', { 'config.txt': 'mode=foo\nother=1\n' });
    await add('github.com/acme/svc-b', { 'config.txt': 'mode=foo\n' });
    await add('github.com/acme/svc-c', { 'config.txt': 'mode=foo\n', 'fail-here': 'this one fails\n' });
    await add('github.com/acme/mono', { 'README.md': 'root\n', 'packages/x/package.json': '{}\n', 'packages/y/package.json': '{}\n' });
    alice = await createTestUser(admin, 'alice');
    const secret = await alice.api.post(`/api/v1/users/${alice.id}/secrets`, { key: 'GREETING_TOKEN', value: SECRET_VALUE, scope: 'batches' });
    expect(secret.status, secret.text).toBe(201);
  });
  afterAll(async () => {
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('runs a spec over three repositories: a sed step, its output used by the next step with a secret; the diff is right', async () => {
    const created = await alice.api.post('/api/v1/batch-changes', { spec: MODE_SPEC });
    expect(created.status, created.text).toBe(201);
    expect(created.json.workspaces.map((w: { repository: string }) => w.repository)).toEqual(['github.com/acme/svc-a', 'github.com/acme/svc-b', 'github.com/acme/svc-c']);
    const started = await alice.api.post('/api/v1/batch-changes/mode-bar/execute', {});
    expect(started.status, started.text).toBe(201);
    expect(started.json.workspaces.every((w: { state: string; jobId: number | null }) => w.state === 'QUEUED' && w.jobId !== null)).toBe(true);
    await runJobs(3);
    const done = await settled('mode-bar');
    expect(done.execution.state, JSON.stringify(done.workspaces, null, 1)).toBe('COMPLETED');
    expect(done.workspaces.map((w: { state: string; cached: boolean }) => [w.state, w.cached])).toEqual([['COMPLETED', false], ['COMPLETED', false], ['COMPLETED', false]]);

    const a = done.workspaces[0];
    const detail = (await alice.api.get(`/api/v1/batch-changes/mode-bar/workspaces/${a.id}`)).json;
    // The secret printed by the step is taken out of its stored output and of the outputs, as from the log.
    expect(detail.result.outputs).toEqual({ count: '1', printed: 'the token is ${{ secrets.GREETING_TOKEN }}\n' });
    expect(detail.result.steps[1].stdout).toBe('the token is ${{ secrets.GREETING_TOKEN }}\n');
    expect(JSON.stringify(detail.result)).not.toContain(SECRET_VALUE);
    expect(detail.result.steps.map((s: { index: number; modifiedFiles: string[]; addedFiles: string[] }) => [s.index, s.modifiedFiles, s.addedFiles])).toEqual([
      [0, ['config.txt'], []],
      [1, [], ['status.txt']],
    ]);
    const diff = detail.result.diff as string;
    expect(diff).toContain('-mode=foo\n+mode=bar\n');
    // The output of step 0 and its changed files reached step 1; so did the secret (its length only is written).
    expect(diff).toContain(`+count=1 files=config.txt secret_length=${SECRET_VALUE.length}\n`);
    expect(diff).not.toContain(SECRET_VALUE);
    // The stored diff applies to a fresh clone of the source and gives what the steps made.
    const clone = path.join(work, 'check-a');
    await run('git', ['clone', '-q', sources['github.com/acme/svc-a']!, clone]);
    const patch = path.join(work, 'a.diff');
    await fs.writeFile(patch, diff);
    await run('git', ['apply', patch], { cwd: clone });
    expect(await fs.readFile(path.join(clone, 'config.txt'), 'utf8')).toBe('mode=bar\nother=1\n');

    expect(hook.completed.filter((w) => w.executionId === started.json.execution.id).map((w) => [w.repositoryName, w.cached])).toEqual(
      expect.arrayContaining([['github.com/acme/svc-a', false], ['github.com/acme/svc-b', false], ['github.com/acme/svc-c', false]]),
    );
    // The job ran step 0 from the files the coordinator rendered (no helper before it), a helper step
    // between and after the steps (the last one uploading); the secret and the job token stay out of its log.
    const job = (await admin.jobWithOutput('batches', a.jobId)).json;
    expect(job.state).toBe('completed');
    expect(job.executionLogs.map((e: { key: string }) => e.key)).not.toContain('step.docker.step.0.pre');
    expect(job.executionLogs.map((e: { key: string }) => e.key)).toEqual(expect.arrayContaining(['step.docker.step.0.run', 'step.docker.step.0.post', 'step.docker.step.1.run', 'step.docker.step.1.post']));
    const log = JSON.stringify(job.executionLogs);
    expect(log).not.toContain(SECRET_VALUE);
    expect(log).not.toMatch(/Bearer [0-9a-f]{40}/);
    // The last step has outputs (templates): the node helper uploaded.
    const upload = job.executionLogs.find((e: { key: string }) => e.key === 'step.docker.step.1.post');
    expect(upload.out).toMatch(/uploaded the result: \d+ bytes of diff, 2 steps, 2 outputs/);
  });

  it('reuses the step cache on a re-run (no job), and makes jobs again with noCache; cancel and retry', async () => {
    const before = await batchJobCount();
    const cached = await alice.api.post('/api/v1/batch-changes/mode-bar/execute', {});
    expect(cached.status).toBe(201);
    expect(cached.json.execution.state).toBe('COMPLETED');
    expect(cached.json.workspaces.map((w: { state: string; cached: boolean; jobId: number | null }) => [w.state, w.cached, w.jobId])).toEqual([
      ['COMPLETED', true, null],
      ['COMPLETED', true, null],
      ['COMPLETED', true, null],
    ]);
    expect(await batchJobCount()).toBe(before);
    expect(hook.completed.filter((w) => w.executionId === cached.json.execution.id).every((w) => w.cached && w.result.diff.includes('+mode=bar'))).toBe(true);

    const fresh = await alice.api.post('/api/v1/batch-changes/mode-bar/execute', { noCache: true });
    expect(fresh.json.workspaces.map((w: { state: string }) => w.state)).toEqual(['QUEUED', 'QUEUED', 'QUEUED']);
    expect(await batchJobCount()).toBe(before + 3);
    const canceled = await alice.api.post('/api/v1/batch-changes/mode-bar/cancel');
    expect(canceled.json).toMatchObject({ canceled: 3, execution: { state: 'CANCELED' } });
    const jobIds = fresh.json.workspaces.map((w: { jobId: number }) => w.jobId);
    for (const id of jobIds) expect((await admin.job('batches', id)).json.state).toBe('canceled');

    const retried = await alice.api.post('/api/v1/batch-changes/mode-bar/retry');
    expect(retried.json.retried).toBe(3);
    expect(retried.json.workspaces.every((w: { state: string; jobId: number }) => w.state === 'QUEUED' && !jobIds.includes(w.jobId))).toBe(true);
    await runJobs(3);
    expect((await settled('mode-bar')).execution.state).toBe('COMPLETED');
  });

  it('cancels a running workspace: CANCELING until the executor stops the step, then CANCELED', async () => {
    const spec = `name: slow
description: takes long
on:
  - repository: github.com/acme/svc-b
steps:
  - run: echo started; sleep 120
    container: alpine:3
${template}
`;
    expect((await alice.api.post('/api/v1/batch-changes', { spec })).status).toBe(201);
    expect((await alice.api.post('/api/v1/batch-changes/slow/execute', {})).status).toBe(201);
    const executor = spawnBatchesShellExecutor(c, { tmpDir: work, totalJobs: 1 });
    await waitFor('the slow step to run', async () => (await view('slow')).workspaces[0].state === 'PROCESSING');
    const canceled = await alice.api.post('/api/v1/batch-changes/slow/cancel');
    expect(canceled.json).toMatchObject({ canceled: 0, canceling: 1, execution: { state: 'CANCELING' } });
    expect(canceled.json.workspaces[0].state).toBe('CANCELING');
    expect(await executor.exited, executor.log()).toBe(0);
    const done = await settled('slow');
    expect(done.execution.state).toBe('CANCELED');
    expect(done.workspaces[0].state).toBe('CANCELED');
    expect((await admin.job('batches', done.workspaces[0].jobId)).json.state).toBe('canceled');
  });

  it('fails the workspace whose step fails while the others complete, and retries that one workspace', async () => {
    const spec = MODE_SPEC.replace('name: mode-bar', 'name: may-fail').replace(
      '      sed -i "s/mode=foo/mode=$(cat ../new-mode.txt)/" config.txt\n',
      '      if [ -f fail-here ]; then echo refusing to change this one >&2; exit 4; fi\n      sed -i "s/mode=foo/mode=$(cat ../new-mode.txt)/" config.txt\n',
    );
    expect((await alice.api.post('/api/v1/batch-changes', { spec })).status).toBe(201);
    expect((await alice.api.post('/api/v1/batch-changes/may-fail/execute', {})).status).toBe(201);
    await runJobs(3);
    const done = await settled('may-fail');
    expect(done.execution.state).toBe('FAILED');
    expect(done.workspaces.map((w: { repository: string; state: string }) => [w.repository, w.state])).toEqual([
      ['github.com/acme/svc-a', 'COMPLETED'],
      ['github.com/acme/svc-b', 'COMPLETED'],
      ['github.com/acme/svc-c', 'FAILED'],
    ]);
    const failed = done.workspaces[2];
    expect(failed.failureMessage).toBeTruthy();
    const log = (await admin.jobWithOutput('batches', failed.jobId)).json.executionLogs.find((e: { key: string }) => e.key === 'step.docker.step.0.run');
    expect(log).toMatchObject({ exitCode: 4 });
    expect(log.out).toContain('refusing to change this one');

    const retried = await alice.api.post(`/api/v1/batch-changes/may-fail/workspaces/${failed.id}/retry`);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.json.workspaces[2]).toMatchObject({ state: 'QUEUED' });
    expect(retried.json.workspaces[2].jobId).not.toBe(failed.jobId);
    // A workspace already queued again is not retried twice.
    expect((await alice.api.post(`/api/v1/batch-changes/may-fail/workspaces/${failed.id}/retry`)).status).toBe(409);
    await runJobs(1);
    expect((await settled('may-fail')).workspaces[2].state).toBe('FAILED');
  });

  it('runs one workspace per package of a monorepo, fetching only that package', async () => {
    const spec = `name: mono
description: per package
on:
  - repository: github.com/acme/mono
workspaces:
  - rootAtLocationOf: package.json
    onlyFetchWorkspace: true
steps:
  - run: |
      if [ -e ../../README.md ]; then echo the root was fetched >&2; exit 1; fi
      echo "\${{ steps.path }}" > where.txt
    container: alpine:3
${template.replace('${{ outputs.count }}', '${{ steps.path }}')}
`;
    const created = await alice.api.post('/api/v1/batch-changes', { spec });
    expect(created.status, created.text).toBe(201);
    expect(created.json.workspaces.map((w: { path: string }) => w.path)).toEqual(['packages/x', 'packages/y']);
    expect((await alice.api.post('/api/v1/batch-changes/mono/execute', {})).status).toBe(201);
    await runJobs(2);
    const done = await settled('mono');
    expect(done.execution.state, JSON.stringify(done.workspaces, null, 1)).toBe('COMPLETED');
    for (const w of done.workspaces) {
      const detail = (await alice.api.get(`/api/v1/batch-changes/mono/workspaces/${w.id}`)).json;
      expect(detail.result.diff).toContain(`+++ b/${w.path}/where.txt\n@@ -0,0 +1 @@\n+${w.path}\n`);
      expect(detail.result.steps).toEqual([expect.objectContaining({ index: 0, skipped: false, exitCode: 0, addedFiles: [`${w.path}/where.txt`], modifiedFiles: [] })]);
      // Its one step has no outputs: the helper's shell form uploaded (sh, git, base64, curl; no node start).
      const job = (await admin.jobWithOutput('batches', w.jobId)).json;
      const upload = job.executionLogs.find((e: { key: string }) => e.key === 'step.docker.step.0.post');
      expect(upload.out).toContain('uploaded the result: the diff and step 0 (shell helper)');
    }
  });
});
