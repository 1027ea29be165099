// bin/coordinator as a user starts it: the embedded database in the data directory, kept across
// restarts; `coordinator migrate`; configuration errors listed before anything starts; the executor
// API without executors.accessToken.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../helpers/api-client.js';
import { COORDINATOR_BIN, spawnCoordinator } from '../helpers/coordinator-process.js';

const run = promisify(execFile);

describe('bin/coordinator with the embedded database', () => {
  let dataDir: string;
  const adminToken = randomBytes(16).toString('hex');

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-embedded-'));
  });
  afterAll(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  // A first start and a restart of PGlite (seconds alone, far more on a loaded machine): as long as its own waits.
  it('keeps jobs in the data directory across a restart, and answers 500 to executors while no access token is set', { timeout: 240_000 }, async () => {
    const env = { COORDINATOR_DATA_DIR: dataDir, COORDINATOR_ADMIN_TOKEN: adminToken };
    const first = await spawnCoordinator(env, 120_000);
    const id = await new AdminApi(first.url, adminToken).enqueue('batches');
    const notConfigured = await fetch(`${first.url}/.executors/test/auth`, { headers: { authorization: 'token-executor whatever-whatever-whatever' } });
    expect(notConfigured.status).toBe(500);
    expect(await notConfigured.text()).toBe('Executors are not configured on this instance');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await spawnCoordinator(env, 120_000);
    const job = await new AdminApi(second.url, adminToken).job('batches', id);
    expect(job.json).toMatchObject({ id, state: 'queued' });
    // PGlite is one process's: a command on the same data directory is refused while serve runs.
    const refused = await run(COORDINATOR_BIN, ['create-user', 'ops'], { env: { ...process.env, ...env } }).catch((err: { stderr: string; code: number }) => err);
    expect('code' in refused && refused.code).toBe(1);
    expect(refused.stderr).toContain(`is open in another coordinator process (pid ${second.child.pid}`);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const migrate = await run(COORDINATOR_BIN, ['migrate'], { env: { ...process.env, ...env } });
    expect(migrate.stderr).toContain('database already up to date');
  });

  it('lists every configuration problem and exits 2 before starting', async () => {
    const result = await run(COORDINATOR_BIN, ['serve'], {
      env: { PATH: process.env.PATH, COORDINATOR_EXECUTORS_ACCESS_TOKEN: 'too-short', COORDINATOR_ADDR: 'localhost', COORDINATOR_STALLED_JOB_MAX_AGE: '10' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('COORDINATOR_EXECUTORS_ACCESS_TOKEN: must be at least 20 characters');
    expect(result.stderr).toContain('COORDINATOR_ADDR');
    expect(result.stderr).toContain('COORDINATOR_STALLED_JOB_MAX_AGE');
  });
});
