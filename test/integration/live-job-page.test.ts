// The live job page's event stream, watched for a long time: each poll must leave nothing behind on the
// request's signal or the coordinator's shutdown signal, so listeners and heap stay flat. The poll
// interval is 1 ms here: 3,500 polls are what half an hour of watching at the default 500 ms makes.
import { getEventListeners } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

describe('the live job page', () => {
  let c: TestCoordinator;

  beforeAll(async () => {
    c = await startTestCoordinator('pglite', { COORDINATOR_UI_LIVE_INTERVAL: '1ms' });
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('watched for thousands of polls, leaves the listener count and the heap flat', { timeout: 180_000 }, async () => {
    const admin = new AdminApi(c.url, c.adminToken);
    const executor = new ExecutorApi(c.url, c.executorToken, 'live-page-watcher');
    await executor.heartbeat('batches');
    const id = await admin.enqueue('batches');
    expect((await executor.dequeue('batches')).status).toBe(200);
    const { cookie } = await c.services.sessions.create(c.services.bootstrapAdmin!.id);

    // Count the polls: each one reads the job's summary.
    const jobs = c.services.jobs;
    const original = jobs.getSummary.bind(jobs);
    let polls = 0;
    jobs.getSummary = (...args: Parameters<typeof original>) => {
      polls++;
      return original(...args);
    };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const shutdownListeners = () => getEventListeners(c.services.shutdownSignal, 'abort').length;
    const listenersBefore = shutdownListeners();

    const controller = new AbortController();
    const res = await fetch(`${c.url}/jobs/batches/${id}/events`, { headers: { cookie: `executors_session=${cookie}` }, signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: job');
    const drain = (async () => {
      for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return;
    })();

    const waitForPolls = async (n: number) => {
      while (polls < n) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    try {
      // The first polls grow the heap once (compiled code, caches: about 0.5 MB here); then it is flat.
      await waitForPolls(1500);
      const heapWarm = heapAfterGc();
      await waitForPolls(3500);
      const heapAfter = heapAfterGc();
      const listenersDuring = shutdownListeners();
      // One poll's wait at most: not one listener per poll.
      expect(listenersDuring - listenersBefore).toBeLessThanOrEqual(1);
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
      // 2,000 polls that each left a listener retained about 1 MB here; flat measured about 40 KB.
      expect(heapAfter - heapWarm).toBeLessThan(512 * 1024);
    } finally {
      process.off('warning', onWarning);
      jobs.getSummary = original;
      controller.abort();
      await drain;
    }
    // Once the page is closed, nothing of it stays on the shutdown signal.
    for (let i = 0; i < 100 && shutdownListeners() > listenersBefore; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shutdownListeners()).toBe(listenersBefore);
  });
});
