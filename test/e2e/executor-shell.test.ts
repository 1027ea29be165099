// bin/executor against bin/coordinator, both real processes, on the shell runtime: a job end to end,
// SIGTERM during a job (it finishes, nothing new is taken), kill -9 during a job (the coordinator resets
// it and a second executor completes it), shallow and sparse clones, a failing step, an executor secret.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi } from '../helpers/api-client.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const run = promisify(execFile);

describe('bin/executor on the shell runtime', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let work: string;
  let commit: string;
  const marker = `executor-e2e-${randomBytes(4).toString('hex')}`;
  // A fractional sleep unique to this run, so the orphan the killed executor leaves can be found.
  const longSleep = `60.${Math.floor(Math.random() * 1e6)}`;

  const executorEnv = (extra: Record<string, string> = {}) => env.executorEnv(extra);
  const state = async (id: number) => (await admin.jobWithOutput('batches', id)).json as { state: string; numResets: number; executionLogs: Array<{ key: string; out: string | null; exitCode: number | null }> };

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'shell-e2e', runtime: 'shell' });
    ({ admin, work } = env);
    const source = await createSourceRepository(path.join(work, 'source'), [
      { message: 'first', files: { 'README.md': 'hello from the repository\n', 'docs/guide.md': 'the guide\n' } },
      { message: 'second', files: { 'README.md': 'a later version\n' } },
    ]);
    commit = source.commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: 'github.com/acme/e2e', url: source.path })).status).toBe(201);
  });
  afterAll(async () => {
    await run('pkill', ['-f', `sleep ${longSleep}`]).catch(() => {});
    await env?.stop();
  });

  it('clones the repository and runs two steps that see each other\'s files, then exits after EXECUTOR_NUM_TOTAL_JOBS', async () => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/e2e',
      commit,
      dockerSteps: [
        { key: 'write', image: 'unused-on-shell', commands: ['cat README.md', 'echo from-step-one > shared.txt'] },
        { key: 'read', image: 'unused-on-shell', commands: ['cat shared.txt'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await state(id);
    expect(job.state).toBe('completed');
    const keys = job.executionLogs.map((e) => e.key);
    expect(keys).toContain('setup.git.fetch');
    const write = job.executionLogs.find((e) => e.key === 'step.docker.write')!;
    const read = job.executionLogs.find((e) => e.key === 'step.docker.read')!;
    expect(write.out).toContain('stdout: hello from the repository');
    expect(read.out).toContain('stdout: from-step-one');
    expect([write.exitCode, read.exitCode]).toEqual([0, 0]);
  });

  it.each([
    { variant: 'shallow', spec: { shallowClone: true }, listed: ['README.md', 'docs'] },
    { variant: 'sparse', spec: { sparseCheckout: ['docs/*'] }, listed: ['docs'] },
  ])('clones at a commit ($variant) for two steps that share files', async ({ spec, listed }) => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/e2e',
      commit,
      ...spec,
      dockerSteps: [
        { key: 'write', image: 'unused-on-shell', commands: ['ls', 'git rev-parse HEAD', 'echo shared > shared.txt'] },
        { key: 'read', image: 'unused-on-shell', commands: ['cat shared.txt'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await state(id);
    expect(job.state).toBe('completed');
    const out = job.executionLogs.find((e) => e.key === 'step.docker.write')!.out!;
    const files = out.split('\n').filter((l) => l.startsWith('stdout: ')).map((l) => l.slice(8));
    // At `commit` (the first), not the branch head.
    expect(files).toEqual([...listed, commit]);
    expect(job.executionLogs.find((e) => e.key === 'step.docker.read')!.out).toContain('stdout: shared');
  });

  it('errors at a failing step with its exit code in the log, and runs no later step', async () => {
    const id = await admin.enqueue('batches', {
      dockerSteps: [
        { key: 'fail', image: 'x', commands: ['echo about to fail', 'exit 3'] },
        { key: 'never', image: 'x', commands: ['echo should not run'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = (await admin.job('batches', id)).json as { state: string; failureMessage: string; executionLogs: Array<{ key: string; exitCode: number | null }> };
    // COORDINATOR_MAX_NUM_RETRIES=0: an errored job has no retry left and ends failed.
    expect(job).toMatchObject({ state: 'failed', failureMessage: 'running command "step.docker.fail": command failed with exit code 3' });
    expect(job.executionLogs.find((e) => e.key === 'step.docker.fail')!.exitCode).toBe(3);
    expect(job.executionLogs.some((e) => e.key === 'step.docker.never')).toBe(false);
  });

  it('gives a step the executor secret it asks for, and the stored log shows ${{ secrets.KEY }} instead of its value', async () => {
    const value = `secret-${randomBytes(8).toString('hex')}`;
    expect((await admin.post('/api/v1/secrets', { key: 'E2E_TOKEN', value, scope: 'batches' })).status).toBe(201);
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ key: 'use', image: 'x', commands: ['echo "token is $E2E_TOKEN"', 'test -n "$E2E_TOKEN"'], secrets: ['E2E_TOKEN'] }],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await state(id);
    expect(job.state).toBe('completed');
    expect(JSON.stringify(job)).not.toContain(value);
    expect(job.executionLogs.find((e) => e.key === 'step.docker.use')!.out).toContain('stdout: token is ${{ secrets.E2E_TOKEN }}');
  });

  it('on SIGTERM finishes the running job and takes no new one', async () => {
    const first = await admin.enqueue('batches', { dockerSteps: [{ image: 'x', commands: ['sleep 2', 'echo finished'] }] });
    const second = await admin.enqueue('batches', { dockerSteps: [{ image: 'x', commands: ['echo never'] }] });
    const executor = spawnExecutor(executorEnv());
    await waitFor('the first job to start', async () => (await state(first)).state === 'processing');
    executor.child.kill('SIGTERM');
    expect(await executor.exited, executor.log()).toBe(0);
    expect((await state(first)).state).toBe('completed');
    expect((await state(second)).state).toBe('queued');
    await admin.post(`/api/v1/queues/batches/jobs/${second}/cancel`);
  });

  it('after kill -9 of the executor mid-job, the coordinator resets the job and a second executor completes it', async () => {
    const flag = path.join(work, `${marker}-attempt`);
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ image: 'x', commands: [`if [ -f ${flag} ]; then echo second attempt; else touch ${flag}; sleep ${longSleep}; fi`] }],
    });
    const first = spawnExecutor(executorEnv());
    await waitFor('the job to start', async () => (await state(id)).state === 'processing');
    await waitFor('the step to start', async () => fs.stat(flag).then(() => true, () => false));
    first.child.kill('SIGKILL');
    await first.exited;
    await waitFor('the coordinator to reset the job', async () => (await state(id)).numResets === 1, 20_000);
    const second = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await second.exited, second.log()).toBe(0);
    const job = await state(id);
    expect(job).toMatchObject({ state: 'completed', numResets: 1 });
    expect(job.executionLogs.find((e) => e.key.startsWith('step.'))?.out).toContain('stdout: second attempt');
  });
});
