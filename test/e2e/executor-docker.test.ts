// bin/executor against bin/coordinator, both real processes, on the docker runtime with a real docker
// daemon and an image built here by `docker import`: a shallow and a sparse clone at a commit with two
// steps that share files, a failing step, the runtime limit, a cancel, redaction of a secret printed one
// byte at a time, and kill -9 of the executor (its container removed by the next one, the job reset and
// completed).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_LABEL } from '../../src/executor/runtimes/docker/container-labels.js';
import type { AdminApi } from '../helpers/api-client.js';
import { BUSYBOX_IMAGE, containersLabelled, dockerTestsEnabled, ensureBusyboxImage } from '../helpers/docker.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const run = promisify(execFile);

interface JobView {
  state: string;
  failureMessage: string | null;
  numResets: number;
  executionLogs: Array<{ key: string; command: string[]; out: string | null; exitCode: number | null }>;
}

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, and never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('bin/executor on the docker runtime', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let work: string;
  let firstCommit: string;

  const executorEnv = (extra: Record<string, string> = {}) => env.executorEnv({ EXECUTOR_JOB_NUM_CPUS: '1', EXECUTOR_JOB_MEMORY: '256m', ...extra });
  const view = async (id: number) => (await admin.jobWithOutput('batches', id)).json as JobView;
  const entry = (job: JobView, key: string) => {
    const found = job.executionLogs.find((e) => e.key === key);
    if (!found) throw new Error(`no log entry ${key} in ${job.executionLogs.map((e) => e.key).join(', ')}`);
    return found;
  };

  beforeAll(async () => {
    await ensureBusyboxImage();
    env = await startE2eEnvironment({ name: 'docker-e2e', runtime: 'docker' });
    ({ admin, work } = env);
    const source = await createSourceRepository(path.join(work, 'source'), [
      { message: 'first', files: { 'keep/README.md': 'kept by the sparse checkout\n', 'skip/big.txt': 'left out by the sparse checkout\n', 'top.txt': 'first version\n' } },
      { message: 'second', files: { 'top.txt': 'second version\n' } },
    ]);
    firstCommit = source.commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: 'github.com/acme/docker-e2e', url: source.path })).status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await env?.stop();
  });

  it.each([
    { variant: 'shallow', spec: { shallowClone: true }, sees: ['keep', 'skip', 'top.txt'], top: 'stdout: first version' },
    { variant: 'sparse', spec: { sparseCheckout: ['keep/*'] }, sees: ['keep'], top: 'stdout: no top.txt' },
  ])('clones at a commit ($variant) and runs two docker steps that see each other\'s files', async ({ spec, sees, top }) => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/docker-e2e',
      commit: firstCommit,
      ...spec,
      dockerSteps: [
        { key: 'write', image: BUSYBOX_IMAGE, commands: ['cat top.txt || echo no top.txt', 'cat keep/README.md', 'ls', 'echo "written by $WHO" > shared.txt'], env: ['WHO=step-one'] },
        { key: 'read', image: BUSYBOX_IMAGE, dir: 'keep', commands: ['pwd', 'cat ../shared.txt', 'git --version || echo no-git-in-this-image'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state, JSON.stringify(job)).toBe('completed');
    const write = entry(job, 'step.docker.write');
    // The first commit's content: checked out at `commit`, not at the branch head.
    expect(write.out).toContain(top);
    expect(write.out).toContain('stdout: kept by the sparse checkout');
    const listed = write.out!.split('\n').filter((l) => l.startsWith('stdout: ')).map((l) => l.slice(8)).filter((n) => !['first version', 'no top.txt', 'kept by the sparse checkout'].includes(n));
    expect(listed.sort()).toEqual(sees);
    expect(write.command.slice(0, 3)).toEqual(['docker', 'run', '--rm']);
    expect(write.command).toContain(BUSYBOX_IMAGE);
    const read = entry(job, 'step.docker.read');
    expect(read.out).toContain('stdout: /data/keep');
    expect(read.out).toContain('stdout: written by step-one');
    expect([write.exitCode, read.exitCode]).toEqual([0, 0]);
  });

  // With COORDINATOR_MAX_NUM_RETRIES=0 (the default) an errored job has no retry left: it ends failed.
  it('errors the job at a failing step with its exit code in the log, and runs no later step', async () => {
    const id = await admin.enqueue('batches', {
      dockerSteps: [
        { key: 'fail', image: BUSYBOX_IMAGE, commands: ['echo about to fail', 'exit 7'] },
        { key: 'never', image: BUSYBOX_IMAGE, commands: ['echo should not run'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    expect(job.failureMessage).toBe('running command "step.docker.fail": command failed with exit code 7');
    expect(entry(job, 'step.docker.fail')).toMatchObject({ exitCode: 7, out: expect.stringContaining('stdout: about to fail') });
    expect(job.executionLogs.some((e) => e.key === 'step.docker.never')).toBe(false);
  });

  it('an image that cannot be pulled fails the job with "could not be pulled" and docker\'s reason, not exit code 125', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'pull', image: 'executors-test/no-such-image:1', commands: ['true'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    // docker's reason: no registry is reachable here (a DNS or connection error); elsewhere "pull access denied".
    expect(job.failureMessage).toMatch(/^running command "step\.docker\.pull": image "executors-test\/no-such-image:1" could not be pulled: \S.{10,}$/);
    expect(job.failureMessage).not.toMatch(/Unable to find image|exit code 125/);
    const pull = entry(job, 'step.docker.pull');
    expect(pull.exitCode).toBe(125);
    expect(pull.out).toMatch(/stderr: .*no-such-image/);
  });

  it('stops a step at EXECUTOR_MAXIMUM_RUNTIME_PER_JOB and removes its container', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'slow', image: BUSYBOX_IMAGE, commands: ['echo started', 'sleep 120'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', EXECUTOR_MAXIMUM_RUNTIME_PER_JOB: '3s' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    expect(job.failureMessage).toBe('job exceeded maximum execution time of 3s');
    expect(entry(job, 'step.docker.slow')).toMatchObject({ exitCode: -1, out: expect.stringContaining('stdout: started') });
    expect(await containersLabelled(CONTAINER_LABEL.jobId, String(id))).toEqual([]);
  });

  it('cancel while a step runs: the container is stopped and the job ends canceled', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'long', image: BUSYBOX_IMAGE, commands: ['echo started', 'while :; do sleep 1; done'] }] });
    const executor = spawnExecutor(executorEnv());
    await waitFor('the step container', async () => (await containersLabelled(CONTAINER_LABEL.jobId, String(id))).length > 0);
    expect((await admin.post(`/api/v1/queues/batches/jobs/${id}/cancel`)).status).toBeLessThan(300);
    // The executor hears of the cancel at its next heartbeat (every 5 s); the runtime test bounds the stop itself (2 s).
    await waitFor('the container to be removed', async () => (await containersLabelled(CONTAINER_LABEL.jobId, String(id))).length === 0, 10_000);
    await waitFor('the job to end canceled', async () => (await view(id)).state === 'canceled', 10_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await view(id))}\n${executor.log()}`);
    });
    executor.child.kill('SIGTERM');
    expect(await executor.exited, executor.log()).toBe(0);
  });

  it('keeps a secret in redactedValues out of the stored log and command, even printed one byte at a time', async () => {
    const secret = `s3cr3t-${randomBytes(6).toString('hex')}`;
    const bytes = secret.split('').join(' ');
    const id = await admin.enqueue('batches', {
      redactedValues: { [secret]: '${{ secrets.TOKEN }}' },
      dockerSteps: [{
        key: 'leak',
        image: BUSYBOX_IMAGE,
        env: [`TOKEN=${secret}`],
        commands: [`for c in ${bytes}; do printf %s "$c"; usleep 20000; done; echo`, 'echo "again: $TOKEN" >&2'],
      }],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('completed');
    const stored = JSON.stringify(job);
    expect(stored).not.toContain(secret);
    const leak = entry(job, 'step.docker.leak');
    expect(leak.out).toContain('stdout: ${{ secrets.TOKEN }}');
    expect(leak.out).toContain('stderr: again: ${{ secrets.TOKEN }}');
    expect(leak.command).toContain('TOKEN=${{ secrets.TOKEN }}');
  });

  it('after kill -9 of the executor mid-step, the next executor removes the orphaned container, and the reset job completes', async () => {
    // A host directory mounted into the steps (EXECUTOR_DOCKER_ADDITIONAL_MOUNTS) remembers the first attempt.
    const flags = await fs.mkdtemp(path.join(work, 'flags-'));
    const mount = { EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: `type=bind,source=${flags},target=/flags` };
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ key: 'once', image: BUSYBOX_IMAGE, commands: ['if [ -f /flags/attempted ]; then echo second attempt; else touch /flags/attempted; sleep 300; fi'] }],
    });
    const first = spawnExecutor(executorEnv(mount));
    await waitFor('the first attempt to start', async () => fs.stat(path.join(flags, 'attempted')).then(() => true, () => false));
    first.child.kill('SIGKILL');
    await first.exited;
    const [orphan] = await containersLabelled(CONTAINER_LABEL.jobId, String(id));
    expect(orphan, 'a killed executor cannot stop its container: it must still be there').toBeDefined();
    await waitFor('the coordinator to reset the job', async () => (await view(id)).numResets === 1, 20_000);
    const second = spawnExecutor(executorEnv({ ...mount, EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await second.exited, second.log()).toBe(0);
    const { stdout } = await run('docker', ['ps', '--all', '--quiet', '--no-trunc', '--filter', `id=${orphan}`]);
    expect(stdout.trim(), 'the second executor removes the orphan at start').toBe('');
    const job = await view(id);
    expect(job).toMatchObject({ state: 'completed', numResets: 1 });
    expect(entry(job, 'step.docker.once').out).toContain('stdout: second attempt');
  });
});
