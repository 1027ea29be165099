// `executor validate` against the real coordinator (PGlite) over HTTP, with the real git on PATH.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../../test/helpers/test-coordinator.js';
import { runExecutorCli } from './main.js';
import { versionAtLeast } from './validate.js';

/** Runs `executor validate` and collects what it printed. */
async function validate(env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runExecutorCli(['validate'], env, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('executor validate', () => {
  let c: TestCoordinator;
  let unconfigured: TestCoordinator;

  beforeAll(async () => {
    c = await startTestCoordinator('pglite');
    // '' counts as unset for the coordinator (config.ts), so its executor API answers 500.
    unconfigured = await startTestCoordinator('pglite', { COORDINATOR_EXECUTORS_ACCESS_TOKEN: '' });
  });
  afterAll(async () => {
    await c?.stop();
    await unconfigured?.stop();
  });

  const env = (extra: Record<string, string> = {}) => ({
    EXECUTOR_FRONTEND_URL: c.url,
    EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
    EXECUTOR_QUEUE_NAME: 'batches',
    EXECUTOR_RUNTIME: 'shell',
    ...extra,
  });

  it('passes every check with the right password on the shell runtime', async () => {
    const { code, out, err } = await validate(env());
    expect(err).toBe('');
    expect(out).toMatch(/^ok {4}config: /m);
    expect(out).toMatch(/^ok {4}git: git \d+\.\d+/m);
    expect(out).toMatch(/^ok {4}runtime shell: /m);
    expect(out).toContain(`ok    coordinator: ${c.url} accepted EXECUTOR_FRONTEND_PASSWORD`);
    expect(out.trimEnd().split('\n').at(-1)).toBe('All checks passed!');
    expect(code).toBe(0);
  });

  it('fails with a wrong password and says it must equal executors.accessToken', async () => {
    const { code, out, err } = await validate(env({ EXECUTOR_FRONTEND_PASSWORD: 'not-the-token-' + 'x'.repeat(20) }));
    expect(code).toBe(1);
    expect(out).not.toContain('All checks passed!');
    expect(out).toMatch(/^FAIL {2}coordinator: .*HTTP 401/m);
    expect(err).toContain(
      "the coordinator refused EXECUTOR_FRONTEND_PASSWORD: check that it equals executors.accessToken in the coordinator's site settings (COORDINATOR_EXECUTORS_ACCESS_TOKEN)",
    );
  });

  it('says the coordinator has no executors.accessToken when its executor API is not configured', async () => {
    const { code, err } = await validate(env({ EXECUTOR_FRONTEND_URL: unconfigured.url }));
    expect(code).toBe(1);
    expect(err).toContain('Executors are not configured on this instance');
    expect(err).toContain('the coordinator has no executors.accessToken set');
  });

  it('names the URL and the network error when the coordinator cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, err } = await validate(env({ EXECUTOR_FRONTEND_URL: url }));
    expect(code).toBe(1);
    expect(err).toContain(`cannot reach the coordinator at ${url}`);
    expect(err).toContain('ECONNREFUSED');
  });

  it('fails a runtime that is not built yet and says so', async () => {
    const { code, out, err } = await validate(env({ EXECUTOR_RUNTIME: 'vm' }));
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL {2}runtime vm: the vm runtime is not built yet/m);
    expect(err).toContain('EXECUTOR_RUNTIME=shell');
  });

  it('lists the configuration problems and exits 2 as run does', async () => {
    const { code, err } = await validate({ EXECUTOR_FRONTEND_URL: 'ftp://example.com', EXECUTOR_RUNTIME: 'shell' });
    expect(code).toBe(2);
    expect(err).toContain('EXECUTOR_FRONTEND_URL');
    expect(err).toContain('EXECUTOR_QUEUE_NAME');
  });
});

describe('versionAtLeast', () => {
  it('compares versions part by part, numerically', () => {
    expect(versionAtLeast('2.26.0', [2, 26])).toBe(true);
    expect(versionAtLeast('2.39.5', [2, 26])).toBe(true);
    expect(versionAtLeast('3.0', [2, 26])).toBe(true);
    expect(versionAtLeast('2.25.9', [2, 26])).toBe(false);
    expect(versionAtLeast('2.3', [2, 26])).toBe(false);
    expect(versionAtLeast('1.99', [2, 26])).toBe(false);
  });
});
