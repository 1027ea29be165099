// What a user may put in a job (issue 11, items 1 and 5; issue 12's step checks), attacked through the
// admin API of a real coordinator on PGlite and PostgreSQL: stored files of others, restricted
// repositories (at enqueue and again at dequeue), caller-set redactedValues and dockerAuthConfig, and
// every other field a caller sets, each refused with the field at fault.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobSpecSchema } from '../../src/protocol/job.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const STEP = { image: 'alpine:3', commands: ['true'] };

describe.each(BACKENDS)('what a user may put in a job, on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let sourceDir: string;
  let sourceCommit: string;
  let executor: ExecutorApi;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    alice = await createTestUser(admin, 'alice');
    bob = await createTestUser(admin, 'bob');
    carol = await createTestUser(admin, 'carol');
    sourceDir = await fs.mkdtemp(path.join(os.tmpdir(), 'job-contents-source-'));
    sourceCommit = (await createSourceRepository(sourceDir, [{ message: 'first', files: { 'README.md': 'hello\n' } }])).commits[0]!;
    executor = new ExecutorApi(c.url, c.executorToken, `job-contents-${backend}`);
    expect((await executor.heartbeat('batches')).status).toBe(200);
  });
  afterAll(async () => {
    await c?.stop();
    if (sourceDir) await fs.rm(sourceDir, { recursive: true, force: true });
  });

  const enqueue = (who: AdminApi, spec: Record<string, unknown>) => who.post('/api/v1/queues/batches/jobs', { dockerSteps: [STEP], ...spec });
  /** Dequeues until the job `id` comes (earlier tests may leave jobs queued); fails the others. */
  const dequeueJob = async (id: number) => {
    for (;;) {
      const res = await executor.dequeue('batches');
      if (res.status === 204) return null;
      if (res.json.id === id) return res.json;
      await executor.jobPost('batches', 'markFailed', res.json, { errorMessage: 'not this test' });
    }
  };

  it("refuses a job naming a stored file that is neither the caller's nor one of their organizations', naming the file", async () => {
    // A site admin's file: Bob may not have it copied into his job's workspace.
    expect((await admin.put('/api/v1/files/batch-changes/admin-spec/secret.txt', 'the admin file')).status).toBe(204);
    const stolen = await enqueue(bob.api, { files: { 'steal.txt': { bucket: 'batch-changes', key: 'admin-spec/secret.txt' } } });
    expect(stolen.status).toBe(403);
    expect(stolen.json).toMatchObject({ field: 'files.steal.txt', error: expect.stringContaining('batch-changes/admin-spec/secret.txt') });

    // Alice's own file: neither may Bob use it.
    expect((await alice.api.put('/api/v1/files/batch-changes/alice-spec/input.txt', 'alice file')).status).toBe(204);
    const fromAlice = await enqueue(bob.api, { files: { 'x.txt': { bucket: 'batch-changes', key: 'alice-spec/input.txt' } } });
    expect(fromAlice.status).toBe(403);
    expect(fromAlice.json.field).toBe('files.x.txt');
    // A file that does not exist reads the same: Bob learns nothing of which keys exist.
    const missing = await enqueue(bob.api, { files: { 'x.txt': { bucket: 'batch-changes', key: 'no/such/file' } } });
    expect(missing.status).toBe(403);
    expect(missing.json.error.replace('no/such/file', 'K')).toBe(fromAlice.json.error.replace('alice-spec/input.txt', 'K'));

    // Bob cannot replace Alice's file either; it keeps its content.
    expect((await bob.api.put('/api/v1/files/batch-changes/alice-spec/input.txt', 'bob was here')).status).toBe(403);
    expect((await c.services.files.get('batch-changes', 'alice-spec/input.txt'))!.toString()).toBe('alice file');

    // Alice may use her own file, and the job's token then reads it; a site admin may use any file.
    const own = await enqueue(alice.api, { files: { 'input.txt': { bucket: 'batch-changes', key: 'alice-spec/input.txt' } } });
    expect(own.status).toBe(201);
    expect((await enqueue(admin, { files: { 's.txt': { bucket: 'batch-changes', key: 'admin-spec/secret.txt' } } })).status).toBe(201);
    const job = await dequeueJob(own.json.id);
    const file = await fetch(`${c.url}/.executors/files/batch-changes/alice-spec/input.txt`, {
      headers: { authorization: `Bearer ${job!.token}`, 'x-sourcegraph-job-id': String(job!.id), 'x-sourcegraph-executor-name': executor.executorName },
    });
    expect(await file.text()).toBe('alice file');
    expect((await executor.markComplete('batches', job!)).status).toBe(204);
  });

  it("lets an organization's members use its files, and fails a waiting job whose creator left the organization, naming the file", async () => {
    const org = await alice.api.post('/api/v1/orgs', { name: `files-org-${backend}` });
    expect(org.status).toBe(201);
    expect((await alice.api.put(`/api/v1/files/batch-changes/org-spec/shared.txt?org=files-org-${backend}`, 'org file')).status).toBe(204);
    expect((await bob.api.put(`/api/v1/files/batch-changes/org-spec/other.txt?org=files-org-${backend}`, 'x')).status).toBe(403);
    const spec = { files: { 'shared.txt': { bucket: 'batch-changes', key: 'org-spec/shared.txt' } } };
    expect((await enqueue(bob.api, spec)).status).toBe(403);
    expect((await alice.api.post(`/api/v1/orgs/${org.json.id}/members`, { username: 'bob' })).status).toBe(204);
    const queued = await enqueue(bob.api, spec);
    expect(queued.status).toBe(201);

    expect((await alice.api.delete(`/api/v1/orgs/${org.json.id}/members/${bob.id}`)).status).toBe(204);
    expect(await dequeueJob(queued.json.id)).toBeNull();
    const view = (await admin.job('batches', queued.json.id)).json;
    expect(view.state).toBe('failed');
    expect(view.failureMessage).toContain('batch-changes/org-spec/shared.txt');
    expect(view.failureMessage).toContain('bob');
  });

  it("keeps a producer's files from users, and lets the producer's own jobs for a user use them", async () => {
    await c.services.files.put('batch-changes', 'producer-spec/input.json', Buffer.from('{}'), { kind: 'producer', producer: 'batches' });
    const named = await enqueue(alice.api, { files: { 'input.json': { bucket: 'batch-changes', key: 'producer-spec/input.json' } } });
    expect(named.status).toBe(403);
    expect(named.json.field).toBe('files.input.json');
    // The producer queues a job on Alice's behalf (it talks to the job store, not the API).
    const id = await c.services.jobs.enqueue('batches', { ...JobSpecSchema.parse({ dockerSteps: [STEP] }), files: { 'input.json': { bucket: 'batch-changes', key: 'producer-spec/input.json' } } }, { creatorId: alice.id });
    const job = await dequeueJob(id);
    expect(job?.id).toBe(id);
    expect((await executor.markComplete('batches', job!)).status).toBe(204);
  });

  it('keeps a restricted repository to the users and organizations granted, at enqueue and again at dequeue', async () => {
    const name = `github.com/acme/private-${backend}`;
    expect((await admin.post('/api/v1/repositories', { name, url: sourceDir, visibility: 'restricted' })).status).toBe(201);
    const spec = { repositoryName: name, commit: sourceCommit };

    const refused = await enqueue(bob.api, spec);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ field: 'repositoryName', error: expect.stringContaining(name) });
    // Restricted and unregistered read the same to a user.
    const unregistered = await enqueue(bob.api, { repositoryName: 'github.com/acme/nothing', commit: sourceCommit });
    expect(unregistered.status).toBe(403);
    expect(unregistered.json.error.replace('github.com/acme/nothing', 'R')).toBe(refused.json.error.replace(name, 'R'));
    expect((await bob.api.get('/api/v1/repositories')).json.repositories.map((r: { name: string }) => r.name)).not.toContain(name);

    // Granted to Bob by name, and to Carol through an organization.
    const org = await admin.post('/api/v1/orgs', { name: `repo-org-${backend}` });
    expect((await admin.post(`/api/v1/orgs/${org.json.id}/members`, { username: 'carol' })).status).toBe(204);
    const granted = await admin.put(`/api/v1/repositories/${name}/access`, { visibility: 'restricted', users: ['bob'], orgs: [`repo-org-${backend}`] });
    expect(granted.status).toBe(200);
    expect(granted.json).toMatchObject({ name, visibility: 'restricted', users: [{ username: 'bob' }], orgs: [{ name: `repo-org-${backend}` }] });
    expect((await admin.get(`/api/v1/repositories/${name}/access`)).json).toEqual(granted.json);
    expect((await bob.api.get('/api/v1/repositories')).json.repositories).toContainEqual({ name, visibility: 'restricted' });
    expect((await enqueue(alice.api, spec)).status).toBe(403);
    expect((await enqueue(carol.api, spec)).status).toBe(201);
    const bobsJob = await enqueue(bob.api, spec);
    expect(bobsJob.status).toBe(201);
    // Plain users may not change access.
    expect((await bob.api.put(`/api/v1/repositories/${name}/access`, { visibility: 'public' })).status).toBe(403);

    // Bob loses the grant while his job waits: the job fails at dequeue, naming the repository.
    expect((await admin.put(`/api/v1/repositories/${name}/access`, { visibility: 'restricted', orgs: [`repo-org-${backend}`] })).status).toBe(200);
    expect(await dequeueJob(bobsJob.json.id)).toBeNull();
    const view = (await admin.job('batches', bobsJob.json.id)).json;
    expect(view.state).toBe('failed');
    expect(view.failureMessage).toContain(name);
  });

  it("refuses redactedValues and dockerAuthConfig from users (the coordinator fills them from secrets), and accepts a site admin's", async () => {
    const redacted = await enqueue(alice.api, { redactedValues: { curl: 'echo' } });
    expect(redacted.status).toBe(403);
    expect(redacted.json.field).toBe('redactedValues');
    const auth = await enqueue(alice.api, { dockerAuthConfig: { auths: { 'registry.example.com': { auth: Buffer.from('u:p').toString('base64') } } } });
    expect(auth.status).toBe(403);
    expect(auth.json.field).toBe('dockerAuthConfig');
    const badAuth = await enqueue(admin, { dockerAuthConfig: { auths: { 'registry.example.com': { auth: 'not base64 of user:password' } } } });
    expect(badAuth.status).toBe(400);
    expect(badAuth.json.field).toBe('dockerAuthConfig.auths.registry.example.com.auth');

    const byAdmin = await enqueue(admin, { redactedValues: { 'admin-known-value': '[ADMIN]' } });
    expect(byAdmin.status).toBe(201);
    expect((await dequeueJob(byAdmin.json.id))!.redactedValues).toEqual({ 'admin-known-value': '[ADMIN]' });
  });

  it('refuses every malformed field at enqueue with a 400 naming it, before anything is stored', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['dockerSteps', { dockerSteps: [] }],
      ['dockerSteps.0.image', { dockerSteps: [{ image: '--privileged', commands: ['id'] }] }],
      ['dockerSteps.1.image', { dockerSteps: [STEP, { image: 'alpine; rm -rf /', commands: ['id'] }] }],
      ['dockerSteps.0.image', { dockerSteps: [{ image: 'Alpine:3', commands: ['id'] }] }],
      ['dockerSteps.0.dir', { dockerSteps: [{ ...STEP, dir: '../../etc' }] }],
      ['dockerSteps.0.dir', { dockerSteps: [{ ...STEP, dir: '/etc' }] }],
      ['dockerSteps.0.env.1', { dockerSteps: [{ ...STEP, env: ['OK=1', 'NO_EQUALS_SIGN'] }] }],
      ['dockerSteps.0.key', { dockerSteps: [{ ...STEP, key: 'has space' }] }],
      ['dockerSteps.0.secrets.0', { dockerSteps: [{ ...STEP, secrets: ['not a name'] }] }],
      ['cliSteps.0.command', { dockerSteps: [], cliSteps: [{ command: [] }] }],
      ['commit', { commit: '--upload-pack=touch /tmp/pwned' }],
      ['commit', { commit: 'main:refs/heads/x' }],
      ['commit', { repositoryName: 'github.com/acme/app' }],
      ['repositoryName', { repositoryName: '../etc', commit: 'main' }],
      ['repositoryDirectory', { repositoryDirectory: '../outside' }],
      ['sparseCheckout.0', { sparseCheckout: ['--upload-pack=x'] }],
      ['files.a.txt', { files: { 'a.txt': { content: 'x', bucket: 'b', key: 'k' } } }],
      ['files.a.txt.key', { files: { 'a.txt': { bucket: 'b' } } }],
      ['files.a.txt.bucket', { files: { 'a.txt': { bucket: '../b', key: 'k' } } }],
      ['files.a.txt.modifiedAt', { files: { 'a.txt': { content: 'x', modifiedAt: '2024-02-30T00:00:00Z' } } }],
      ['files.a.txt.modifiedAt', { files: { 'a.txt': { content: 'x', modifiedAt: '2024-01-01T25:00:00Z' } } }],
      ['files.../x', { files: { '../x': { content: 'x' } } }],
    ];
    const before = await c.database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    for (const [field, spec] of cases) {
      const res = await enqueue(alice.api, spec);
      expect(res.status, JSON.stringify(spec)).toBe(400);
      expect(res.json, JSON.stringify(spec)).toMatchObject({ field, error: expect.any(String) });
    }
    expect(await c.database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs')).toEqual(before);
    // The same job, well-formed, is taken.
    expect((await enqueue(alice.api, { dockerSteps: [{ key: 'build.1', image: 'registry.example.com:5000/team/tool:1.2', commands: ['make'], dir: 'src/app', env: ['A=b=c'] }] })).status).toBe(201);
  });
});
