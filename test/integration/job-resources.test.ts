// A job's token clones its repository through the coordinator's git smart HTTP, and reads the files
// its payload names — with the real git client, on both databases.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const run = promisify(execFile);
const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })).stdout.trim();

describe.each(BACKENDS)('job resources on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let e: ExecutorApi;
  let work: string;
  let firstCommit: string;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    e = new ExecutorApi(c.url, c.executorToken, `resources-${backend}`);
    await e.heartbeat('batches');
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-resources-'));
    const source = await createSourceRepository(path.join(work, 'source'), [
      { message: 'first', files: { 'README.md': 'first\n' } },
      { message: 'second', files: { 'README.md': 'second\n' } },
    ]);
    firstCommit = source.commits[0]!;
    for (const name of ['github.com/acme/app', 'github.com/acme/other']) {
      const res = await admin.post('/api/v1/repositories', { name, url: source.path });
      expect(res.status, res.text).toBe(201);
    }
  });
  afterAll(async () => {
    await c?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('lets a job token fetch its repository at a commit, and refuses another repository', async () => {
    await admin.enqueue('batches', { repositoryName: 'github.com/acme/app', commit: firstCommit });
    const job = (await e.dequeue('batches')).json;
    const headers = [`Authorization: Bearer ${job.token}`, `X-Sourcegraph-Job-ID: ${job.id}`, `X-Sourcegraph-Executor-Name: ${e.executorName}`, 'X-Sourcegraph-Actor-UID: internal'];
    const extra = headers.flatMap((h) => ['-c', `http.extraHeader=${h}`]);
    const clone = path.join(work, `clone-${job.id}`);
    await fs.mkdir(clone);
    await git(clone, 'init', '-q');
    await git(clone, ...extra, '-c', 'protocol.version=2', 'fetch', '-q', '--no-tags', '--depth=1', `${c.url}/.executors/git/github.com/acme/app`, firstCommit);
    await git(clone, 'checkout', '-q', firstCommit);
    expect(await fs.readFile(path.join(clone, 'README.md'), 'utf8')).toBe('first\n');

    await expect(git(clone, ...extra, 'fetch', '-q', `${c.url}/.executors/git/github.com/acme/other`, firstCommit)).rejects.toThrow(/403/);
    await expect(git(clone, 'fetch', '-q', `${c.url}/.executors/git/github.com/acme/app`, firstCommit)).rejects.toThrow(/could not read Username|401/);
    expect((await e.markComplete('batches', job)).status).toBe(204);
    // Once the job is done its token no longer clones.
    await expect(git(clone, ...extra, 'fetch', '-q', `${c.url}/.executors/git/github.com/acme/app`, firstCommit)).rejects.toThrow(/could not read Username|401/);
  });

  it('serves a job only the files its payload names, with GET and HEAD', async () => {
    const put = await fetch(`${c.url}/api/v1/files/batch-changes/spec1/file1`, { method: 'PUT', headers: { authorization: `Bearer ${c.adminToken}` }, body: 'hello files' });
    expect(put.status).toBe(204);
    await fetch(`${c.url}/api/v1/files/batch-changes/spec2/secret`, { method: 'PUT', headers: { authorization: `Bearer ${c.adminToken}` }, body: 'not yours' });
    await admin.enqueue('batches', { files: { 'workspace-files/a.txt': { bucket: 'batch-changes', key: 'spec1/file1' } } });
    const job = (await e.dequeue('batches')).json;
    const headers = { authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': e.executorName };
    const got = await fetch(`${c.url}/.executors/files/batch-changes/spec1/file1`, { headers });
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('hello files');
    const head = await fetch(`${c.url}/.executors/files/batch-changes/spec1/file1`, { method: 'HEAD', headers });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('11');
    expect((await fetch(`${c.url}/.executors/files/batch-changes/spec2/secret`, { headers })).status).toBe(403);
    expect((await fetch(`${c.url}/.executors/files/batch-changes/spec1/file1`)).status).toBe(401);
    await e.markComplete('batches', job);
  });
});
