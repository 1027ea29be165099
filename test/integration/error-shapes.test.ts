// How each part of the coordinator answers a mistake: the admin API always in JSON (`{"error", "field"}`
// where a field is at fault), the executor API with the bodies the original protocol fixes (and a reason
// in its 401s), the web UI with HTML pages that link on; and the favicon browsers ask for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

describe('error answers of the coordinator', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let cookie = '';

  beforeAll(async () => {
    c = await startTestCoordinator('pglite', { COORDINATOR_MAX_BODY_SIZE: '64KiB' });
    admin = new AdminApi(c.url, c.adminToken);
    expect((await admin.post('/api/v1/users', { username: 'errors-admin', password: 'errors-admin-password', siteAdmin: true })).status).toBe(201);
    // Sign in as a browser does: the form's CSRF cookie and field, then the POST.
    const form = await fetch(`${c.url}/sign-in`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signInCookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const signedIn = await fetch(`${c.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: signInCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'errors-admin', password: 'errors-admin-password', next: '/', _csrf: csrf }).toString(),
    });
    expect(signedIn.status).toBe(303);
    cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
  });
  afterAll(async () => {
    await c?.stop();
  });

  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(c.url + path, { redirect: 'manual', ...init });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text(), headers: res.headers };
  };
  const asAdmin = (path: string, init: RequestInit = {}) => call(path, { ...init, headers: { authorization: `Bearer ${c.adminToken}`, 'content-type': 'application/json', ...init.headers } });

  it('answers every admin API mistake in JSON, naming the field where one is at fault', async () => {
    const notJson = await asAdmin('/api/v1/queues/batches/jobs', { method: 'POST', body: '{"dockerSteps": ' });
    expect([notJson.status, notJson.type]).toEqual([400, 'application/json']);
    expect(JSON.parse(notJson.text)).toEqual({ error: expect.stringMatching(/^Failed to unmarshal payload: /) });

    const wrongType = await asAdmin('/api/v1/queues/batches/jobs', { method: 'POST', body: JSON.stringify({ dockerSteps: [{ image: 5, commands: [] }] }) });
    expect([wrongType.status, wrongType.type]).toEqual([400, 'application/json']);
    expect(JSON.parse(wrongType.text)).toEqual({ error: expect.stringContaining('invalid request body: dockerSteps.0.image'), field: 'dockerSteps.0.image' });

    const tooBig = await asAdmin('/api/v1/queues/batches/jobs', { method: 'POST', body: JSON.stringify({ padding: 'x'.repeat(70 * 1024) }) });
    expect([tooBig.status, tooBig.type]).toEqual([413, 'application/json']);
    expect(JSON.parse(tooBig.text)).toEqual({ error: expect.stringContaining('over the limit of 65536 bytes') });

    const userBody = await asAdmin('/api/v1/users', { method: 'POST', body: JSON.stringify({ username: 7 }) });
    expect(JSON.parse(userBody.text)).toMatchObject({ field: 'username' });

    for (const [path, method, status] of [
      ['/api/v1/nothing-here', 'GET', 404],
      ['/api/v1/queues', 'DELETE', 405],
      ['/api/v1/queues/nope/jobs', 'GET', 404],
      ['/metrics', 'POST', 405],
    ] as const) {
      const res = await asAdmin(path, { method });
      expect([res.status, res.type], `${method} ${path}`).toEqual([status, 'application/json']);
      expect(JSON.parse(res.text), `${method} ${path}`).toEqual({ error: expect.any(String) });
    }
  });

  it('keeps the executor API\'s own bodies: text where the original sends text, a JSON reason in its 401s', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      call(path, { method: 'POST', body, headers: { authorization: `token-executor ${c.executorToken}`, 'content-type': 'application/json', ...headers } });
    const notJson = await post('/.executors/queue/batches/heartbeat', '{"executorName": ');
    expect([notJson.status, notJson.type]).toEqual([400, 'text/plain; charset=utf-8']);
    expect(notJson.text).toMatch(/^Failed to unmarshal payload: /);
    const wrongType = await post('/.executors/queue/batches/dequeue', JSON.stringify({ executorName: 42 }));
    expect([wrongType.status, wrongType.type]).toEqual([400, 'text/plain; charset=utf-8']);
    expect(wrongType.text).toMatch(/^invalid request body: executorName: /);
    const jobRoute = await post('/.executors/queue/batches/markComplete', JSON.stringify({ executorName: 'x', jobId: 1 }), { authorization: `Bearer ${'f'.repeat(40)}`, 'x-sourcegraph-job-id': '1', 'x-sourcegraph-executor-name': 'x' });
    expect([jobRoute.status, jobRoute.text]).toEqual([401, 'invalid token']);
    const refused = await post('/.executors/queue/batches/heartbeat', '{}', { authorization: 'token-executor wrong-token-wrong-token' });
    expect([refused.status, refused.type]).toEqual([401, 'application/json']);
    expect(JSON.parse(refused.text)).toEqual({ error: 'the token-executor token does not match the site setting executors.accessToken' });
  });

  it('answers a web page that does not exist with an HTML 404 page that links on, signed in or not', async () => {
    const anonymous = await call('/no/such/page');
    expect([anonymous.status, anonymous.type]).toEqual([404, 'text/html; charset=utf-8']);
    expect(anonymous.text).toContain('<h1>404 Not Found</h1>');
    expect(anonymous.text).toContain('There is no page at /no/such/page.');
    for (const href of ['/sign-in', '/jobs', '/site-admin/executors', '/secrets']) expect(anonymous.text).toContain(`href="${href}"`);
    expect(anonymous.headers.get('content-security-policy')).toContain("script-src 'self'");

    const missingJob = await call('/jobs/batches/99999999', { headers: { cookie } });
    expect([missingJob.status, missingJob.type]).toEqual([404, 'text/html; charset=utf-8']);
    expect(missingJob.text).toContain('No job 99999999 in queue batches.');
    // Signed in: the page has the navigation, with the sign-out form.
    expect(missingJob.text).toContain('action="/sign-out"');
    const missingQueue = await call('/jobs?queue=nope', { headers: { cookie } });
    expect([missingQueue.status, missingQueue.type]).toEqual([404, 'text/html; charset=utf-8']);
    // A wrong method on a page is a page too.
    const wrongMethod = await call('/sign-out');
    expect([wrongMethod.status, wrongMethod.type]).toEqual([405, 'text/html; charset=utf-8']);
  });

  it('serves a favicon as ICO and SVG, and the pages point at it', async () => {
    const ico = await fetch(`${c.url}/favicon.ico`);
    expect([ico.status, ico.headers.get('content-type')]).toEqual([200, 'image/x-icon']);
    const bytes = Buffer.from(await ico.arrayBuffer());
    // ICONDIR: reserved 0, type 1 (icon), one image of 16×16.
    expect([bytes.readUInt16LE(0), bytes.readUInt16LE(2), bytes.readUInt16LE(4), bytes[6], bytes[7]]).toEqual([0, 1, 1, 16, 16]);
    expect(bytes.length).toBe(bytes.readUInt32LE(18) + bytes.readUInt32LE(14));
    const svg = await call('/favicon.svg');
    expect([svg.status, svg.type]).toEqual([200, 'image/svg+xml']);
    expect(svg.text).toMatch(/^<svg /);
    expect((await call('/sign-in')).text).toContain('<link rel="icon" href="/favicon.svg" type="image/svg+xml">');
  });
});
