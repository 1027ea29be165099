// Password sign-in attacked at both doors, POST /api/v1/tokens and the web UI's form (issue 11, item 7),
// on PGlite and PostgreSQL: oversized bodies, oversized passwords, and guessing — per user name and per
// address, locked out with a Retry-After even for the right password, the lock-out logged.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const MAX_PER_USER = 3;
const MAX_PER_ADDRESS = 8;

describe.each(BACKENDS)('sign-in on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let bob: TestUser;
  const serverLog: string[] = [];

  beforeAll(async () => {
    c = await startTestCoordinator(
      backend,
      { COORDINATOR_SIGN_IN_MAX_FAILURES_PER_USER: String(MAX_PER_USER), COORDINATOR_SIGN_IN_MAX_FAILURES_PER_ADDRESS: String(MAX_PER_ADDRESS), COORDINATOR_SIGN_IN_LOCKOUT: '15m' },
      { logger: createLogger({ level: 'info', name: 'coordinator', write: (line) => serverLog.push(line) }) },
    );
    admin = new AdminApi(c.url, c.adminToken);
    alice = await createTestUser(admin, 'alice');
    bob = await createTestUser(admin, 'bob');
  });
  beforeEach(async () => {
    // Each test starts from no failures (the users' sign-ins above counted none). Without the table (the
    // code before the throttle) there is nothing to reset, and the tests fail where the attack succeeds.
    await c.database.db.query(`DO $$ BEGIN IF to_regclass('sign_in_failures') IS NOT NULL THEN DELETE FROM sign_in_failures; END IF; END $$`);
  });
  afterAll(async () => {
    await c?.stop();
  });

  const apiSignIn = (username: string, password: string) => new AdminApi(c.url, '').post('/api/v1/tokens', { username, password });
  /** The web UI's sign-in as a browser does it: the form (its CSRF cookie and field), then the POST. */
  const formSignIn = async (username: string, password: string) => {
    const page = await fetch(`${c.url}/sign-in`);
    const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    return fetch(`${c.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password, next: '/', _csrf: csrf }).toString(),
    });
  };

  it('reads no more than a small body from anyone at either sign-in door', async () => {
    const big = JSON.stringify({ username: 'alice', password: alice.password, note: 'x'.repeat(1024 * 1024) });
    const api = await fetch(`${c.url}/api/v1/tokens`, { method: 'POST', body: big });
    expect(api.status).toBe(413);
    const form = await fetch(`${c.url}/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'alice', password: 'x'.repeat(1024 * 1024) }).toString(),
    });
    expect(form.status).toBe(413);
    expect((await apiSignIn('alice', alice.password)).status).toBe(201);
  });

  it('refuses a password longer than 256 characters, at sign-in and when one is set', async () => {
    const long = 'p'.repeat(257);
    const res = await apiSignIn('alice', long);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ field: 'password' });
    expect((await formSignIn('alice', long)).status).toBe(400);
    expect((await admin.post('/api/v1/users', { username: 'longpass', password: long })).status).toBe(400);
    expect((await admin.put(`/api/v1/users/${alice.id}/password`, { password: long })).status).toBe(400);
    expect((await admin.post('/api/v1/users', { username: 'justright', password: 'p'.repeat(256) })).status).toBe(201);
  });

  it('locks a user name out after repeated wrong passwords, even for the right one, with Retry-After, and logs it', async () => {
    for (let i = 0; i < MAX_PER_USER; i++) expect((await apiSignIn('alice', `wrong-password-${i}`)).status).toBe(401);
    const locked = await apiSignIn('alice', alice.password);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(14 * 60);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    // The web UI's door is the same lock.
    const form = await formSignIn('alice', alice.password);
    expect(form.status).toBe(429);
    expect(form.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await form.text()).toContain('Too many wrong passwords');
    // Another user from the same address is not locked out.
    expect((await apiSignIn('bob', bob.password)).status).toBe(201);
    expect(serverLog.filter((l) => l.includes('sign-in locked out'))).toEqual([expect.stringContaining('user alice')]);

    // Once the lock-out ended, the right password works again.
    await c.database.db.query(`UPDATE sign_in_failures SET locked_until = now() - interval '1 second', first_failed_at = now() - interval '1 hour'`);
    expect((await apiSignIn('alice', alice.password)).status).toBe(201);
  });

  it('locks an address out after repeated failures across user names, unknown ones included', async () => {
    for (let i = 0; i < MAX_PER_ADDRESS; i++) {
      const res = i % 2 === 0 ? await apiSignIn(`nobody-${i}`, 'wrong-password-xyz') : await formSignIn(`ghost-${i}`, 'wrong-password-xyz');
      expect(res.status).toBe(401);
    }
    const res = await apiSignIn('bob', bob.password);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(serverLog.some((l) => l.includes('sign-in locked out') && l.includes('address 127.0.0.1'))).toBe(true);
  });

  it("forgets a user name's failures once the right password is given", async () => {
    for (let i = 0; i < MAX_PER_USER - 1; i++) expect((await apiSignIn('bob', 'wrong-password-abc')).status).toBe(401);
    expect((await apiSignIn('bob', bob.password)).status).toBe(201);
    for (let i = 0; i < MAX_PER_USER - 1; i++) expect((await apiSignIn('bob', 'wrong-password-abc')).status).toBe(401);
    expect((await apiSignIn('bob', bob.password)).status).toBe(201);
  });
});
