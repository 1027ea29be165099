// The executor queue API end to end over real HTTP, on PGlite and on the PostgreSQL server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOO_MANY_RESETS_MESSAGE } from '../../src/coordinator/store/job-store.js';
import type { Job } from '../../src/protocol/job.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('queue API on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let executor: ExecutorApi;
  let n = 0;
  /** A fresh executor name per test, heartbeated once so job routes accept it. */
  const newExecutor = async (queue = 'batches', version = '5.3.0') => {
    const e = new ExecutorApi(c.url, c.executorToken, `host-${backend}-${++n}`, version);
    expect((await e.heartbeat(queue)).status).toBe(200);
    return e;
  };
  /** Empties a queue so each test starts from a known state. */
  const drain = async (queue: string) => {
    const e = await newExecutor(queue);
    for (;;) {
      const r = await e.dequeue(queue);
      if (r.status === 204) return;
      await e.markComplete(queue, r.json);
    }
  };

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    executor = new ExecutorApi(c.url, c.executorToken, `host-${backend}-main`);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('answers GET /.executors/test/auth with 200 ok for the right token and 401 otherwise', async () => {
    const get = (authorization?: string) => fetch(`${c.url}/.executors/test/auth`, { headers: authorization ? { authorization } : {} });
    const ok = await get(`token-executor ${c.executorToken}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('ok');
    // The original sends these 401s with no body; a JSON reason is there for people, old clients ignore it.
    const refusal = async (authorization?: string) => {
      const res = await get(authorization);
      return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as unknown };
    };
    const reason = (error: string) => ({ status: 401, type: 'application/json', body: { error } });
    const expected = 'expected "Authorization: token-executor <executors.accessToken>"';
    expect(await refusal(`token-executor wrong-token-wrong-token`)).toEqual(reason('the token-executor token does not match the site setting executors.accessToken'));
    expect(await refusal(`Bearer ${c.executorToken}`)).toEqual(reason(`the Authorization scheme "Bearer" is not accepted here: ${expected}`));
    expect(await refusal(`token-executor`)).toEqual(reason(`no token after token-executor: ${expected}`));
    expect(await refusal(`token-executor a b`)).toEqual(reason(`the Authorization header is not "<scheme> <token>": ${expected}`));
    expect(await refusal()).toEqual(reason(`no Authorization header: ${expected}`));
  });

  it('answers 204 when the queue is empty and 404 for an unknown queue', async () => {
    await drain('codeintel');
    expect((await executor.dequeue('codeintel')).status).toBe(204);
    const unknown = await executor.dequeue('nope');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain('unknown queue');
  });

  it('dequeues a v2 payload with base64 files and dockerAuthConfig to a new executor, and v1 to an old one', async () => {
    await drain('batches');
    const spec = {
      commit: 'deadbeef',
      files: { 'input.json': { content: '{"a":1}' }, 'old-style.txt': 'plain' },
      dockerSteps: [{ key: 'one', image: 'alpine:3', commands: ['echo hi'], dir: '.', env: ['A=1'] }],
      redactedValues: { s3cr3t: '${{ secrets.X }}' },
      dockerAuthConfig: { auths: { 'registry.example.com': { auth: 'dXNlcjpwYXNz' } } },
    };
    const id2 = await admin.enqueue('batches', spec);
    const id1 = await admin.enqueue('batches', spec);
    const v2 = await (await newExecutor('batches', '5.3.0')).dequeue('batches');
    expect(v2.status).toBe(200);
    expect(v2.json).toMatchObject({ version: 2, id: id2, commit: 'deadbeef', redactedValues: spec.redactedValues, dockerAuthConfig: spec.dockerAuthConfig });
    expect(v2.json.files['input.json']!.content).toBe(Buffer.from('{"a":1}').toString('base64'));
    expect(v2.json.files['old-style.txt']!.content).toBe(Buffer.from('plain').toString('base64'));
    expect(v2.json.token).toMatch(/^[0-9a-f]{40}$/);
    expect(v2.json.queue).toBeUndefined();

    const v1 = await (await newExecutor('batches', '4.2.0')).dequeue('batches');
    expect(v1.json.id).toBe(id1);
    expect(v1.json.version).toBeUndefined();
    expect(v1.json.files['input.json']!.content).toBe('{"a":1}');
    expect(v1.json.dockerAuthConfig).toBeUndefined();
  });

  it('never gives one job to two of 8 concurrent dequeuers', async () => {
    await drain('codeintel');
    const ids = await Promise.all(Array.from({ length: 40 }, () => admin.enqueue('codeintel')));
    const executors = await Promise.all(Array.from({ length: 8 }, () => newExecutor('codeintel')));
    const got = await Promise.all(
      executors.map(async (e) => {
        const mine: number[] = [];
        for (;;) {
          const r = await e.dequeue('codeintel');
          if (r.status === 204) return mine;
          mine.push(r.json.id);
        }
      }),
    );
    const all = got.flat();
    expect(all.sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(all).size).toBe(all.length);
  });

  it('runs a job to completion: log entries are stored and the token stops working afterwards', async () => {
    await drain('batches');
    const id = await admin.enqueue('batches');
    const e = await newExecutor();
    const job = (await e.dequeue('batches')).json;
    const entry = { key: 'step.docker.0', command: ['docker', 'run'], startTime: '2024-01-02T15:04:05.123456789Z' };
    const added = await e.jobPost('batches', 'addExecutionLogEntry', job, entry);
    expect(added.status).toBe(200);
    expect(added.text).toBe('1');
    const second = await e.jobPost('batches', 'addExecutionLogEntry', job, { ...entry, key: 'teardown' });
    expect(second.json).toBe(2);
    const updated = await e.jobPost('batches', 'updateExecutionLogEntry', job, { ...entry, entryId: 1, exitCode: 0, durationMs: 1500, out: 'stdout: hi\n' });
    expect(updated.status).toBe(204);
    expect((await e.markComplete('batches', job)).status).toBe(204);

    const view = await admin.job('batches', id);
    expect(view.json).toMatchObject({ id, state: 'completed', workerHostname: e.executorName });
    expect(view.json.finishedAt).not.toBeNull();
    // The view lists the entries without their output; each entry's output is paged on its own route.
    expect(view.json.executionLogs).toEqual([
      { entryId: 1, key: 'step.docker.0', command: ['docker', 'run'], startTime: '2024-01-02T15:04:05.123Z', exitCode: 0, durationMs: 1500, outLength: 11, outBytes: 11, lineCount: 1 },
      { entryId: 2, key: 'teardown', command: ['docker', 'run'], startTime: '2024-01-02T15:04:05.123Z', exitCode: null, durationMs: null, outLength: 0, outBytes: 0, lineCount: 0 },
    ]);
    expect((await admin.get(`/api/v1/queues/batches/jobs/${id}/logs/1`)).json).toMatchObject({ entryId: 1, offset: 0, out: 'stdout: hi\n', nextOffset: null });
    // The token was deleted with the mark.
    const again = await e.markComplete('batches', job);
    expect(again.status).toBe(401);
    expect(again.text).toBe('invalid token');
  });

  it('refuses job routes from an executor that never heartbeated', async () => {
    await drain('batches');
    await admin.enqueue('batches');
    const stranger = new ExecutorApi(c.url, c.executorToken, `never-heartbeated-${backend}`);
    const job = (await stranger.dequeue('batches')).json;
    const res = await stranger.markComplete('batches', job);
    expect(res.status).toBe(401);
    expect(res.text).toBe('invalid token');
    await stranger.heartbeat('batches');
    expect((await stranger.markComplete('batches', job)).status).toBe(204);
  });

  it('keeps a job token to its own job, queue and repository', async () => {
    await drain('batches');
    await drain('codeintel');
    const e = await newExecutor();
    await admin.enqueue('batches');
    await admin.enqueue('batches');
    const a = (await e.dequeue('batches')).json;
    const b = (await e.dequeue('batches')).json;
    // Token of a, header and body of b.
    const otherJob = await e.jobPost('batches', 'markComplete', { id: b.id, token: a.token });
    expect(otherJob.status).toBe(403);
    // Token and header of a, body naming b.
    const bodyMismatch = await e.jobPost('batches', 'markComplete', a, { jobId: b.id });
    expect(bodyMismatch.status).toBe(403);
    // Token of a on the other queue's route.
    const otherQueue = await e.jobPost('codeintel', 'markComplete', a);
    expect(otherQueue.status).toBe(403);
    // A's token on a git route for a repository it was not issued for.
    const git = await fetch(`${c.url}/.executors/git/github.com/other/repo/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Bearer ${a.token}`, 'x-sourcegraph-job-id': String(a.id), 'x-sourcegraph-executor-name': e.executorName },
    });
    expect(git.status).toBe(403);
    // Nothing was marked by the attempts.
    expect((await admin.job('batches', b.id)).json.state).toBe('processing');
    expect((await e.markComplete('batches', a)).status).toBe(204);
    expect((await e.markComplete('batches', b)).status).toBe(204);
  });

  it('answers 404 to a mark for a job another executor holds (shared-token auth)', async () => {
    await drain('batches');
    const id = await admin.enqueue('batches');
    const holder = await newExecutor();
    const job = (await holder.dequeue('batches')).json;
    const other = await newExecutor();
    // Old executors send the shared token with the job headers (reference §2.2).
    const res = await other.post(
      '/.executors/queue/batches/markComplete',
      { executorName: other.executorName, jobId: job.id },
      { 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': other.executorName },
    );
    expect(res.status).toBe(404);
    expect(res.text).toBe('');
    expect((await admin.job('batches', id)).json.state).toBe('processing');
  });

  it('markErrored fails the job at once with the default of no retries, markFailed too', async () => {
    await drain('batches');
    const e = await newExecutor();
    const idA = await admin.enqueue('batches');
    const idB = await admin.enqueue('batches');
    const a = (await e.dequeue('batches')).json;
    const b = (await e.dequeue('batches')).json;
    expect((await e.jobPost('batches', 'markErrored', a, { errorMessage: 'step 1 exited 3' })).status).toBe(204);
    expect((await e.jobPost('batches', 'markFailed', b, { errorMessage: 'boom' })).status).toBe(204);
    expect((await admin.job('batches', idA)).json).toMatchObject({ state: 'failed', failureMessage: 'step 1 exited 3', numFailures: 1 });
    expect((await admin.job('batches', idB)).json).toMatchObject({ state: 'failed', failureMessage: 'boom' });
  });

  it('cancels a queued job at once and a processing one through heartbeat cancelIds', async () => {
    await drain('batches');
    const queuedId = await admin.enqueue('batches');
    const canceled = await admin.post(`/api/v1/queues/batches/jobs/${queuedId}/cancel`);
    expect(canceled.status).toBe(200);
    expect((await admin.job('batches', queuedId)).json.state).toBe('canceled');

    const id = await admin.enqueue('batches');
    const e = await newExecutor();
    const job = (await e.dequeue('batches')).json;
    expect(job.id).toBe(id);
    expect((await e.heartbeat('batches', [id])).json).toEqual({ knownIds: [String(id)], cancelIds: [] });
    expect((await admin.post(`/api/v1/queues/batches/jobs/${id}/cancel`)).status).toBe(202);
    expect((await e.heartbeat('batches', [id])).json).toEqual({ knownIds: [String(id)], cancelIds: [String(id)] });
    expect((await e.jobPost('batches', 'markFailed', job, { errorMessage: 'canceled' })).status).toBe(204);
    expect((await admin.job('batches', id)).json.state).toBe('canceled');
    expect((await admin.post(`/api/v1/queues/batches/jobs/${id}/cancel`)).status).toBe(409);
    expect((await admin.post(`/api/v1/queues/batches/jobs/999999/cancel`)).status).toBe(404);
  });

  it('leaves out of knownIds the jobs an executor does not hold, so it abandons them', async () => {
    await drain('batches');
    const id = await admin.enqueue('batches');
    const holder = await newExecutor();
    await holder.dequeue('batches');
    const other = await newExecutor();
    expect((await other.heartbeat('batches', [id, 424242])).json).toEqual({ knownIds: [], cancelIds: [] });
    expect((await holder.heartbeat('batches', [id])).json.knownIds).toEqual([String(id)]);
  });

  it('resets a job whose executor stopped heartbeating, and fails it after 3 resets', async () => {
    await drain('codeintel');
    const id = await admin.enqueue('codeintel');
    const age = async () => {
      // Age the heartbeat instead of sleeping 25 s.
      await c.database.db.query(`UPDATE jobs SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [id]);
      await c.coordinator.resetter!.runOnce();
    };
    for (let reset = 1; reset <= 3; reset++) {
      const e = await newExecutor('codeintel');
      const job = (await e.dequeue('codeintel')).json;
      expect(job.id).toBe(id);
      await age();
      const view = (await admin.job('codeintel', id)).json;
      expect(view).toMatchObject({ state: 'queued', numResets: reset });
      // The dead executor's token is gone with the reset.
      expect((await e.markComplete('codeintel', job)).status).toBe(401);
    }
    const e = await newExecutor('codeintel');
    expect((await e.dequeue('codeintel')).json.id).toBe(id);
    await age();
    expect((await admin.job('codeintel', id)).json).toMatchObject({ state: 'failed', numResets: 3, failureMessage: TOO_MANY_RESETS_MESSAGE });
  });

  it('does not reset a job whose executor keeps heartbeating', async () => {
    await drain('codeintel');
    const id = await admin.enqueue('codeintel');
    const e = await newExecutor('codeintel');
    await e.dequeue('codeintel');
    await c.database.db.query(`UPDATE jobs SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    await e.heartbeat('codeintel', [id]);
    await c.coordinator.resetter!.runOnce();
    expect((await admin.job('codeintel', id)).json).toMatchObject({ state: 'processing', numResets: 0 });
  });

  it('answers a waiting dequeue as soon as a job is enqueued, and 204 when the wait ends', async () => {
    await drain('codeintel');
    const e = await newExecutor('codeintel');
    const started = Date.now();
    const empty = await e.dequeue('codeintel', { waitMs: 300 });
    expect(empty.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    const waiting = e.dequeue('codeintel', { waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    const id = await admin.enqueue('codeintel');
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(id);
  });

  it('does not hand a job to a waiting dequeue whose client went away', async () => {
    await drain('codeintel');
    const e = await newExecutor('codeintel');
    for (let round = 0; round < 5; round++) {
      const gone = new AbortController();
      const waiting = fetch(`${c.url}/.executors/queue/codeintel/dequeue`, {
        method: 'POST',
        headers: { authorization: `token-executor ${c.executorToken}` },
        body: JSON.stringify({ executorName: e.executorName, version: '5.3.0', waitMs: 20_000 }),
        signal: gone.signal,
      }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      // Abort and enqueue at once: the coordinator may claim the job before it notices the disconnect.
      gone.abort();
      const id = await admin.enqueue('codeintel');
      await waiting;
      const next = await e.dequeue('codeintel', { waitMs: 5_000 });
      expect(next.status).toBe(200);
      expect(next.json.id).toBe(id);
      expect((await admin.job('codeintel', id)).json.numResets).toBe(0);
      await e.markComplete('codeintel', next.json);
    }
  });

  it('wakes as many waiting dequeues as jobs enqueued in a burst', async () => {
    await drain('codeintel');
    const executors = await Promise.all(Array.from({ length: 4 }, () => newExecutor('codeintel')));
    const waits = executors.map((e) => e.dequeue('codeintel', { waitMs: 20_000 }));
    await new Promise((r) => setTimeout(r, 200));
    const ids = await Promise.all(Array.from({ length: 4 }, () => admin.enqueue('codeintel')));
    const got = (await Promise.all(waits)).map((r) => r.json.id);
    expect(got.sort()).toEqual([...ids].sort());
  });

  it('serves the multi-queue routes: the job names its queue and heartbeat IDs carry a queue suffix', async () => {
    await drain('batches');
    await drain('codeintel');
    const name = `multi-${backend}`;
    const e = new ExecutorApi(c.url, c.executorToken, name);
    const hb = (jobIdsByQueue: unknown[]) =>
      e.post<{ knownIds: string[]; cancelIds: string[] }>('/.executors/queue/heartbeat', { executorName: name, queueNames: ['batches', 'codeintel'], jobIdsByQueue, executorVersion: '5.3.0' });
    expect((await hb([])).status).toBe(200);
    const id = await admin.enqueue('codeintel');
    const res = await e.post<Job>('/.executors/queue/dequeue', { executorName: name, version: '5.3.0', queues: ['batches', 'codeintel'] });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id, queue: 'codeintel' });
    const beat = await hb([{ queueName: 'codeintel', jobIds: [String(id)] }, { queueName: 'batches', jobIds: [String(id)] }]);
    expect(beat.json).toEqual({ knownIds: [`${id}-codeintel`], cancelIds: [] });
    expect((await e.post('/.executors/queue/dequeue', { executorName: name, queues: ['batches', 'codeintel'] })).status).toBe(204);
    expect((await e.post('/.executors/queue/dequeue', { executorName: name, queues: [] })).status).toBe(204);
    const listed = await admin.get('/api/v1/executors?query=' + name);
    expect(listed.json.executors[0]).toMatchObject({ hostname: name, queueName: null, queueNames: ['batches', 'codeintel'] });
  });

  it('lists executors with activity and compatibility, and deletes those not seen for the record max age', async () => {
    const current = await newExecutor('batches', '5.3.2');
    const old = await newExecutor('batches', '5.0.0');
    const list = await admin.get(`/api/v1/executors?query=${encodeURIComponent(`host-${backend}-`)}&limit=500`);
    const byName = Object.fromEntries(list.json.executors.map((x: { hostname: string }) => [x.hostname, x]));
    expect(byName[current.executorName]).toMatchObject({ active: true, compatibility: 'UP_TO_DATE', os: 'linux', architecture: 'amd64', gitVersion: '2.39.5' });
    expect(byName[old.executorName]).toMatchObject({ active: true, compatibility: 'OUTDATED' });

    await c.database.db.query(`UPDATE executors SET last_seen_at = now() - interval '1 minute' WHERE hostname = $1`, [old.executorName]);
    const inactive = (await admin.get(`/api/v1/executors?query=${old.executorName}`)).json.executors[0];
    expect(inactive).toMatchObject({ active: false, compatibility: null });
    expect((await admin.get(`/api/v1/executors?active=true&query=${old.executorName}`)).json.executors).toEqual([]);
    const inactiveOnly = (await admin.get(`/api/v1/executors?active=false&query=${encodeURIComponent(`host-${backend}-`)}&limit=500`)).json;
    expect(inactiveOnly.executors.map((x: { hostname: string }) => x.hostname)).toContain(old.executorName);
    expect(inactiveOnly.executors.map((x: { hostname: string }) => x.hostname)).not.toContain(current.executorName);
    expect(inactiveOnly.totalCount).toBe(inactiveOnly.executors.length);

    await c.database.db.query(`UPDATE executors SET last_seen_at = now() - interval '169 hours' WHERE hostname = $1`, [old.executorName]);
    expect(await c.services.executors.deleteNotSeenFor(c.config.executorRecordMaxAgeMs)).toBe(1);
    expect((await admin.get(`/api/v1/executors?query=${old.executorName}`)).json.totalCount).toBe(0);
  });

  it('re-exposes executor metrics on /metrics with sg_instance, and ignores a malformed dump', async () => {
    const e = await newExecutor('batches');
    const dump = '# HELP src_executor_jobs_total Jobs run.\n# TYPE src_executor_jobs_total counter\nsrc_executor_jobs_total{queue="batches"} 7\n';
    expect((await e.heartbeat('batches', [], { prometheusMetrics: dump })).status).toBe(200);
    expect((await e.heartbeat('batches', [], { prometheusMetrics: 'this is { not metrics' })).status).toBe(200);
    await drain('batches');
    await admin.enqueue('batches');
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toContain(`src_executor_jobs_total{queue="batches",sg_instance="${e.executorName}",sg_job="sourcegraph-executors"} 7`);
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1]);
    const queued = value(/executors_coordinator_jobs\{queue="batches",state="queued"\} (\d+)/);
    const processing = value(/executors_coordinator_jobs\{queue="batches",state="processing"\} (\d+)/);
    expect(queued).toBe(1);
    // The autoscaling size counts queued and processing jobs (reference §7.6).
    expect(value(/src_executor_total\{queue="batches"\} (\d+)/)).toBe(queued + processing);
    expect(metrics).toMatch(/src_executor_queued_duration_seconds_total\{queue="batches"\} \d/);
    expect(metrics).toContain('executors_coordinator_dequeue_duration_seconds_bucket');
    expect(metrics).toContain('executors_coordinator_http_request_duration_seconds_bucket{le="0.001",route="queue.heartbeat"');
  });
});
