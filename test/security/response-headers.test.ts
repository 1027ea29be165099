// Headers that keep a browser strict (issue 11, item 14), on PGlite and PostgreSQL:
// `X-Content-Type-Options: nosniff` on every answer — JSON, text, errors, git, files, streams — and
// `X-Frame-Options: DENY` on the web UI's pages (on every answer, in fact), so no other site frames them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('response headers on %s', (backend) => {
  let c: TestCoordinator;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('sends nosniff and DENY framing on every kind of answer', async () => {
    const admin = new AdminApi(c.url, c.adminToken);
    expect((await admin.put('/api/v1/files/batch-changes/spec/page.html', '<script>alert(1)</script>')).status).toBe(204);
    const executor = new ExecutorApi(c.url, c.executorToken, `headers-${backend}`);
    await executor.heartbeat('batches');
    await admin.enqueue('batches', { files: { 'page.html': { bucket: 'batch-changes', key: 'spec/page.html' } } });
    const job = (await executor.dequeue('batches')).json;
    const jobHeaders = { authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': executor.executorName };

    const answers: Array<[string, Promise<Response>]> = [
      ['admin JSON', fetch(`${c.url}/api/v1/queues`, { headers: { authorization: `Bearer ${c.adminToken}` } })],
      ['401', fetch(`${c.url}/api/v1/queues`)],
      ['404', fetch(`${c.url}/no/such/route`)],
      ['405', fetch(`${c.url}/api/v1/queues`, { method: 'DELETE' })],
      ['executor text', fetch(`${c.url}/.executors/test/auth`, { headers: { authorization: `token-executor ${c.executorToken}` } })],
      ['204', fetch(`${c.url}/.executors/queue/batches/dequeue`, { method: 'POST', headers: { authorization: `token-executor ${c.executorToken}` }, body: JSON.stringify({ executorName: executor.executorName }) })],
      ['a stored file', fetch(`${c.url}/.executors/files/batch-changes/spec/page.html`, { headers: jobHeaders })],
      ['sign-in page', fetch(`${c.url}/sign-in`)],
      ['redirect', fetch(`${c.url}/`, { redirect: 'manual' })],
      ['stylesheet', fetch(`${c.url}/assets/app.css`)],
      ['metrics', fetch(`${c.url}/metrics`)],
      ['healthz', fetch(`${c.url}/healthz`)],
    ];
    for (const [what, answer] of answers) {
      const res = await answer;
      await res.arrayBuffer();
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), what).toBe('DENY');
    }
  });
});
