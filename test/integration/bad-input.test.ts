// Every route gets malformed and hostile input: clear 4xx answers, no crash, no corrupted rows.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const JOB_ROUTES = ['addExecutionLogEntry', 'updateExecutionLogEntry', 'markComplete', 'markErrored', 'markFailed'];

describe.each(BACKENDS)('bad input on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let e: ExecutorApi;

  beforeAll(async () => {
    c = await startTestCoordinator(backend, { COORDINATOR_MAX_BODY_SIZE: '64KiB' });
    admin = new AdminApi(c.url, c.adminToken);
    e = new ExecutorApi(c.url, c.executorToken, `bad-input-${backend}`);
    await e.heartbeat('batches');
  });
  afterAll(async () => {
    await c?.stop();
  });

  const raw = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(c.url + path, { method: 'POST', headers: { authorization: `token-executor ${c.executorToken}`, 'content-type': 'application/json', ...headers }, body });

  it('answers 400 with the parser reason to a body that is not JSON, on every queue route', async () => {
    for (const path of ['/.executors/queue/batches/dequeue', '/.executors/queue/batches/heartbeat', '/.executors/queue/dequeue', '/.executors/queue/heartbeat']) {
      const res = await raw(path, '{"executorName": ');
      expect(res.status, path).toBe(400);
      expect(await res.text(), path).toMatch(/^Failed to unmarshal payload: /);
    }
  });

  it('answers 400 naming the field to a wrong type', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/.executors/queue/batches/dequeue', { executorName: 42 }, 'executorName'],
      ['/.executors/queue/batches/dequeue', { executorName: 'x', waitMs: 'soon' }, 'waitMs'],
      ['/.executors/queue/batches/heartbeat', { executorName: 'x', jobIds: [{}] }, 'jobIds.0'],
      ['/.executors/queue/heartbeat', { executorName: 'x', queueNames: 'batches' }, 'queueNames'],
      ['/.executors/queue/heartbeat', { executorName: 'x', queueNames: ['batches'], jobIdsByQueue: [{ queueName: 'codeintel', jobIds: [] }] }, 'jobIdsByQueue'],
      ['/.executors/queue/batches/dequeue', { executorName: '' }, 'worker hostname cannot be empty'],
      ['/.executors/queue/batches/dequeue', [], '(body)'],
    ];
    for (const [path, body, field] of cases) {
      const res = await raw(path, JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.text(), JSON.stringify(body)).toContain(field);
    }
  });

  it('answers 404 to an unknown queue on every route, and 404/405 to unknown paths and methods', async () => {
    for (const op of ['dequeue', 'heartbeat', ...JOB_ROUTES]) {
      const res = await raw(`/.executors/queue/nope/${op}`, '{}');
      expect(res.status, op).toBe(404);
    }
    expect((await raw('/.executors/queue/dequeue', JSON.stringify({ executorName: 'x', queues: ['batches', 'nope'] }))).status).toBe(404);
    expect((await raw('/.executors/nothing-here', '{}')).status).toBe(404);
    expect((await fetch(`${c.url}/.executors/queue/batches/dequeue`)).status).toBe(405);
  });

  it('answers 413 to a body over the limit, and keeps serving', async () => {
    const big = JSON.stringify({ executorName: 'x', padding: 'a'.repeat(70 * 1024) });
    expect((await raw('/.executors/queue/batches/heartbeat', big)).status).toBe(413);
    const chunked = await fetch(`${c.url}/.executors/queue/batches/heartbeat`, {
      method: 'POST',
      headers: { authorization: `token-executor ${c.executorToken}` },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 80; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await e.heartbeat('batches')).status).toBe(200);
  });

  it('rejects malformed job-route headers as the original does', async () => {
    await admin.enqueue('batches');
    const job = (await e.dequeue('batches')).json;
    const post = (headers: Record<string, string>) => fetch(`${c.url}/.executors/queue/batches/markComplete`, { method: 'POST', headers, body: JSON.stringify({ executorName: e.executorName, jobId: job.id }) });
    const base = { authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': e.executorName };
    expect((await post({ ...base, authorization: 'Basic abc' })).status).toBe(401);
    expect((await post({ ...base, authorization: 'Bearer' })).status).toBe(401);
    // fetch trims header values, so send "Bearer " (empty token) with node:http.
    const empty = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${c.url}/.executors/queue/batches/markComplete`, { method: 'POST', headers: { ...base, authorization: 'Bearer ' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(empty.status).toBe(401);
    expect(empty.text).toBe('no token value in the HTTP Authorization request header');
    expect((await post({ ...base, authorization: 'token-executor wrong-wrong-wrong-wrong' })).status).toBe(403);
    expect((await post({ ...base, 'x-sourcegraph-job-id': 'abc' })).status).toBe(400);
    const noName = await post({ ...base, 'x-sourcegraph-executor-name': '' });
    expect(noName.status).toBe(400);
    expect(await noName.text()).toBe('worker hostname cannot be empty');
    expect((await post({ ...base, authorization: 'Bearer ' + 'f'.repeat(40) })).status).toBe(401);
    expect((await post({ ...base, authorization: 'Bearer not-hex-at-all' })).status).toBe(401);
    // The job is untouched and still completes normally.
    expect((await e.markComplete('batches', job)).status).toBe(204);
  });

  it('stores hostile log entries faithfully and rejects invalid ones without touching the job', async () => {
    const id = await admin.enqueue('batches');
    const job = (await e.dequeue('batches')).json;
    const hostile = {
      key: "step'; DROP TABLE jobs; --",
      command: ['sh', '-c', '$(rm -rf /)', '<script>alert(1)</script>'],
      startTime: '2024-01-02T15:04:05Z',
      out: 'stdout: nul\u0000byte \ud83d\ude00 \u001b[31mred\n',
    };
    const added = await e.jobPost('batches', 'addExecutionLogEntry', job, hostile);
    expect(added.status).toBe(200);
    const invalid: Array<Record<string, unknown>> = [
      { key: 'k', command: [], startTime: 'yesterday' },
      { key: 'k', command: [], startTime: '2024-01-02T15:04:05Z', exitCode: 1.5 },
      { key: 'k', command: [], startTime: '2024-01-02T15:04:05Z', exitCode: 2 ** 40 },
      { key: 'k', command: 'ls', startTime: '2024-01-02T15:04:05Z' },
      { command: [], startTime: '2024-01-02T15:04:05Z' },
    ];
    for (const body of invalid) {
      const res = await e.jobPost('batches', 'addExecutionLogEntry', job, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.text).toMatch(/^invalid request body: /);
    }
    const badUpdate = await e.jobPost('batches', 'updateExecutionLogEntry', job, { ...hostile, entryId: 99 });
    expect(badUpdate.status).toBe(500);
    expect(badUpdate.json).toEqual({ error: expect.stringContaining('unknown job') });
    const view = (await admin.jobWithOutput('batches', id)).json;
    expect(view.state).toBe('processing');
    expect(view.executionLogs).toHaveLength(1);
    expect(view.executionLogs[0]).toMatchObject({ key: hostile.key, command: hostile.command, out: 'stdout: nul\ufffdbyte \ud83d\ude00 \u001b[31mred\n' });
    expect((await e.markComplete('batches', job)).status).toBe(204);
  });

  it('validates admin requests: unknown fields, bad paths, unregistered repositories, bad paging', async () => {
    const post = (body: unknown) => admin.post('/api/v1/queues/batches/jobs', body);
    const unknown = await post({ id: 5, dockerSteps: [] });
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('id');
    expect((await post({ files: { '../../etc/passwd': { content: 'x' } } })).status).toBe(400);
    expect((await post({ files: { '/abs': { content: 'x' } } })).status).toBe(400);
    const repo = await post({ repositoryName: 'github.com/not/registered', commit: 'main', dockerSteps: [{ image: 'alpine', commands: ['true'] }] });
    expect(repo.status).toBe(400);
    expect(repo.text).toContain('not registered');
    expect((await post({ dockerSteps: [{ image: 5 }] })).text).toContain('dockerSteps.0.image');
    expect((await admin.get('/api/v1/queues/batches/jobs?state=bogus')).status).toBe(400);
    expect((await admin.get('/api/v1/queues/batches/jobs?limit=-1')).status).toBe(400);
    expect((await admin.get('/api/v1/queues/batches/jobs/abc')).status).toBe(404);
    expect((await admin.get('/api/v1/queues/batches/jobs/99999999')).status).toBe(404);
    expect((await admin.get('/api/v1/executors?active=maybe')).status).toBe(400);
    const noAuth = await fetch(`${c.url}/api/v1/queues`);
    expect(noAuth.status).toBe(401);
    const wrong = await fetch(`${c.url}/api/v1/queues`, { headers: { authorization: 'Bearer ' + 'x'.repeat(40) } });
    expect(wrong.status).toBe(401);
  });

  it('survives a burst of random garbage on every route and still completes a job', async () => {
    const routes = [
      '/.executors/queue/batches/dequeue',
      '/.executors/queue/batches/heartbeat',
      '/.executors/queue/dequeue',
      '/.executors/queue/heartbeat',
      ...JOB_ROUTES.map((r) => `/.executors/queue/batches/${r}`),
      '/api/v1/queues/batches/jobs',
      '/api/v1/repositories',
    ];
    const garbage = ['null', '0', '"x"', '[[[[', '{"__proto__":{"polluted":1},"executorName":"p"}', '{"constructor":{"prototype":{"x":1}}}', '\u0000\u0001', '{"executorName":"x","jobIds":[1e400]}', '{"jobId":-1,"executorName":"x"}'];
    const statuses = new Set<number>();
    for (const route of routes) {
      for (const body of garbage) {
        const res = await fetch(c.url + route, {
          method: 'POST',
          headers: { authorization: route.startsWith('/api') ? `Bearer ${c.adminToken}` : `token-executor ${c.executorToken}`, 'x-sourcegraph-job-id': '1', 'x-sourcegraph-executor-name': 'x' },
          body,
        });
        statuses.add(res.status);
        expect(res.status, `${route} ${body}`).toBeLessThan(500);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const id = await admin.enqueue('batches');
    const job = (await e.dequeue('batches')).json;
    expect(job.id).toBe(id);
    expect((await e.markComplete('batches', job)).status).toBe(204);
  });
});
