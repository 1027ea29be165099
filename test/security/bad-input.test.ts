// Client mistakes that used to answer 500 with a stack trace in the log (issue 11, item 9), found by
// attacking a running coordinator, on PGlite and PostgreSQL: NUL in file keys, object keys, path and
// query parameters; out-of-range job and entry ids; impossible RFC 3339 times; bad repository URLs; a
// request body the client aborted. Each is a 400 naming the field, and none is logged as an ERROR.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/protocol/job.js';
import { createLogger } from '../../src/shared/logger.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('client mistakes on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let e: ExecutorApi;
  let job: Job;
  const serverLog: string[] = [];
  const errors = () => serverLog.filter((line) => / ERROR /.test(line));

  beforeAll(async () => {
    c = await startTestCoordinator(backend, {}, { logger: createLogger({ level: 'debug', name: 'coordinator', write: (line) => serverLog.push(line) }) });
    admin = new AdminApi(c.url, c.adminToken);
    e = new ExecutorApi(c.url, c.executorToken, `bad-input-${backend}`);
    expect((await e.heartbeat('batches')).status).toBe(200);
    await admin.enqueue('batches');
    job = (await e.dequeue('batches')).json;
  });
  afterAll(async () => {
    await c?.stop();
  });

  const jobHeaders = () => ({ authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': e.executorName, 'content-type': 'application/json' });
  const jobPost = (op: string, body: string) => fetch(`${c.url}/.executors/queue/batches/${op}`, { method: 'POST', headers: jobHeaders(), body });
  const logEntry = (extra: Record<string, unknown>) => JSON.stringify({ executorName: e.executorName, jobId: job.id, key: 'k', command: [], startTime: '2024-01-02T15:04:05Z', ...extra });

  it('answers 400 naming the parameter to a NUL in a file key, bucket or query parameter', async () => {
    const cases: Array<[string, string, RequestInit, string]> = [
      ['PUT', '/api/v1/files/batch-changes/a%00b', { body: 'x', headers: { authorization: `Bearer ${c.adminToken}` } }, 'key'],
      ['PUT', '/api/v1/files/b%00/k', { body: 'x', headers: { authorization: `Bearer ${c.adminToken}` } }, 'bucket'],
      ['GET', '/api/v1/executors?query=a%00b', { headers: { authorization: `Bearer ${c.adminToken}` } }, 'query'],
      ['GET', '/.executors/files/batch-changes/k%00', { headers: { authorization: `token-executor ${c.executorToken}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': e.executorName } }, 'key'],
    ];
    for (const [method, path, init, field] of cases) {
      const res = await fetch(c.url + path, { method, ...init });
      expect(res.status, path).toBe(400);
      expect(await res.json(), path).toMatchObject({ field });
    }
    expect(errors()).toEqual([]);
  });

  it('answers 400 naming the field to a NUL in an object key of a JSON body', async () => {
    const step = '"dockerSteps":[{"image":"alpine","commands":["true"]}]';
    const cases: Array<[string, string]> = [
      [`{${step},"files":{"a\\u0000b":{"content":"x"}}}`, 'files.a\\u0000b'],
      [`{${step},"redactedValues":{"se\\u0000cret":"x"}}`, 'redactedValues.se\\u0000cret'],
      [`{${step},"dockerAuthConfig":{"auths":{"r\\u0000":{"auth":"eDp5"}}}}`, 'dockerAuthConfig.auths.r\\u0000'],
    ];
    for (const [body, field] of cases) {
      const res = await admin.post('/api/v1/queues/batches/jobs', body);
      expect(res.status, body).toBe(400);
      const answer = JSON.parse(res.text) as { error: string; field: string };
      expect(answer.field, body).toBe(field);
      expect(answer.error, body).toContain(field);
    }
    const entry = await jobPost('addExecutionLogEntry', logEntry({}).replace('{', '{"x\\u0000":1,'));
    expect(entry.status).toBe(400);
    expect(await entry.text()).toContain('x\\u0000');
    expect(errors()).toEqual([]);
  });

  it('answers 400 naming the field to job and entry ids past what the database holds', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['/.executors/queue/batches/heartbeat', { executorName: e.executorName, jobIds: ['99999999999999999999'] }, 'jobIds.0'],
      ['/.executors/queue/heartbeat', { executorName: e.executorName, queueNames: ['batches'], jobIdsByQueue: [{ queueName: 'batches', jobIds: ['123456789012345678901234'] }] }, 'jobIdsByQueue.0.jobIds.0'],
      ['/.executors/queue/batches/heartbeat', { executorName: e.executorName, jobIds: [1e20] }, 'jobIds.0'],
    ];
    for (const [path, body, field] of cases) {
      const res = await e.post(path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.text, JSON.stringify(body)).toContain(field);
    }
    const update = await jobPost('updateExecutionLogEntry', logEntry({ entryId: 1e12 }));
    expect(update.status).toBe(400);
    expect(await update.text()).toContain('entryId');
    expect(errors()).toEqual([]);
  });

  it('answers 400 naming the field to impossible RFC 3339 times', async () => {
    for (const startTime of ['2024-02-30T00:00:00Z', '2023-02-29T12:00:00Z', '2024-01-01T25:00:00Z', '2024-01-01T00:60:00Z', '0000-01-01T00:00:00Z', '2024-01-01T00:00:00+99:00', '2024-13-01T00:00:00Z']) {
      const res = await jobPost('addExecutionLogEntry', logEntry({ startTime }));
      expect(res.status, startTime).toBe(400);
      expect(await res.text(), startTime).toContain('startTime');
    }
    // The edges that exist are taken.
    for (const startTime of ['2024-02-29T23:59:59.999999999Z', '0001-01-01T00:00:00Z', '2024-01-01T00:00:00+15:59']) {
      expect((await jobPost('addExecutionLogEntry', logEntry({ startTime }))).status, startTime).toBe(200);
    }
    expect(errors()).toEqual([]);
  });

  it('answers 400 naming the url to a repository URL that is not one', async () => {
    for (const url of ['http://[::1', 'http://exa mple.com/x', 'https://%zz@example.com/x']) {
      const res = await admin.post('/api/v1/repositories', { name: 'github.com/acme/x', url });
      expect(res.status, url).toBe(400);
      expect(res.json.field, url).toBe('url');
    }
    expect(errors()).toEqual([]);
  });

  it('does not log a request body the client aborted as an error, and keeps serving', async () => {
    for (const path of ['/api/v1/queues/batches/jobs', '/.executors/queue/batches/heartbeat', '/api/v1/tokens']) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(Number(new URL(c.url).port), '127.0.0.1', () => {
          socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${c.adminToken}\r\nContent-Length: 1000\r\n\r\n{"dockerSteps":`);
          setTimeout(() => socket.destroy(), 200);
        });
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
      });
    }
    // Let the server notice the aborts.
    expect((await e.heartbeat('batches', [job.id])).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(errors()).toEqual([]);
    expect((await admin.get('/api/v1/queues')).status).toBe(200);
  });
});
