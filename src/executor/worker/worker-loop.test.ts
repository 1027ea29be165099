// The worker loop against the real coordinator (PGlite) over HTTP. The JobHandler is a fake: the real
// JobRunner is tested on its own; here the handler only has to block, observe its signal and return outcomes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../../../test/helpers/api-client.js';
import { connectExecutorClient } from '../../../test/helpers/executor-client.js';
import { startTestCoordinator, type TestCoordinator } from '../../../test/helpers/test-coordinator.js';
import { silentLogger } from '../../shared/logger.js';
import { CoordinatorUnauthorizedError } from '../client/client-errors.js';
import { CoordinatorClient, type DequeuedJob } from '../client/coordinator-client.js';
import { runExecutorCli } from '../main.js';
import type { JobHandler, JobOutcome } from './job-handler.js';
import { goArch, goOs, parseToolVersion } from './telemetry.js';
import { WorkerLoop } from './worker-loop.js';

const QUEUES = ['slots', 'cancel', 'total', 'timeout', 'auth', 'drain', 'idle', 'cli'];
const TELEMETRY = { os: 'linux', architecture: 'amd64', executorVersion: '5.3.0', gitVersion: '2.39.5', dockerVersion: '', igniteVersion: '', srcCliVersion: '' };
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(25);
  }
}

/** A promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves when `signal` aborts, with its reason. */
const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => (signal.aborted ? resolve(signal.reason) : signal.addEventListener('abort', () => resolve(signal.reason), { once: true })));

describe('WorkerLoop against the coordinator on PGlite', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  const clients: CoordinatorClient[] = [];

  beforeAll(async () => {
    // Retries > 0 so markErrored leaves `errored` and markFailed `failed`: the test can tell them apart.
    c = await startTestCoordinator('pglite', { COORDINATOR_QUEUES: QUEUES.join(','), COORDINATOR_MAX_NUM_RETRIES: '3' });
    admin = new AdminApi(c.url, c.adminToken);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await c?.stop();
  });

  const env = (queue: string, extra: Record<string, string> = {}) => ({
    EXECUTOR_FRONTEND_URL: c.url,
    EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
    EXECUTOR_QUEUE_NAME: queue,
    EXECUTOR_RUNTIME: 'shell',
    EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
    EXECUTOR_QUEUE_POLL_INTERVAL: '100ms',
    ...extra,
  });

  const newLoop = async (queue: string, handler: JobHandler, extra: Record<string, string> = {}) => {
    const { config, client } = await connectExecutorClient(c, env(queue, extra), { ping: false, configOptions: { hostname: 'worker-loop-test' } });
    clients.push(client);
    return new WorkerLoop({ config, client, handler, logger: silentLogger, heartbeatIntervalMs: 200, dequeueWaitMs: 1000, pingIntervalMs: 100, telemetry: TELEMETRY });
  };
  const state = async (queue: string, id: number): Promise<string> => (await admin.job(queue, id)).json.state;

  it('runs at most EXECUTOR_MAXIMUM_NUM_JOBS jobs at once and takes the next when a slot frees', async () => {
    const gates = new Map<number, ReturnType<typeof gate>>();
    const started: number[] = [];
    let active = 0;
    let maxActive = 0;
    const loop = await newLoop('slots', {
      async handle(job: DequeuedJob): Promise<JobOutcome> {
        started.push(job.id);
        maxActive = Math.max(maxActive, ++active);
        const g = gate();
        gates.set(job.id, g);
        await g.promise;
        active--;
        return { state: 'completed' };
      },
    }, { EXECUTOR_MAXIMUM_NUM_JOBS: '2' });
    const ids = [await admin.enqueue('slots'), await admin.enqueue('slots'), await admin.enqueue('slots')];
    const run = loop.run();
    await waitFor('two jobs to start', () => started.length === 2);
    await delay(500); // several poll intervals: a third would have started by now
    expect(started).toHaveLength(2);
    gates.get(started[0]!)!.open();
    await waitFor('the third job to start', () => started.length === 3);
    for (const g of gates.values()) g.open();
    for (const id of ids) await waitFor(`job ${id} completed`, async () => (await state('slots', id)) === 'completed');
    expect(maxActive).toBe(2);
    expect([...started].sort()).toEqual([...ids].sort());
    await loop.stop();
    await expect(run).resolves.toBeUndefined();
  });

  it('aborts a job canceled on the coordinator with reason canceled at the next heartbeat, and the job ends canceled', async () => {
    let reason: unknown;
    const started = gate();
    const loop = await newLoop('cancel', {
      async handle(_job, signal) {
        started.open();
        reason = await aborted(signal);
        return { state: 'failed', message: 'the job was canceled' };
      },
    });
    const id = await admin.enqueue('cancel');
    const run = loop.run();
    await started.promise;
    const res = await admin.post(`/api/v1/queues/cancel/jobs/${id}/cancel`);
    expect(res.status).toBe(202);
    await waitFor('the handler to see the cancel', () => reason !== undefined, 6000);
    expect(reason).toBe('canceled');
    await waitFor('the job to end canceled', async () => (await state('cancel', id)) === 'canceled');
    await loop.stop();
    await run;
  });

  it('stops dequeuing after EXECUTOR_NUM_TOTAL_JOBS and resolves run() once those jobs are done', async () => {
    const handled: number[] = [];
    const loop = await newLoop('total', {
      async handle(job) {
        handled.push(job.id);
        return { state: 'completed' };
      },
    }, { EXECUTOR_NUM_TOTAL_JOBS: '2' });
    const ids = [await admin.enqueue('total'), await admin.enqueue('total'), await admin.enqueue('total')];
    await loop.run(); // resolves on its own: nothing calls stop()
    expect(handled).toEqual(ids.slice(0, 2));
    expect(await state('total', ids[0]!)).toBe('completed');
    expect(await state('total', ids[1]!)).toBe('completed');
    expect(await state('total', ids[2]!)).toBe('queued');
  });

  it('aborts a job past EXECUTOR_MAXIMUM_RUNTIME_PER_JOB with reason timeout and marks it errored with the handler message', async () => {
    let reason: unknown;
    const loop = await newLoop('timeout', {
      async handle(_job, signal) {
        reason = await aborted(signal);
        // Even a handler that says `failed` is marked errored on a timeout (reference §4.12).
        return { state: 'failed', message: 'job exceeded maximum execution time of 300ms' };
      },
    }, { EXECUTOR_MAXIMUM_RUNTIME_PER_JOB: '300ms' });
    const id = await admin.enqueue('timeout');
    const run = loop.run();
    await waitFor('the job to end errored', async () => (await state('timeout', id)) === 'errored');
    expect(reason).toBe('timeout');
    expect((await admin.job('timeout', id)).json.failureMessage).toBe('job exceeded maximum execution time of 300ms');
    await loop.stop();
    await run;
  });

  it('rejects run() with the unauthorized error, naming both settings, when the password is wrong', async () => {
    let handled = false;
    const loop = await newLoop('auth', { handle: async () => ((handled = true), { state: 'completed' }) }, { EXECUTOR_FRONTEND_PASSWORD: 'wrong-password-wrong' });
    await admin.enqueue('auth');
    const err = await loop.run().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CoordinatorUnauthorizedError);
    expect((err as Error).message).toContain('EXECUTOR_FRONTEND_PASSWORD');
    expect((err as Error).message).toContain('executors.accessToken');
    expect(handled).toBe(false);
  });

  it('on stop() takes no new job, lets the running one complete, then resolves run()', async () => {
    const g = gate();
    const started: number[] = [];
    const loop = await newLoop('drain', {
      async handle(job) {
        started.push(job.id);
        await g.promise;
        return { state: 'completed' };
      },
    });
    const first = await admin.enqueue('drain');
    const run = loop.run();
    await waitFor('the first job to start', () => started.length === 1);
    const stopped = loop.stop();
    expect(loop.draining).toBe(true);
    const second = await admin.enqueue('drain');
    await delay(500);
    expect(started).toEqual([first]);
    let runEnded = false;
    void run.then(() => (runEnded = true));
    await delay(50);
    expect(runEnded).toBe(false); // the running job holds it open
    g.open();
    await run;
    await stopped;
    expect(await state('drain', first)).toBe('completed');
    expect(await state('drain', second)).toBe('queued');
  });

  it('on stop() while idle ends the waiting long-poll dequeue at once instead of waiting it out', async () => {
    const { config, client } = await connectExecutorClient(c, env('idle'), { ping: false, configOptions: { hostname: 'worker-loop-test' } });
    clients.push(client);
    const loop = new WorkerLoop({ config, client, handler: { handle: async () => ({ state: 'completed' }) }, logger: silentLogger, dequeueWaitMs: 20_000, telemetry: TELEMETRY });
    const run = loop.run();
    await delay(300); // pinged, and the first dequeue is waiting on the coordinator
    const stoppedAtMs = Date.now();
    await loop.stop();
    await run;
    expect(Date.now() - stoppedAtMs).toBeLessThan(2000);
  });

  it('exits the CLI with 1 and the password message when the coordinator refuses it, and 2 for bad config or missing commands', async () => {
    let stderr = '';
    const capture = { stderr: (t: string) => void (stderr += t), stdout: () => {}, logger: silentLogger, installSignals: false };
    const handlerFactory = () => ({ handle: async (): Promise<JobOutcome> => ({ state: 'completed' }) });
    const code = await runExecutorCli([], env('cli', { EXECUTOR_FRONTEND_PASSWORD: 'wrong-password-wrong' }), { ...capture, handlerFactory, workerLoop: { telemetry: TELEMETRY } });
    expect(code).toBe(1);
    expect(stderr).toContain('EXECUTOR_FRONTEND_PASSWORD');

    stderr = '';
    expect(await runExecutorCli(['run'], { EXECUTOR_QUEUE_NAME: 'cli' }, { ...capture, handlerFactory })).toBe(2);
    expect(stderr).toContain('EXECUTOR_FRONTEND_URL: required');
    expect(stderr).toContain('EXECUTOR_FRONTEND_PASSWORD: required');

    stderr = '';
    expect(await runExecutorCli(['install'], {}, capture)).toBe(2);
    expect(stderr).toContain('Usage: executor install <what>');
    await expect(runExecutorCli(['run'], env('cli'), capture)).rejects.toThrow('runtime not available');
    expect(await runExecutorCli(['help'], {}, capture)).toBe(0);
  });
});

describe('telemetry', () => {
  it('names OS and architecture as Go does and parses tool versions', () => {
    expect(goArch('x64')).toBe('amd64');
    expect(goArch('arm64')).toBe('arm64');
    expect(goOs('linux')).toBe('linux');
    expect(goOs('darwin')).toBe('darwin');
    expect(parseToolVersion('git version 2.39.5\n')).toBe('2.39.5');
    expect(parseToolVersion('Docker version 24.0.7, build afdd53b')).toBe('24.0.7');
    expect(parseToolVersion('')).toBe('');
  });
});
