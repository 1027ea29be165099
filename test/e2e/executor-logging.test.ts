// What an operator sees of bin/executor (a real process against bin/coordinator): at the default level a
// start line, the connection, each job taken and finished, each shutdown step; JSON lines with
// SRC_LOG_FORMAT=json; an unreachable coordinator reported at once; and the errors that cannot heal (an
// unknown queue, a server that is not a coordinator, https:// against plain HTTP, a wrong password)
// stop it with a message that names the fix.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInfo } from '../../src/shared/build-info.js';
import type { AdminApi } from '../helpers/api-client.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor, type ExecutorProcess } from '../helpers/executor-process.js';

/** Lines of the executor's log that carry `message` (condensed format). */
const linesWith = (executor: ExecutorProcess, message: string) => executor.log().split('\n').filter((l) => l.includes(`[executor] ${message}`));

async function waitForLine(executor: ExecutorProcess, message: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(`the executor to log "${message}"`, async () => linesWith(executor, message)[0], timeoutMs).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; its log:\n${executor.log()}`);
  });
}

/** Resolves with the exit code, or fails with the log when the executor does not exit in time. */
async function exitCodeOf(executor: ExecutorProcess, timeoutMs = 30_000): Promise<number | null> {
  const code = await Promise.race([executor.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), timeoutMs))]);
  if (code === 'running') {
    executor.child.kill('SIGKILL');
    throw new Error(`the executor did not exit within ${timeoutMs} ms:\n${executor.log()}`);
  }
  return code;
}

/** A closed port: bound, then released. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('what bin/executor says', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  const started: ExecutorProcess[] = [];
  const spawn = (extra: Record<string, string>) => {
    const executor = spawnExecutor(env.executorEnv(extra));
    started.push(executor);
    return executor;
  };

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'logging-e2e', runtime: 'shell' });
    admin = env.admin;
  });
  afterAll(async () => {
    for (const executor of started) executor.child.kill('SIGKILL');
    await env?.stop();
  });

  it('logs at the default level its start, the connection, each job taken and finished, and each shutdown step', async () => {
    const quick = await admin.enqueue('batches', { dockerSteps: [{ key: 'hello', image: 'x', commands: ['echo hello'] }] });
    const slow = await admin.enqueue('batches', { dockerSteps: [{ key: 'wait', image: 'x', commands: ['sleep 120'] }] });
    const executor = spawn({});
    const start = await waitForLine(executor, 'executor started');
    expect(start).toContain(`version=${buildInfo().version}`);
    for (const field of ['runtime=shell', 'queues=batches', `coordinator=${env.coordinator.url}`, 'slots=1', 'jobCpus="not limited (shell runtime)"', 'maximumRuntimePerJob=30m']) {
      expect(start).toContain(field);
    }
    expect(await waitForLine(executor, 'connected to the coordinator')).toContain(`url=${env.coordinator.url}`);
    expect(await waitForLine(executor, `job finished jobId=${quick}`)).toMatch(new RegExp(`jobId=${quick} queue=batches outcome=completed duration=\\d+\\.\\ds`));
    expect(linesWith(executor, `job taken jobId=${quick}`)).toHaveLength(1);
    await waitForLine(executor, `job taken jobId=${slow}`);

    executor.child.kill('SIGTERM');
    await waitForLine(executor, 'draining: no new jobs; waiting for 1 running job to finish');
    executor.child.kill('SIGTERM');
    await waitForLine(executor, 'canceling 1 running job');
    expect(await exitCodeOf(executor)).toBe(0);
    expect(linesWith(executor, `job finished jobId=${slow}`)[0]).toContain('outcome=errored');
    expect(linesWith(executor, 'executor exited')[0]).toContain('code=0');
    // In order: start, connection, jobs, drain, cancel, exit.
    const order = ['executor started', 'connected to the coordinator', `job taken jobId=${quick}`, `job finished jobId=${quick}`, 'draining', 'canceling', `job finished jobId=${slow}`, 'executor exited'];
    const at = order.map((m) => executor.log().indexOf(`[executor] ${m}`));
    expect(at.every((position, i) => position >= 0 && (i === 0 || position > at[i - 1]!)), `${JSON.stringify(at)}\n${executor.log()}`).toBe(true);
  });

  it('writes one JSON object a line with SRC_LOG_FORMAT=json', async () => {
    await admin.enqueue('batches', { dockerSteps: [{ key: 'hello', image: 'x', commands: ['echo hello'] }] });
    const executor = spawn({ SRC_LOG_FORMAT: 'json', EXECUTOR_NUM_TOTAL_JOBS: '1' });
    expect(await exitCodeOf(executor)).toBe(0);
    const lines = executor.log().split('\n').filter(Boolean);
    const parsed = lines.map((l) => JSON.parse(l) as { Timestamp: string; SeverityText: string; InstrumentationScope: string; Body: string; Attributes: Record<string, unknown> });
    expect(parsed.every((l) => l.InstrumentationScope === 'executor' && typeof l.Timestamp === 'string')).toBe(true);
    expect(parsed.find((l) => l.Body === 'executor started')?.Attributes).toMatchObject({ runtime: 'shell', queues: 'batches', slots: 1 });
    expect(parsed.find((l) => l.Body === 'job finished')?.Attributes).toMatchObject({ queue: 'batches', outcome: 'completed' });
  });

  it('reports an unreachable coordinator at once, with the address and the reason', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const executor = spawn({ EXECUTOR_FRONTEND_URL: url });
    const warning = await waitForLine(executor, 'cannot reach the coordinator');
    expect(warning).toContain(`url=${url}`);
    expect(warning).toContain('ECONNREFUSED');
    // Reported at the first failed attempt: it is the first warning about the coordinator.
    expect(executor.log().split('\n').find((l) => l.includes(' WARN ') && l.includes('coordinator'))).toBe(warning);
    executor.child.kill('SIGTERM');
    expect(await exitCodeOf(executor)).toBe(0);
  });

  it('stops with a message naming the variable when the coordinator serves no such queue', async () => {
    const executor = spawn({ EXECUTOR_QUEUE_NAME: 'nosuchqueue' });
    expect(await exitCodeOf(executor)).toBe(1);
    expect(executor.log()).toContain(`executor: the coordinator at ${env.coordinator.url} does not serve queue "nosuchqueue"`);
    expect(executor.log()).toContain('check EXECUTOR_QUEUE_NAME');
  });

  it('stops saying so when the URL answers with a web page, without printing the page', async () => {
    const page = '<!doctype html><html><body>the-page-itself</body></html>';
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const executor = spawn({ EXECUTOR_FRONTEND_URL: url });
      expect(await exitCodeOf(executor)).toBe(1);
      expect(executor.log()).toContain(`executor: EXECUTOR_FRONTEND_URL=${url} is not a coordinator's executor API: POST /.executors/queue/batches/heartbeat was answered with an HTML page (HTTP 200)`);
      expect(executor.log()).not.toContain('the-page-itself');
    } finally {
      server.close();
    }
  });

  it('stops saying "use http://" when EXECUTOR_FRONTEND_URL says https:// to a plain-HTTP coordinator', async () => {
    const https = env.coordinator.url.replace(/^http:/, 'https:');
    const executor = spawn({ EXECUTOR_FRONTEND_URL: https });
    expect(await exitCodeOf(executor)).toBe(1);
    expect(executor.log()).toContain(`executor: the server at ${https} speaks plain HTTP: use http:// (EXECUTOR_FRONTEND_URL=${env.coordinator.url})`);
  });

  it('stops on a wrong password with what the coordinator said was wrong', async () => {
    const executor = spawn({ EXECUTOR_FRONTEND_PASSWORD: 'not-the-executors-access-token' });
    expect(await exitCodeOf(executor)).toBe(1);
    expect(executor.log()).toContain('executor: the coordinator refused EXECUTOR_FRONTEND_PASSWORD: check that it equals the site setting executors.accessToken');
    expect(executor.log()).toContain('HTTP 401: the token-executor token does not match the site setting executors.accessToken');
  });
});
