// Who is asked first, and for whom a job token works (issue 11, items 13 and 14), on PGlite and
// PostgreSQL: secret routes authenticate before they look a secret up (401 for everyone without a
// token, whether the id exists or not), and the read routes of the executor API (git, files) accept a
// job token only with the name of the executor that holds the job, as the acting routes do.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('route authentication on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let sourceDir: string;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    sourceDir = await fs.mkdtemp(path.join(os.tmpdir(), 'route-auth-source-'));
  });
  afterAll(async () => {
    await c?.stop();
    if (sourceDir) await fs.rm(sourceDir, { recursive: true, force: true });
  });

  it('answers 401 on every secret route without a token, whether or not the secret exists', async () => {
    const secret = await admin.post('/api/v1/secrets', { key: 'EXISTS', value: 'v', scope: 'batches' });
    expect(secret.status).toBe(201);
    const anonymous = new AdminApi(c.url, '');
    for (const id of [String(secret.json.id), '999999', 'not-a-number']) {
      expect((await anonymous.put(`/api/v1/secrets/${id}`, { value: 'x' })).status, id).toBe(401);
      expect((await anonymous.delete(`/api/v1/secrets/${id}`)).status, id).toBe(401);
      expect((await anonymous.get(`/api/v1/secrets/${id}/access-logs`)).status, id).toBe(401);
      expect((await anonymous.get(`/api/v1/users/${id}/secrets`)).status, id).toBe(401);
      expect((await anonymous.post(`/api/v1/orgs/${id}/secrets`, { key: 'A', value: 'b', scope: 'batches' })).status, id).toBe(401);
    }
    // Nothing changed.
    expect((await admin.get('/api/v1/secrets')).json.secrets.map((s: { key: string }) => s.key)).toEqual(['EXISTS']);
  });

  it("refuses a job token on the git and files routes with another heartbeating executor's name", async () => {
    const { commits } = await createSourceRepository(sourceDir, [{ message: 'first', files: { 'a.txt': 'a\n' } }]);
    const name = `github.com/acme/route-auth-${backend}`;
    expect((await admin.post('/api/v1/repositories', { name, url: sourceDir })).status).toBe(201);
    expect((await admin.put('/api/v1/files/batch-changes/spec/file', 'file content')).status).toBe(204);
    const holder = new ExecutorApi(c.url, c.executorToken, `holder-${backend}`);
    const other = new ExecutorApi(c.url, c.executorToken, `other-${backend}`);
    await holder.heartbeat('batches');
    await other.heartbeat('batches');
    await admin.enqueue('batches', { repositoryName: name, commit: commits[0], files: { f: { bucket: 'batch-changes', key: 'spec/file' } } });
    const job = (await holder.dequeue('batches')).json;

    const as = (executorName: string) => ({ authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': executorName });
    const refs = (executorName: string) => fetch(`${c.url}/.executors/git/${name}/info/refs?service=git-upload-pack`, { headers: as(executorName) });
    const file = (executorName: string) => fetch(`${c.url}/.executors/files/batch-changes/spec/file`, { headers: as(executorName) });
    const head = (executorName: string) => fetch(`${c.url}/.executors/files/batch-changes/spec/file`, { method: 'HEAD', headers: as(executorName) });

    expect((await refs(other.executorName)).status).toBe(403);
    const stolen = await file(other.executorName);
    expect(stolen.status).toBe(403);
    expect(await stolen.text()).not.toContain('file content');
    expect((await head(other.executorName)).status).toBe(403);
    // The holder reads both; an acting route from the other executor is refused as before.
    expect((await refs(holder.executorName)).status).toBe(200);
    expect(await (await file(holder.executorName)).text()).toBe('file content');
    expect((await other.jobPost('batches', 'markComplete', job)).status).not.toBe(204);
    expect((await holder.markComplete('batches', job)).status).toBe(204);
  });
});
