// The executor's CoordinatorClient against a real coordinator over HTTP, on PGlite and PostgreSQL; and,
// where a real one cannot behave that way, against tiny fake servers (each says what it stands for).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CoordinatorJobNotHeldError,
  CoordinatorRequestError,
  CoordinatorRetryableError,
  CoordinatorUnauthorizedError,
} from '../../src/executor/client/client-errors.js';
import { CoordinatorClient, type CoordinatorClientOptions, type DequeuedJob } from '../../src/executor/client/coordinator-client.js';
import { Backoff } from '../../src/shared/backoff.js';
import { silentLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { connectExecutorClient } from '../helpers/executor-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

/** A signal that never aborts, for calls a test does not cancel. */
const never = new AbortController().signal;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(BACKENDS)('CoordinatorClient against the coordinator on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  const clients: CoordinatorClient[] = [];
  let n = 0;

  /** A client with a fresh executor name; `ping` registers it so job routes accept its tokens. */
  const newClient = async (queues: string[] = ['batches'], overrides: Partial<CoordinatorClientOptions> = {}, ping = true) => {
    const { client } = await connectExecutorClient(c, {}, { executorName: `client-${backend}-${++n}`, queues, ...overrides, ping: false });
    clients.push(client);
    if (ping) await client.ping(never);
    return client;
  };
  /** Empties `queue` so a test starts from a known state. */
  const drain = async (queue: string) => {
    const client = await newClient([queue]);
    for (let job = await client.dequeue({ waitMs: 0 }, never); job; job = await client.dequeue({ waitMs: 0 }, never)) {
      await client.markComplete(job, never);
    }
  };
  const dequeueOne = async (client: CoordinatorClient): Promise<DequeuedJob> => {
    const job = await client.dequeue({ waitMs: 0 }, never);
    if (!job) throw new Error('expected a job');
    return job;
  };

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await c?.stop();
  });

  it('passes the auth test with the right password and refuses a wrong one with a message naming both settings', async () => {
    await (await newClient(['batches'], {}, false)).testAuth(never);
    const wrong = await newClient(['batches'], { password: 'wrong-password-wrong-password' }, false);
    const refused = await wrong.testAuth(never).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(CoordinatorUnauthorizedError);
    expect(refused).toMatchObject({ code: 'coordinator.unauthorized', status: 401 });
    expect((refused as Error).message).toContain(
      'the coordinator refused EXECUTOR_FRONTEND_PASSWORD: check that it equals the site setting executors.accessToken',
    );
    await expect(wrong.ping(never)).rejects.toBeInstanceOf(CoordinatorUnauthorizedError);
    await expect(wrong.dequeue({ waitMs: 0 }, never)).rejects.toBeInstanceOf(CoordinatorUnauthorizedError);
  });

  it('pings, then gets null from a dequeue of an empty queue', async () => {
    await drain('codeintel');
    const client = await newClient(['codeintel'], {}, false);
    await client.ping(never);
    expect(await client.dequeue({ waitMs: 0 }, never)).toBeNull();
    const executors = await admin.get(`/api/v1/executors?query=${client.executorName}`);
    expect(JSON.stringify(executors.json)).toContain(client.executorName);
  });

  it('dequeues a v2 job with file contents decoded to Buffers, and downloads the files it names from the store', async () => {
    await drain('batches');
    const put = await fetch(`${c.url}/api/v1/files/batch-changes/spec-1/file-1`, { method: 'PUT', headers: { authorization: `Bearer ${c.adminToken}` }, body: 'from the store' });
    expect(put.status).toBeLessThan(300);
    const text = 'héllo ✓\nline two';
    const spec = {
      files: { 'input.txt': { content: text }, 'workspace-files/b.txt': { bucket: 'batch-changes', key: 'spec-1/file-1' } },
      dockerSteps: [{ key: 'one', image: 'alpine:3', commands: ['cat input.txt'], env: ['A=1'] }],
      dockerAuthConfig: { auths: { 'registry.example.com': { auth: 'dXNlcjpwYXNz' } } },
    };
    const id = await admin.enqueue('batches', spec);
    const client = await newClient();
    const job = await dequeueOne(client);
    expect(job).toMatchObject({ version: 2, id, queue: 'batches', repositoryName: '', dockerAuthConfig: spec.dockerAuthConfig });
    expect(job.token).toMatch(/^[0-9a-f]{40}$/);
    const content = job.files['input.txt']!.content;
    expect(Buffer.isBuffer(content)).toBe(true);
    expect(content!.toString('utf8')).toBe(text);
    const stored = job.files['workspace-files/b.txt']!;
    expect(stored).toMatchObject({ bucket: 'batch-changes', key: 'spec-1/file-1', content: undefined });
    expect(client.fileUrl(stored.bucket!, stored.key!)).toBe(`${c.url}/.executors/files/batch-changes/spec-1/file-1`);
    expect((await client.getFile(job, stored.bucket!, stored.key!, never)).toString('utf8')).toBe('from the store');
    // A file the job's payload does not name is refused (403): a rejected request, not retried.
    await expect(client.getFile(job, 'batch-changes', 'spec-1/other', never)).rejects.toBeInstanceOf(CoordinatorRequestError);
    expect(await client.markComplete(job, never)).toBe(true);
  });

  it('decodes a v1 job for an executor older than 4.3.0 to the same bytes', async () => {
    await drain('batches');
    await admin.enqueue('batches', { files: { 'input.txt': { content: 'v1 ✓' } }, dockerAuthConfig: { auths: { r: { auth: 'dTpw' } } } });
    const old = await newClient(['batches'], { executorVersion: '4.2.0' });
    const job = await dequeueOne(old);
    expect(job.version).toBeUndefined();
    expect(job.dockerAuthConfig).toBeUndefined();
    expect(job.files['input.txt']!.content!.toString('utf8')).toBe('v1 ✓');
    expect(await old.markComplete(job, never)).toBe(true);
  });

  it('learns from heartbeats which jobs are still its own and which an admin canceled', async () => {
    await drain('batches');
    await admin.enqueue('batches');
    await admin.enqueue('batches');
    const client = await newClient();
    const first = await dequeueOne(client);
    const second = await dequeueOne(client);
    const refs = [first, second].map(({ id, queue }) => ({ id, queue }));
    const telemetry = { os: 'linux', architecture: 'amd64', executorVersion: '5.3.0', gitVersion: '2.39.5' };
    const beat = await client.heartbeat([...refs, { id: 999_999, queue: 'batches' }], telemetry, never);
    expect(beat.knownIds.sort((a, b) => a.id - b.id)).toEqual(refs.sort((a, b) => a.id - b.id));
    expect(beat.cancelIds).toEqual([]);

    const cancel = await admin.post(`/api/v1/queues/batches/jobs/${second.id}/cancel`);
    expect(cancel.status).toBe(202);
    const after = await client.heartbeat(refs, telemetry, never);
    expect(after.cancelIds).toEqual([{ id: second.id, queue: 'batches' }]);
    expect(after.knownIds).toHaveLength(2);

    expect(await client.markErrored(second, 'canceled by an admin', never)).toBe(true);
    expect((await admin.job('batches', second.id)).json.state).toBe('canceled');
    expect(await client.markComplete(first, never)).toBe(true);
    // A finished job drops out of knownIds: the executor stops working for it.
    expect((await client.heartbeat(refs, telemetry, never)).knownIds).toEqual([]);
  });

  it('adds and updates log entries, which the admin job view then shows', async () => {
    await drain('batches');
    const id = await admin.enqueue('batches');
    const client = await newClient();
    const job = await dequeueOne(client);
    expect(job.id).toBe(id);
    const startTime = new Date().toISOString();
    const first = await client.addExecutionLogEntry(job, { key: 'setup.fs.workspace', command: ['mkdir', 'ws'], startTime }, never);
    const second = await client.addExecutionLogEntry(job, { key: 'step.docker.0', command: ['docker', 'run'], startTime }, never);
    expect([first, second]).toEqual([1, 2]);
    await client.updateExecutionLogEntry(job, second, { key: 'step.docker.0', command: ['docker', 'run'], startTime, out: 'stdout: hi\n' }, never);
    await client.updateExecutionLogEntry(
      job,
      second,
      { key: 'step.docker.0', command: ['docker', 'run'], startTime, out: 'stdout: hi\nstderr: done\n', exitCode: 0, durationMs: 12 },
      never,
      { final: true },
    );
    const view = await admin.jobWithOutput('batches', id);
    expect(view.json.executionLogs).toMatchObject([
      { key: 'setup.fs.workspace', command: ['mkdir', 'ws'] },
      { key: 'step.docker.0', out: 'stdout: hi\nstderr: done\n', exitCode: 0, durationMs: 12 },
    ]);
    expect(await client.markComplete(job, never)).toBe(true);
  });

  it('answers false, not an error, when a job is marked twice, and refuses log writes for a job no longer held', async () => {
    await drain('batches');
    await admin.enqueue('batches');
    const client = await newClient();
    const job = await dequeueOne(client);
    expect(await client.markComplete(job, never)).toBe(true);
    // The token was deleted with the transition: the coordinator answers 401 `invalid token`.
    expect(await client.markComplete(job, never)).toBe(false);
    expect(await client.markFailed(job, 'too late', never)).toBe(false);
    const add = client.addExecutionLogEntry(job, { key: 'late', command: [], startTime: new Date().toISOString() }, never);
    await expect(add).rejects.toBeInstanceOf(CoordinatorJobNotHeldError);
    await expect(add).rejects.toMatchObject({ code: 'coordinator.job_not_held', jobId: job.id, status: 401 });
    expect((await admin.job('batches', job.id)).json.state).toBe('completed');
  });

  it('falls back to the shared password for a job without a token, and says so when that password is wrong', async () => {
    await drain('batches');
    await admin.enqueue('batches');
    const client = await newClient();
    const job = await dequeueOne(client);
    const tokenless = { ...job, token: '' };
    expect(client.jobAuthHeaders(tokenless).authorization).toBe(`token-executor ${c.executorToken}`);
    const wrong = await newClient(['batches'], { password: 'wrong-password-wrong-password', executorName: client.executorName }, false);
    await expect(wrong.markFailed(tokenless, 'x', never)).rejects.toBeInstanceOf(CoordinatorUnauthorizedError);
    expect(await client.markFailed(tokenless, 'exit status 1', never)).toBe(true);
    expect((await admin.job('batches', job.id)).json).toMatchObject({ state: 'failed', failureMessage: 'exit status 1' });
  });

  it('gives the git proxy the job headers plus the internal actor', async () => {
    const client = await newClient(['batches'], {}, false);
    const job = { id: 42, queue: 'batches', token: 'a'.repeat(40) };
    expect(client.gitProxyHeaders(job)).toEqual({
      authorization: `Bearer ${'a'.repeat(40)}`,
      'x-sourcegraph-job-id': '42',
      'x-sourcegraph-executor-name': client.executorName,
      'x-sourcegraph-actor-uid': 'internal',
    });
  });

  it('dequeues from several queues on the multi-queue routes and round-trips their heartbeat ids', async () => {
    await drain('batches');
    await drain('codeintel');
    await admin.enqueue('batches');
    await admin.enqueue('codeintel');
    const client = await newClient(['batches', 'codeintel']);
    const jobs = [await dequeueOne(client), await dequeueOne(client)];
    expect(jobs.map((j) => j.queue).sort()).toEqual(['batches', 'codeintel']);
    const refs = jobs.map(({ id, queue }) => ({ id, queue }));
    const beat = await client.heartbeat(refs, {}, never);
    const byKey = (a: { id: number; queue: string }, b: { id: number; queue: string }) => a.queue.localeCompare(b.queue);
    expect(beat.knownIds.sort(byKey)).toEqual(refs.sort(byKey));
    for (const job of jobs) expect(await client.markComplete(job, never)).toBe(true);
    expect(await client.dequeue({ waitMs: 0 }, never)).toBeNull();
  });

  it('returns a waiting dequeue as soon as a job is enqueued', async () => {
    await drain('codeintel');
    const client = await newClient(['codeintel']);
    let settled = false;
    const waiting = client.dequeue({ waitMs: 20_000 }, never).finally(() => (settled = true));
    await delay(300);
    // Still waiting: a server that did not long-poll would have answered 204 by now.
    expect(settled).toBe(false);
    const id = await admin.enqueue('codeintel');
    const job = await waiting;
    expect(job?.id).toBe(id);
    expect(client.supportsLongPoll).toBe(true);
    expect(await client.markComplete(job!, never)).toBe(true);
  });

  it('cancels a waiting dequeue promptly when its signal aborts, without taking a job', async () => {
    await drain('codeintel');
    const client = await newClient(['codeintel']);
    const controller = new AbortController();
    const reason = new Error('draining');
    const startedMs = Date.now();
    const waiting = client.dequeue({ waitMs: 20_000 }, controller.signal);
    await delay(200);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(Date.now() - startedMs).toBeLessThan(10_000);
    // The coordinator dropped the abandoned wait: the next job goes to the next dequeue.
    await delay(100);
    const id = await admin.enqueue('codeintel');
    const other = await newClient(['codeintel']);
    const job = await other.dequeue({ waitMs: 0 }, never);
    expect(job?.id).toBe(id);
    await other.markComplete(job!, never);
  });
});

describe('CoordinatorClient without a coordinator', () => {
  /** A tiny HTTP server. Each test says which server it stands for and why a real one cannot be used. */
  const fakeServers: http.Server[] = [];
  const clients: CoordinatorClient[] = [];
  const startFake = async (handler: http.RequestListener): Promise<string> => {
    const server = http.createServer(handler);
    fakeServers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const clientFor = (baseUrl: string, overrides: Partial<CoordinatorClientOptions> = {}) => {
    const client = new CoordinatorClient({
      baseUrl,
      password: 'p'.repeat(20),
      executorName: 'fake-test',
      executorVersion: '5.3.0',
      queues: ['batches'],
      logger: silentLogger,
      retryBackoff: new Backoff({ initialMs: 1, maxMs: 5 }),
      ...overrides,
    });
    clients.push(client);
    return client;
  };
  const readBody = async (req: http.IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  };
  afterAll(async () => {
    for (const client of clients) client.close();
    for (const server of fakeServers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('stops relying on long-poll when waiting dequeues come back empty at once, and resumes when one waits', async () => {
    // Stands for an old Sourcegraph instance, which ignores `waitMs` and answers at once; no Sourcegraph
    // can run here, and our coordinator always long-polls (up to COORDINATOR_MAX_DEQUEUE_WAIT).
    const bodies: Array<Record<string, unknown>> = [];
    let answerAfterMs = 0;
    const url = await startFake(async (req, res) => {
      bodies.push(JSON.parse(await readBody(req)) as Record<string, unknown>);
      setTimeout(() => res.writeHead(204).end(), answerAfterMs);
    });
    const client = clientFor(url);
    expect(await client.dequeue({ waitMs: 5000 }, never)).toBeNull();
    expect(client.supportsLongPoll).toBe(true);
    expect(await client.dequeue({ waitMs: 5000 }, never)).toBeNull();
    expect(client.supportsLongPoll).toBe(false);
    expect(bodies[0]).toMatchObject({ executorName: 'fake-test', version: '5.3.0', waitMs: 5000 });
    answerAfterMs = 600;
    expect(await client.dequeue({ waitMs: 5000 }, never)).toBeNull();
    expect(client.supportsLongPoll).toBe(true);
    // waitMs 0 is the original's request: no field at all.
    await client.dequeue({ waitMs: 0 }, never);
    expect(bodies.at(-1)).not.toHaveProperty('waitMs');
  });

  it('reports a refused connection as retryable', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const err = await clientFor(`http://127.0.0.1:${port}`)
      .testAuth(never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoordinatorRetryableError);
    expect(err).toMatchObject({ code: 'coordinator.unavailable', status: undefined });
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  it('refuses a dequeued body that is not a Job, naming the field, and one over the size limit', async () => {
    // Stands for a buggy or hostile server: the real coordinator never sends these.
    let reply: (res: http.ServerResponse) => void = () => {};
    const url = await startFake(async (req, res) => {
      await readBody(req);
      reply(res);
    });
    const client = clientFor(url, { maxJobBytes: 1000 });
    reply = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"42","token":"t"}');
    const badShape = await client.dequeue({ waitMs: 0 }, never).catch((e: unknown) => e);
    expect(badShape).toBeInstanceOf(CoordinatorRequestError);
    expect((badShape as Error).message).toMatch(/invalid Job: id: /);

    reply = (res) => res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000));
    await expect(client.dequeue({ waitMs: 0 }, never)).rejects.toThrow(/over the limit of 1000 bytes/);
    // Without a Content-Length the body is cut off as it streams past the limit.
    reply = (res) => {
      res.writeHead(200);
      res.write('x'.repeat(800));
      res.end('x'.repeat(800));
    };
    await expect(client.dequeue({ waitMs: 0 }, never)).rejects.toThrow(/goes over the limit of 1000 bytes/);
  });

  it('retries a mark call through 503s but never a heartbeat', async () => {
    // Stands for a coordinator behind a load balancer during a restart: a real one cannot be made to
    // answer 503 on demand.
    const seen: string[] = [];
    let failuresLeft = 0;
    const url = await startFake(async (req, res) => {
      await readBody(req);
      seen.push(req.url!);
      if (failuresLeft-- > 0) res.writeHead(503).end('{"error":"restarting"}');
      else if (req.url!.endsWith('/markComplete')) res.writeHead(204).end();
      else res.writeHead(200).end('{"knownIds":[],"cancelIds":[]}');
    });
    const client = clientFor(url);
    failuresLeft = 2;
    expect(await client.markComplete({ id: 1, queue: 'batches', token: 'a'.repeat(40) }, never)).toBe(true);
    expect(seen.filter((u) => u.endsWith('/markComplete'))).toHaveLength(3);
    failuresLeft = 1;
    const beat = await client.heartbeat([], {}, never).catch((e: unknown) => e);
    expect(beat).toBeInstanceOf(CoordinatorRetryableError);
    expect((beat as Error).message).toContain('HTTP 503: restarting');
    expect(seen.filter((u) => u.endsWith('/heartbeat'))).toHaveLength(1);
  });
});
