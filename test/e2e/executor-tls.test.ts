// bin/executor against bin/coordinator serving HTTPS (COORDINATOR_TLS_CERT_FILE / _KEY_FILE) with a
// certificate from a CA the test made. With that CA in none of the places the executor searches, it stops
// with an error naming the TLS problem and the places; with the CA in one of them (SSL_CERT_DIR, as for
// Go), a job clones its repository through the executor's git proxy and completes, all over HTTPS.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordinatorProcess } from '../helpers/coordinator-process.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { createTestCa, type TestCa } from '../helpers/test-ca.js';

const run = promisify(execFile);

describe('bin/executor and bin/coordinator over HTTPS with a private CA', () => {
  let e2e: E2eEnvironment;
  let coordinator: CoordinatorProcess;
  let work: string;
  let caDir: string;
  let ca: TestCa;
  let caPem: Buffer;
  let commit: string;

  /** An admin API call over HTTPS, trusting the test's CA. */
  const admin = (method: string, urlPath: string, body?: unknown) =>
    new Promise<{ status: number; json: any }>((resolve, reject) => { // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read fields freely
      const req = https.request(new URL(urlPath, coordinator.url), { method, ca: caPem, headers: { authorization: `Bearer ${e2e.adminToken}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const executorEnv = (extra: Record<string, string>) => e2e.executorEnv(extra);

  beforeAll(async () => {
    caDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-tls-ca-'));
    ca = await createTestCa(caDir);
    caPem = await fs.readFile(ca.caCertFile);
    e2e = await startE2eEnvironment({
      name: 'tls-e2e',
      runtime: 'shell',
      coordinatorEnv: { COORDINATOR_TLS_CERT_FILE: ca.serverCertFile, COORDINATOR_TLS_KEY_FILE: ca.serverKeyFile },
    });
    ({ coordinator, work } = e2e);
    expect(coordinator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const source = await createSourceRepository(path.join(work, 'source'), [{ message: 'first', files: { 'README.md': 'cloned over https\n' } }]);
    commit = source.commits[0]!;
    expect((await admin('POST', '/api/v1/repositories', { name: 'github.com/acme/tls', url: source.path })).status).toBe(201);
  });
  afterAll(async () => {
    await e2e?.stop();
    if (caDir) await fs.rm(caDir, { recursive: true, force: true });
  });

  it('without the CA in any searched place, run and validate stop with the TLS problem and the places searched', async () => {
    const emptyDir = path.join(work, 'no-certs');
    await fs.mkdir(emptyDir);
    const env = executorEnv({ SSL_CERT_FILE: path.join(work, 'missing.pem'), SSL_CERT_DIR: emptyDir });
    const executor = spawnExecutor(env);
    expect(await executor.exited, executor.log()).toBe(1);
    const log = executor.log();
    expect(log).toContain(`TLS with the coordinator at ${coordinator.url} failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE`);
    expect(log).toContain(`searched ${path.join(work, 'missing.pem')}, ${emptyDir}`);

    // With the system places (no SSL_CERT_*), the message lists the seed's table.
    const system = spawnExecutor(executorEnv({}));
    expect(await system.exited, system.log()).toBe(1);
    expect(system.log()).toContain('searched /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt');

    const validate: { stdout: string; code?: number } = await run(path.join(process.cwd(), 'bin/executor'), ['validate'], { env: { PATH: process.env.PATH ?? '', ...env } }).catch(
      (err: { stdout: string; code: number }) => err,
    );
    expect(validate.code).toBe(1);
    expect(validate.stdout).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('with the CA in a searched directory, a job clones through the git proxy and completes over HTTPS', async () => {
    const certsDir = path.join(work, 'certs');
    await fs.mkdir(certsDir);
    await fs.copyFile(ca.caCertFile, path.join(certsDir, 'private-ca.crt'));
    const enqueued = await admin('POST', '/api/v1/queues/batches/jobs', {
      repositoryName: 'github.com/acme/tls',
      commit,
      dockerSteps: [{ key: 'read', image: 'unused-on-shell', commands: ['cat README.md'] }],
    });
    expect(enqueued.status).toBe(201);
    const executor = spawnExecutor(executorEnv({ SSL_CERT_DIR: certsDir, SSL_CERT_FILE: path.join(work, 'missing.pem'), EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = (await admin('GET', `/api/v1/queues/batches/jobs/${enqueued.json.id}`)).json;
    expect(job.state, JSON.stringify(job)).toBe('completed');
    expect(job.executionLogs.map((e: { key: string }) => e.key)).toContain('setup.git.fetch');
    const read = job.executionLogs.find((e: { key: string }) => e.key === 'step.docker.read');
    // The job view leaves outputs out: they are paged by …/logs/{entryId}.
    const page = (await admin('GET', `/api/v1/queues/batches/jobs/${enqueued.json.id}/logs/${read.entryId}`)).json;
    expect(page.out).toContain('stdout: cloned over https');
  });
});
