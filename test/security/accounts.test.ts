// Accounts (issue 11, items 10 and 11), on PGlite and PostgreSQL: the bootstrap `admin` cannot be
// deleted while COORDINATOR_ADMIN_TOKEN acts as it, and a new password ends the user's web sessions and
// API tokens (all of them when a site admin resets it; all but the caller's own when users change theirs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser } from '../helpers/test-users.js';

describe.each(BACKENDS)('accounts on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
  });
  afterAll(async () => {
    await c?.stop();
  });

  /** A web session of `username`: the cookie a browser would hold after signing in. */
  const webSession = async (username: string, password: string) => {
    const page = await fetch(`${c.url}/sign-in`);
    const csrfCookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const res = await fetch(`${c.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password, next: '/secrets', _csrf: csrf }).toString(),
    });
    expect(res.status).toBe(303);
    return res.headers.getSetCookie().find((h) => h.startsWith('executors_session='))!.split(';')[0]!;
  };
  const sessionWorks = async (cookie: string) => (await fetch(`${c.url}/secrets`, { headers: { cookie }, redirect: 'manual' })).status === 200;
  const tokenWorks = async (token: string) => (await new AdminApi(c.url, token).get('/api/v1/users/me')).status === 200;

  it('refuses to delete the bootstrap admin while COORDINATOR_ADMIN_TOKEN acts as it', async () => {
    const ops = await createTestUser(admin, 'ops', { siteAdmin: true });
    const bootstrap = (await admin.get('/api/v1/users/me')).json;
    expect(bootstrap.username).toBe('admin');
    const res = await ops.api.delete(`/api/v1/users/${bootstrap.id}`);
    expect(res.status).toBe(409);
    expect(res.json.error).toContain('COORDINATOR_ADMIN_TOKEN');
    // The token still acts as a user that exists.
    expect((await admin.get('/api/v1/users/me')).json).toMatchObject({ id: bootstrap.id, username: 'admin' });
    expect((await admin.get('/api/v1/users')).status).toBe(200);
  });

  it("ends every session and API token of a user whose password a site admin reset", async () => {
    const alice = await createTestUser(admin, 'alice');
    const session = await webSession('alice', alice.password);
    const second = (await alice.api.post(`/api/v1/users/${alice.id}/tokens`, { note: 'ci' })).json.token as string;
    expect(await sessionWorks(session)).toBe(true);
    expect(await tokenWorks(alice.token)).toBe(true);
    expect(await tokenWorks(second)).toBe(true);

    expect((await admin.put(`/api/v1/users/${alice.id}/password`, { password: 'a brand new password' })).status).toBe(204);
    expect(await sessionWorks(session)).toBe(false);
    expect(await tokenWorks(alice.token)).toBe(false);
    expect(await tokenWorks(second)).toBe(false);
    expect((await new AdminApi(c.url, '').post('/api/v1/tokens', { username: 'alice', password: alice.password })).status).toBe(401);
    expect((await new AdminApi(c.url, '').post('/api/v1/tokens', { username: 'alice', password: 'a brand new password' })).status).toBe(201);
    // The site admin's own token is untouched.
    expect(await tokenWorks(c.adminToken)).toBe(true);
  });

  it('keeps the token of users who change their own password (unless they ask otherwise), and ends the rest', async () => {
    const bob = await createTestUser(admin, 'bob');
    const session = await webSession('bob', bob.password);
    const other = (await bob.api.post(`/api/v1/users/${bob.id}/tokens`, {})).json.token as string;

    expect((await bob.api.put(`/api/v1/users/${bob.id}/password`, { password: 'bob changed it himself' })).status).toBe(204);
    expect(await tokenWorks(bob.token)).toBe(true);
    expect(await tokenWorks(other)).toBe(false);
    expect(await sessionWorks(session)).toBe(false);

    expect((await bob.api.put(`/api/v1/users/${bob.id}/password`, { password: 'and once more, for all', keepCallerToken: false })).status).toBe(204);
    expect(await tokenWorks(bob.token)).toBe(false);
  });
});
