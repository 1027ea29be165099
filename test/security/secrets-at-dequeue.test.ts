// Executor secrets re-checked when a job is dequeued, not only when it was queued (issue 11, item 8), on
// PGlite and PostgreSQL: a creator who left the organization, a creator who was deleted; and a deleted
// user's unfinished jobs canceled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

describe.each(BACKENDS)('secrets at dequeue on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let executor: ExecutorApi;
  const GLOBAL_VALUE = `global-value-${backend}-6f1c`;
  const ORG_VALUE = `org-value-${backend}-93ab`;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    alice = await createTestUser(admin, 'alice');
    expect((await admin.post('/api/v1/secrets', { key: 'GLOBAL_TOKEN', value: GLOBAL_VALUE, scope: 'batches' })).status).toBe(201);
    executor = new ExecutorApi(c.url, c.executorToken, `secrets-at-dequeue-${backend}`);
    expect((await executor.heartbeat('batches')).status).toBe(200);
  });
  afterAll(async () => {
    await c?.stop();
  });

  const enqueue = (who: TestUser, extra: Record<string, unknown>, secrets: string[]) =>
    who.api.post('/api/v1/queues/batches/jobs', { dockerSteps: [{ image: 'alpine:3', commands: ['env'], secrets }], ...extra });
  const accessLogRows = async (jobId: number) => (await c.database.db.query(`SELECT 1 FROM executor_secret_access_logs WHERE job_id = $1`, [jobId])).length;

  it("fails a job using an organization's secret once its creator left the organization, naming the secret", async () => {
    const bob = await createTestUser(admin, 'bob');
    const org = await alice.api.post('/api/v1/orgs', { name: `acme-${backend}` });
    expect((await alice.api.post(`/api/v1/orgs/${org.json.id}/secrets`, { key: 'ORG_TOKEN', value: ORG_VALUE, scope: 'batches' })).status).toBe(201);
    expect((await alice.api.post(`/api/v1/orgs/${org.json.id}/members`, { username: 'bob' })).status).toBe(204);
    const queued = await enqueue(bob, { namespace: { org: `acme-${backend}` } }, ['ORG_TOKEN']);
    expect(queued.status).toBe(201);

    expect((await alice.api.delete(`/api/v1/orgs/${org.json.id}/members/${bob.id}`)).status).toBe(204);
    const dequeued = await executor.dequeue('batches');
    expect(dequeued.status).toBe(204);
    expect(dequeued.text).not.toContain(ORG_VALUE);
    const view = (await admin.job('batches', queued.json.id)).json;
    expect(view.state).toBe('failed');
    expect(view.failureMessage).toContain('ORG_TOKEN');
    expect(view.failureMessage).toContain('bob');
    expect(await accessLogRows(queued.json.id)).toBe(0);
  });

  it("fails a job whose creator no longer exists, naming the global secret it asked for", async () => {
    const dave = await createTestUser(admin, 'dave');
    const queued = await enqueue(dave, {}, ['GLOBAL_TOKEN']);
    expect(queued.status).toBe(201);
    // Deleted behind the API's back (the API also cancels the user's jobs; this is the check at dequeue alone).
    await c.database.db.query('DELETE FROM users WHERE id = $1', [dave.id]);
    const dequeued = await executor.dequeue('batches');
    expect(dequeued.status).toBe(204);
    expect(dequeued.text).not.toContain(GLOBAL_VALUE);
    const view = (await admin.job('batches', queued.json.id)).json;
    expect(view).toMatchObject({ state: 'failed', failureMessage: expect.stringContaining('GLOBAL_TOKEN') });
    expect(await accessLogRows(queued.json.id)).toBe(0);
  });

  it("cancels a deleted user's queued jobs at once and their running ones through the heartbeat", async () => {
    const erin = await createTestUser(admin, 'erin');
    const running = await enqueue(erin, {}, ['GLOBAL_TOKEN']);
    const taken = await executor.dequeue('batches');
    expect(taken.json.id).toBe(running.json.id);
    const waiting = await enqueue(erin, {}, ['GLOBAL_TOKEN']);
    expect(waiting.status).toBe(201);
    const othersJob = await enqueue(alice, {}, []);

    expect((await admin.delete(`/api/v1/users/${erin.id}`)).status).toBe(204);
    expect((await admin.job('batches', waiting.json.id)).json).toMatchObject({ state: 'canceled', failureMessage: expect.stringContaining('deleted') });
    const beat = await executor.heartbeat('batches', [running.json.id]);
    expect(beat.json.cancelIds).toEqual([String(running.json.id)]);
    // The next dequeue gets Alice's job, not Erin's, and Erin's waiting job never read a secret.
    const next = await executor.dequeue('batches');
    expect(next.json.id).toBe(othersJob.json.id);
    expect(await accessLogRows(waiting.json.id)).toBe(0);
  });
});
