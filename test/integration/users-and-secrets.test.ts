// Users, organizations and executor secrets through the admin API on a real coordinator (PGlite and
// PostgreSQL): who may manage which secrets, that values never come back out (responses, the server's
// log, the database), that values are encrypted at rest, the access log, and secrets in jobs (env,
// redactedValues, DOCKER_AUTH_CONFIG, namespaced over global, a missing secret refused by name).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/shared/logger.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

describe.each(BACKENDS)('users and executor secrets on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: AdminApi;
  let bob: AdminApi;
  let aliceId: number;
  let bobId: number;
  let orgId: number;
  const serverLog: string[] = [];
  /** Every value written in this file: none may appear in a response, the log or the database's plain columns. */
  const values: string[] = [];
  const secretValue = (label: string) => {
    const value = `${label}-${randomBytes(12).toString('hex')}`;
    values.push(value);
    return value;
  };
  const executor = () => new ExecutorApi(c.url, c.executorToken, `secrets-${backend}-${randomBytes(3).toString('hex')}`);

  beforeAll(async () => {
    c = await startTestCoordinator(backend, {}, { logger: createLogger({ level: 'debug', name: 'coordinator', write: (line) => serverLog.push(line) }) });
    admin = new AdminApi(c.url, c.adminToken);
    const users: Record<string, { id: number; token: string }> = {};
    for (const name of ['alice', 'bob']) {
      const created = await admin.post('/api/v1/users', { username: name, password: `${name}-correct-horse-battery` });
      expect(created.status).toBe(201);
      const login = await new AdminApi(c.url, '').post('/api/v1/tokens', { username: name, password: `${name}-correct-horse-battery` });
      expect(login.status).toBe(201);
      users[name] = { id: created.json.id, token: login.json.token };
    }
    alice = new AdminApi(c.url, users.alice!.token);
    bob = new AdminApi(c.url, users.bob!.token);
    aliceId = users.alice!.id;
    bobId = users.bob!.id;
    const org = await alice.post('/api/v1/orgs', { name: `acme-${backend}` });
    expect(org.status).toBe(201);
    orgId = org.json.id;
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('signs in with a password for a token, refuses a wrong one, and stores only hashes', async () => {
    const anonymous = new AdminApi(c.url, '');
    expect((await anonymous.post('/api/v1/tokens', { username: 'alice', password: 'wrong-password-123' })).status).toBe(401);
    expect((await anonymous.post('/api/v1/tokens', { username: 'nobody', password: 'wrong-password-123' })).status).toBe(401);
    expect((await alice.get('/api/v1/users/me')).json).toMatchObject({ username: 'alice', siteAdmin: false, hasPassword: true });
    const rows = await c.database.db.query<{ passwordHash: string }>(`SELECT password_hash AS "passwordHash" FROM users WHERE username = 'alice'`);
    expect(rows[0]!.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(rows[0]!.passwordHash).not.toContain('alice-correct-horse-battery');
    const tokens = await c.database.db.query<{ hash: Buffer }>(`SELECT token_sha256 AS hash FROM access_tokens WHERE user_id = $1`, [aliceId]);
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.every((t) => t.hash.length === 32)).toBe(true);
    // Only site admins manage users; a plain user cannot list or create them.
    expect((await alice.get('/api/v1/users')).status).toBe(403);
    expect((await alice.post('/api/v1/users', { username: 'mallory' })).status).toBe(403);
    expect((await new AdminApi(c.url, 'exe_' + '0'.repeat(64)).get('/api/v1/users/me')).status).toBe(401);
  });

  it('lets only site admins manage global secrets, users their own, and members their organization\'s', async () => {
    const global = secretValue('global');
    expect((await alice.post('/api/v1/secrets', { key: 'GLOBAL_TOKEN', value: global, scope: 'batches' })).status).toBe(403);
    const created = await admin.post('/api/v1/secrets', { key: 'GLOBAL_TOKEN', value: global, scope: 'batches' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ key: 'GLOBAL_TOKEN', scope: 'batches', namespace: { type: 'global' } });

    const mine = await alice.post(`/api/v1/users/${aliceId}/secrets`, { key: 'API_TOKEN', value: secretValue('alice'), scope: 'batches' });
    expect(mine.status).toBe(201);
    // Bob can neither write into, list, update, delete nor read the access log of Alice's namespace.
    expect((await bob.post(`/api/v1/users/${aliceId}/secrets`, { key: 'X', value: secretValue('bob'), scope: 'batches' })).status).toBe(404);
    expect((await bob.get(`/api/v1/users/${aliceId}/secrets`)).status).toBe(404);
    expect((await bob.put(`/api/v1/secrets/${mine.json.id}`, { value: secretValue('bob') })).status).toBe(404);
    expect((await bob.delete(`/api/v1/secrets/${mine.json.id}`)).status).toBe(404);
    expect((await bob.get(`/api/v1/secrets/${mine.json.id}/access-logs`)).status).toBe(404);
    // Nor can a site admin use Alice's namespace: secrets are their owners'.
    expect((await admin.get(`/api/v1/users/${aliceId}/secrets`)).status).toBe(404);

    const orgSecret = await alice.post(`/api/v1/orgs/${orgId}/secrets`, { key: 'ORG_TOKEN', value: secretValue('org'), scope: 'batches' });
    expect(orgSecret.status).toBe(201);
    expect((await bob.get(`/api/v1/orgs/${orgId}/secrets`)).status).toBe(404);
    expect((await alice.post(`/api/v1/orgs/${orgId}/members`, { username: 'bob' })).status).toBe(204);
    const listed = await bob.get(`/api/v1/orgs/${orgId}/secrets`);
    expect(listed.status).toBe(200);
    expect(listed.json.secrets.map((s: { key: string }) => s.key)).toEqual(['ORG_TOKEN']);
    expect((await alice.delete(`/api/v1/orgs/${orgId}/members/${bobId}`)).status).toBe(204);
    expect((await bob.get(`/api/v1/orgs/${orgId}/secrets`)).status).toBe(404);

    // Updating changes the value (proven by a job below), and the answer still has no value.
    const updated = await alice.put(`/api/v1/secrets/${mine.json.id}`, { value: secretValue('alice-updated') });
    expect(updated.status).toBe(200);
    expect(Object.keys(updated.json).sort()).toEqual(['createdAt', 'creatorId', 'id', 'key', 'namespace', 'scope', 'updatedAt']);
    expect((await alice.post(`/api/v1/users/${aliceId}/secrets`, { key: 'API_TOKEN', value: secretValue('dup'), scope: 'batches' })).status).toBe(409);
    expect((await alice.post(`/api/v1/users/${aliceId}/secrets`, { key: 'not valid', value: 'x', scope: 'batches' })).status).toBe(400);
    expect((await alice.post(`/api/v1/users/${aliceId}/secrets`, { key: 'CI', value: secretValue('ci'), scope: 'codeintel' })).status).toBe(400);
  });

  it('encrypts values at rest with AES-256-GCM under the key file\'s key', async () => {
    const rows = await c.database.db.query<{ value: Buffer; keyId: string }>(`SELECT value, encryption_key_id AS "keyId" FROM executor_secrets`);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      const stored = row.value.toString('latin1');
      for (const v of values) expect(stored).not.toContain(v);
      expect(row.keyId).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it('puts the secrets a step asks for into its env and redactedValues, the user\'s over the global one, and logs each read', async () => {
    const shared = secretValue('alice-shared');
    await admin.post('/api/v1/secrets', { key: 'SHARED', value: secretValue('global-shared'), scope: 'batches' });
    await alice.post(`/api/v1/users/${aliceId}/secrets`, { key: 'SHARED', value: shared, scope: 'batches' });
    const enqueued = await alice.post('/api/v1/queues/batches/jobs', {
      dockerSteps: [
        { image: 'alpine', commands: ['true'], secrets: ['SHARED', 'GLOBAL_TOKEN'], env: ['PLAIN=1'] },
        { image: 'alpine', commands: ['true'] },
      ],
    });
    expect(enqueued.status).toBe(201);
    // The stored job holds names, never values.
    const stored = await c.database.db.query<{ spec: unknown; refs: unknown }>(`SELECT spec, secret_refs AS refs FROM jobs WHERE id = $1`, [enqueued.json.id]);
    expect(JSON.stringify(stored[0])).not.toContain(shared);

    const e = executor();
    await e.heartbeat('batches');
    const job = (await e.dequeue('batches')).json;
    expect(job.id).toBe(enqueued.json.id);
    const globalToken = values[0]!;
    expect(job.dockerSteps[0]!.env).toEqual(['PLAIN=1', `SHARED=${shared}`, `GLOBAL_TOKEN=${globalToken}`]);
    expect(job.dockerSteps[1]!.env ?? []).toEqual([]);
    expect(job.redactedValues).toMatchObject({ [shared]: '${{ secrets.SHARED }}', [globalToken]: '${{ secrets.GLOBAL_TOKEN }}' });
    await e.markComplete('batches', job);

    const mine = (await alice.get(`/api/v1/users/${aliceId}/secrets`)).json.secrets.find((s: { key: string }) => s.key === 'SHARED');
    const logs = (await alice.get(`/api/v1/secrets/${mine.id}/access-logs`)).json.accessLogs;
    expect(logs).toEqual([expect.objectContaining({ userId: aliceId, machineUser: null, jobId: job.id })]);
    const globalSecret = (await admin.get('/api/v1/secrets')).json.secrets.find((s: { key: string }) => s.key === 'GLOBAL_TOKEN');
    expect((await admin.get(`/api/v1/secrets/${globalSecret.id}/access-logs`)).json.accessLogs).toHaveLength(1);
  });

  it('refuses a job that names a missing secret or one of someone else\'s, naming it, and an organization the user is not in', async () => {
    const missing = await alice.post('/api/v1/queues/batches/jobs', { dockerSteps: [{ image: 'alpine', commands: ['true'], secrets: ['NOPE', 'API_TOKEN'] }] });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe("no executor secret named NOPE as batches secrets in the job's namespace or globally");
    // Alice's API_TOKEN is hers: Bob's job cannot use it.
    const others = await bob.post('/api/v1/queues/batches/jobs', { dockerSteps: [{ image: 'alpine', commands: ['true'], secrets: ['API_TOKEN'] }] });
    expect(others.status).toBe(400);
    expect(others.json.error).toContain('API_TOKEN');
    const org = await bob.post('/api/v1/queues/batches/jobs', { namespace: { org: `acme-${backend}` }, dockerSteps: [{ image: 'alpine', commands: ['true'], secrets: ['ORG_TOKEN'] }] });
    expect(org.status).toBe(403);
    const inOrg = await alice.post('/api/v1/queues/batches/jobs', { namespace: { org: `acme-${backend}` }, dockerSteps: [{ image: 'alpine', commands: ['true'], secrets: ['ORG_TOKEN'] }] });
    expect(inOrg.status).toBe(201);
    expect((await bob.post('/api/v1/queues/codeintel/jobs', {})).status).toBe(403);
    await admin.post(`/api/v1/queues/batches/jobs/${inOrg.json.id}/cancel`);
  });

  it('turns DOCKER_AUTH_CONFIG into the v2 payload\'s dockerAuthConfig, not an env variable, and fails a job whose secret was deleted', async () => {
    const auth = Buffer.from(`robot:${secretValue('registry-password')}`).toString('base64');
    values.push(auth);
    const config = JSON.stringify({ auths: { 'registry.example:5000': { auth } } });
    const created = await bob.post(`/api/v1/users/${bobId}/secrets`, { key: 'DOCKER_AUTH_CONFIG', value: config, scope: 'batches' });
    expect(created.status).toBe(201);
    const withAuth = await bob.post('/api/v1/queues/batches/jobs', { dockerSteps: [{ image: 'registry.example:5000/private:1', commands: ['true'] }] });
    const e = executor();
    await e.heartbeat('batches');
    const job = (await e.dequeue('batches')).json;
    expect(job.id).toBe(withAuth.json.id);
    expect(job.dockerAuthConfig).toEqual({ auths: { 'registry.example:5000': { auth } } });
    expect(job.dockerSteps[0]!.env ?? []).toEqual([]);
    expect(job.redactedValues[config]).toBe('${{ secrets.DOCKER_AUTH_CONFIG }}');
    await e.markComplete('batches', job);
    // A v1 executor (older than 4.3) gets no dockerAuthConfig (reference §3.2).
    const again = await bob.post('/api/v1/queues/batches/jobs', { dockerSteps: [{ image: 'alpine', commands: ['true'] }] });
    const old = new ExecutorApi(c.url, c.executorToken, `secrets-old-${backend}`, '4.2.0');
    await old.heartbeat('batches');
    const oldJob = (await old.dequeue('batches')).json;
    expect(oldJob.id).toBe(again.json.id);
    expect(oldJob.dockerAuthConfig).toBeUndefined();
    await old.markComplete('batches', oldJob);

    // Deleted between enqueue and dequeue: the job fails with a message naming the secret.
    const doomed = await bob.post('/api/v1/queues/batches/jobs', { dockerSteps: [{ image: 'alpine', commands: ['true'] }] });
    expect((await bob.delete(`/api/v1/secrets/${created.json.id}`)).status).toBe(204);
    const none = await e.dequeue('batches');
    expect(none.status).toBe(204);
    const failed = (await admin.job('batches', doomed.json.id)).json;
    expect(failed).toMatchObject({ state: 'failed', failureMessage: 'executor secret DOCKER_AUTH_CONFIG was deleted after the job was queued' });
  });

  it('reads codeintel secrets from the global namespace only, logged as the machine user codeintel-autoindexing', async () => {
    const value = secretValue('codeintel');
    const created = await admin.post('/api/v1/secrets', { key: 'INDEXER_TOKEN', value, scope: 'codeintel' });
    expect(created.status).toBe(201);
    // A batches secret of the same key is not a codeintel secret.
    expect((await admin.post('/api/v1/queues/codeintel/jobs', { dockerSteps: [{ image: 'indexer', commands: ['true'], secrets: ['GLOBAL_TOKEN'] }] })).status).toBe(400);
    const enqueued = await admin.post('/api/v1/queues/codeintel/jobs', { dockerSteps: [{ image: 'indexer', commands: ['true'], secrets: ['INDEXER_TOKEN'] }] });
    expect(enqueued.status).toBe(201);
    const e = executor();
    await e.heartbeat('codeintel');
    const job = (await e.dequeue('codeintel')).json;
    expect(job.dockerSteps[0]!.env).toEqual([`INDEXER_TOKEN=${value}`]);
    await e.markComplete('codeintel', job);
    const logs = (await admin.get(`/api/v1/secrets/${created.json.id}/access-logs`)).json.accessLogs;
    expect(logs).toEqual([expect.objectContaining({ userId: null, machineUser: 'codeintel-autoindexing', jobId: job.id })]);
  });

  it('never shows a value: not in API responses, not in the coordinator\'s log', async () => {
    const responses = [
      await admin.get('/api/v1/secrets'),
      await alice.get(`/api/v1/users/${aliceId}/secrets`),
      await alice.get(`/api/v1/orgs/${orgId}/secrets`),
      await bob.get(`/api/v1/users/${bobId}/secrets`),
      await admin.get('/api/v1/queues/batches/jobs'),
    ];
    for (const res of responses) {
      expect(res.status).toBe(200);
      for (const v of values) expect(res.text).not.toContain(v);
    }
    const log = serverLog.join('\n');
    expect(log.length).toBeGreaterThan(0);
    for (const v of values) expect(log).not.toContain(v);
  });
});
