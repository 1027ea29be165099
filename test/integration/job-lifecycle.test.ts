// Admin listing with state filters and paging, and retries of errored jobs when configured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('job lifecycle on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let e: ExecutorApi;

  beforeAll(async () => {
    c = await startTestCoordinator(backend, { COORDINATOR_MAX_NUM_RETRIES: '2', COORDINATOR_RETRY_AFTER: '0s' });
    admin = new AdminApi(c.url, c.adminToken);
    e = new ExecutorApi(c.url, c.executorToken, `lifecycle-${backend}`);
    await e.heartbeat('codeintel');
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('lists a queue newest first, filtered by state, a page at a time', async () => {
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push(await admin.enqueue('batches'));
    const first = await admin.get('/api/v1/queues/batches/jobs?state=queued&limit=3');
    expect(first.json.jobs.map((j: { id: number }) => j.id)).toEqual(ids.slice(-3).reverse());
    const second = await admin.get(`/api/v1/queues/batches/jobs?state=queued&limit=3&before=${first.json.nextBefore}`);
    expect(second.json.jobs.map((j: { id: number }) => j.id)).toEqual(ids.slice(1, 4).reverse());
    const last = await admin.get(`/api/v1/queues/batches/jobs?state=queued&limit=3&before=${second.json.nextBefore}`);
    expect(last.json.jobs.map((j: { id: number }) => j.id)).toEqual([ids[0]]);
    expect(last.json.nextBefore).toBeNull();
    await admin.post(`/api/v1/queues/batches/jobs/${ids[0]}/cancel`);
    const canceled = await admin.get('/api/v1/queues/batches/jobs?state=canceled,failed');
    expect(canceled.json.jobs.map((j: { id: number }) => j.id)).toEqual([ids[0]]);
    const queues = await admin.get('/api/v1/queues');
    expect(queues.json.queues.find((q: { name: string }) => q.name === 'batches')).toMatchObject({ counts: { queued: 6, canceled: 1 }, size: 6 });
  });

  it('retries an errored job until its retries are used up, then fails it', async () => {
    const id = await admin.enqueue('codeintel');
    for (let attempt = 1; attempt <= 2; attempt++) {
      const job = (await e.dequeue('codeintel')).json;
      expect(job.id).toBe(id);
      expect((await e.jobPost('codeintel', 'markErrored', job, { errorMessage: `attempt ${attempt} failed` })).status).toBe(204);
      const view = (await admin.job('codeintel', id)).json;
      if (attempt === 1) {
        expect(view).toMatchObject({ state: 'errored', numFailures: 1, failureMessage: 'attempt 1 failed' });
        expect((await e.dequeue('codeintel')).status).toBe(204);
        await c.coordinator.resetter!.runOnce();
        expect((await admin.job('codeintel', id)).json.state).toBe('queued');
      } else {
        expect(view).toMatchObject({ state: 'failed', numFailures: 2, failureMessage: 'attempt 2 failed' });
      }
    }
  });
});
