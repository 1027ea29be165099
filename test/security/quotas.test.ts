// Per-user quotas on what waits in the queues (issue 11), on PGlite and PostgreSQL: a user flooding a
// queue, all queues, or the database with inline file contents gets 429 with Retry-After; a single job
// with more inline content than a job may carry gets 413; other users and site admins are not held back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const STEP = { image: 'alpine:3', commands: ['true'] };

describe.each(BACKENDS)('quotas on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;

  beforeAll(async () => {
    c = await startTestCoordinator(backend, {
      COORDINATOR_QUEUES: 'batches,other',
      COORDINATOR_USER_MAX_QUEUED_JOBS: '5',
      COORDINATOR_USER_MAX_QUEUED_JOBS_PER_QUEUE: '3',
      COORDINATOR_USER_MAX_QUEUED_INLINE_FILES_SIZE: '10KiB',
      COORDINATOR_JOB_MAX_INLINE_FILES_SIZE: '8KiB',
    });
    admin = new AdminApi(c.url, c.adminToken);
  });
  afterAll(async () => {
    await c?.stop();
  });

  const enqueue = (who: AdminApi, queue: string, extra: Record<string, unknown> = {}) => who.post(`/api/v1/queues/${queue}/jobs`, { dockerSteps: [STEP], ...extra });

  it('refuses a job past the per-queue and the all-queues limit of waiting jobs with 429 and Retry-After, until some have run', async () => {
    const alice: TestUser = await createTestUser(admin, 'alice');
    const bob: TestUser = await createTestUser(admin, 'bob');
    for (let i = 0; i < 3; i++) expect((await enqueue(alice.api, 'batches')).status).toBe(201);
    const perQueue = await enqueue(alice.api, 'batches');
    expect(perQueue.status).toBe(429);
    expect(Number(perQueue.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(perQueue.json).toMatchObject({ quota: 'maxQueuedJobsPerQueue', error: expect.stringContaining('COORDINATOR_USER_MAX_QUEUED_JOBS_PER_QUEUE') });
    // Another queue still takes Alice's jobs up to her total, and Bob is not held back by her.
    expect((await enqueue(alice.api, 'other')).status).toBe(201);
    expect((await enqueue(alice.api, 'other')).status).toBe(201);
    const total = await enqueue(alice.api, 'other');
    expect(total.status).toBe(429);
    expect(total.json).toMatchObject({ quota: 'maxQueuedJobs' });
    expect((await enqueue(bob.api, 'batches')).status).toBe(201);

    // A job an executor took no longer waits: Alice may queue one more.
    const executor = new ExecutorApi(c.url, c.executorToken, `quotas-${backend}`);
    await executor.heartbeat('other');
    expect((await executor.dequeue('other')).status).toBe(200);
    expect((await enqueue(alice.api, 'other')).status).toBe(201);
    expect((await enqueue(alice.api, 'other')).status).toBe(429);
  });

  it("refuses a job whose inline files are over the job limit with 413, and one past the user's queued bytes with 429", async () => {
    const carol = await createTestUser(admin, 'carol');
    const files = (kib: number) => ({ files: { 'input.json': { content: 'x'.repeat(kib * 1024) } } });
    const tooBig = await enqueue(carol.api, 'batches', files(9));
    expect(tooBig.status).toBe(413);
    expect(tooBig.json).toMatchObject({ field: 'files', error: expect.stringContaining('COORDINATOR_JOB_MAX_INLINE_FILES_SIZE') });
    expect((await enqueue(carol.api, 'batches', files(6))).status).toBe(201);
    const overQuota = await enqueue(carol.api, 'batches', files(6));
    expect(overQuota.status).toBe(429);
    expect(overQuota.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(overQuota.json).toMatchObject({ quota: 'maxQueuedInlineFilesBytes' });
    // Jobs without inline files still fit.
    expect((await enqueue(carol.api, 'batches')).status).toBe(201);
  });

  it('does not hold site admins to the quotas', async () => {
    for (let i = 0; i < 7; i++) expect((await enqueue(admin, 'other')).status).toBe(201);
  });
});
