// The web UI over plain HTTP on a real coordinator (no browser needed for these): sessions and sign-out,
// CSRF and Origin checks, who may open which page, the "not configured" notice, the access token set and
// rotated in Settings (and then accepted by the executor API), and server-rendered job output as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

/** A browser-like client: keeps cookies, reads each page's CSRF token. */
class Browserish {
  private readonly jar = new Map<string, string>();
  constructor(private readonly base: string) {}

  get cookie(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Copies another client's cookies (a stolen or reused session). */
  copyCookies(other: Browserish): void {
    for (const part of other.cookie.split('; ').filter(Boolean)) {
      const [k, v] = part.split('=');
      this.jar.set(k!, v!);
    }
  }

  private keep(res: Response): string | null {
    const setCookie = res.headers.get('set-cookie');
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      if (v === '') this.jar.delete(k!);
      else this.jar.set(k!, v!);
    }
    return setCookie;
  }

  async get(path: string) {
    const res = await fetch(this.base + path, { headers: { cookie: this.cookie }, redirect: 'manual' });
    this.keep(res);
    return { status: res.status, location: res.headers.get('location'), text: await res.text(), headers: res.headers };
  }

  /** Signs in the way a browser does: the form's page first (its CSRF cookie and field), then the POST. */
  async signIn(username: string, password: string, next = '/secrets') {
    const csrf = /name="_csrf" value="([^"]+)"/.exec((await this.get('/sign-in')).text)?.[1] ?? '';
    return this.post('/sign-in', { username, password, next, _csrf: csrf });
  }

  async post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: { cookie: this.cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });
    const setCookie = this.keep(res);
    return { status: res.status, location: res.headers.get('location'), text: await res.text(), setCookie };
  }

  async csrf(path: string): Promise<string> {
    const page = await this.get(path);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    if (!token) throw new Error(`no CSRF token on ${path} (${page.status})`);
    return token;
  }
}

describe('the web UI over HTTP', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  const password = 'web-ui-password-123';

  beforeAll(async () => {
    // No COORDINATOR_EXECUTORS_ACCESS_TOKEN: the token is the Settings page's to set.
    c = await startTestCoordinator('pglite', { COORDINATOR_EXECUTORS_ACCESS_TOKEN: undefined });
    admin = new AdminApi(c.url, c.adminToken);
    expect((await admin.post('/api/v1/users', { username: 'root', password, siteAdmin: true })).status).toBe(201);
    expect((await admin.post('/api/v1/users', { username: 'dev', password })).status).toBe(201);
  });
  afterAll(async () => {
    await c?.stop();
  });

  const signedIn = async (username: string) => {
    const b = new Browserish(c.url);
    const res = await b.signIn(username, password);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/secrets');
    expect(res.setCookie).toMatch(/^executors_session=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    return b;
  };

  it('sends a signed-out browser to sign in and back, and signs out for good', async () => {
    const anonymous = new Browserish(c.url);
    expect(await anonymous.get('/site-admin/executors')).toMatchObject({ status: 303, location: '/sign-in?next=%2Fsite-admin%2Fexecutors' });
    // A sign-in form posted without its CSRF cookie and field (from another site) is refused.
    expect((await new Browserish(c.url).post('/sign-in', { username: 'root', password, next: '/' })).status).toBe(403);
    // `next` never leaves the site.
    const b = new Browserish(c.url);
    expect((await b.signIn('root', password, '//evil.example/')).location).toBe('/');
    const csrf = await b.csrf('/secrets');
    // The session cookie as it was before signing out: the server must forget it, not just the browser.
    const reused = new Browserish(c.url);
    reused.copyCookies(b);
    expect((await reused.get('/secrets')).status).toBe(200);
    const out = await b.post('/sign-out', { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.setCookie).toContain('Max-Age=0');
    expect((await reused.get('/secrets')).status).toBe(303);
  });

  it('refuses forms without the session\'s CSRF token or from another origin', async () => {
    const b = await signedIn('root');
    const csrf = await b.csrf('/secrets');
    expect((await b.post('/secrets/create', { namespace: 'global', key: 'A', value: 'v1', scope: 'batches' })).status).toBe(403);
    expect((await b.post('/secrets/create', { _csrf: 'x'.repeat(32), namespace: 'global', key: 'A', value: 'v1', scope: 'batches' })).status).toBe(403);
    expect((await b.post('/secrets/create', { _csrf: csrf, namespace: 'global', key: 'A', value: 'v1', scope: 'batches' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await b.post('/secrets/create', { _csrf: csrf, namespace: 'global', key: 'A', value: 'value-one', scope: 'batches' })).status).toBe(303);
    const page = await b.get('/secrets');
    expect(page.text).toContain('data-key="A"');
    expect(page.text).not.toContain('value-one');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('keeps site-admin pages to site admins, and each user\'s secrets to them', async () => {
    const dev = await signedIn('dev');
    for (const path of ['/site-admin/executors', '/jobs', '/site-admin/settings']) expect((await dev.get(path)).status, path).toBe(403);
    const secrets = await dev.get('/secrets');
    expect(secrets.status).toBe(200);
    expect(secrets.text).not.toContain('Global secrets');
    const csrf = await dev.csrf('/secrets');
    expect((await dev.post('/secrets/create', { _csrf: csrf, namespace: 'global', key: 'B', value: 'v', scope: 'batches' })).status).toBe(403);
    const rootsSecret = (await admin.get('/api/v1/secrets')).json.secrets[0].id as number;
    expect((await dev.post(`/secrets/${rootsSecret}/delete`, { _csrf: csrf })).status).toBe(404);
    expect((await dev.get(`/secrets/${rootsSecret}/access-logs`)).status).toBe(404);
  });

  it('says executors are not configured until Settings sets the token, which the executor API then accepts', async () => {
    const b = await signedIn('root');
    expect((await b.get('/site-admin/executors')).text).toContain('Executors are not configured.');
    const executor = new ExecutorApi(c.url, 'y'.repeat(24), 'ui-test');
    expect((await fetch(`${c.url}/.executors/test/auth`, { headers: { authorization: `token-executor ${'y'.repeat(24)}` } })).status).toBe(500);

    const csrf = await b.csrf('/site-admin/settings');
    expect((await b.post('/site-admin/settings/access-token', { _csrf: csrf, action: 'set', token: 'short' })).status).toBe(400);
    expect((await b.post('/site-admin/settings/access-token', { _csrf: csrf, action: 'set', token: 'y'.repeat(24) })).status).toBe(303);
    expect((await executor.heartbeat('batches')).status).toBe(200);
    expect((await b.get('/site-admin/executors')).text).not.toContain('Executors are not configured.');
    const settings = await b.get('/site-admin/settings');
    expect(settings.text).toContain('••••yyyy');
    expect(settings.text).not.toContain('y'.repeat(24));

    // Generated: shown once, then only redacted; the old token stops working.
    const generated = await b.post('/site-admin/settings/access-token', { _csrf: csrf, action: 'generate' });
    const token = /<pre class="out" id="new-token">([0-9a-f]{48})<\/pre>/.exec(generated.text)?.[1];
    expect(token).toBeDefined();
    expect((await b.get('/site-admin/settings')).text).not.toContain(token!);
    expect((await executor.heartbeat('batches')).status).toBe(401);
    expect((await new ExecutorApi(c.url, token!, 'ui-test').heartbeat('batches')).status).toBe(200);
    // Stored for the other replicas, which reload it.
    const stored = await c.database.db.query<{ value: string }>(`SELECT value FROM site_settings WHERE key = 'executors.accessToken'`);
    expect(stored[0]!.value).toBe(token);

    expect((await b.post('/site-admin/settings/frontend-url', { _csrf: csrf, url: 'ftp://x' })).status).toBe(400);
    expect((await b.post('/site-admin/settings/frontend-url', { _csrf: csrf, url: 'https://executors.example.com' })).status).toBe(303);
    expect((await b.get('/site-admin/settings')).text).toContain('value="https://executors.example.com"');
  });

  it('renders job output and executor names as text', async () => {
    const b = await signedIn('root');
    const token = c.services.settings.executorsAccessToken!;
    const e = new ExecutorApi(c.url, token, '<img src=x onerror=alert(1)>');
    await e.heartbeat('batches');
    const id = await admin.enqueue('batches');
    const job = (await e.dequeue('batches')).json;
    expect(job.id).toBe(id);
    const added = await e.jobPost('batches', 'addExecutionLogEntry', job, { key: 'step.docker.0', command: ['echo'], startTime: new Date().toISOString(), out: 'stdout: <script>alert(1)</script>\n' });
    expect(added.status).toBe(200);
    const page = await b.get(`/jobs/batches/${id}`);
    expect(page.text).toContain('stdout: &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.toContain('<script>alert(1)');
    const executors = await b.get('/site-admin/executors');
    expect(executors.text).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(executors.text).not.toContain('<img src=x');
  });
});
