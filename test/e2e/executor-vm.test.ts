// bin/executor against bin/coordinator, both real processes, on the vm runtime: QEMU microvm guests under
// emulation (EXECUTOR_VM_ALLOW_EMULATION=true: nested KVM is broken on these machines), one image pulled
// from a private registry with EXECUTOR_DOCKER_AUTH_CONFIG and one from the host's docker store. A job
// cloned at a commit with two steps in two images sharing /work; a cancel; kill -9 of the executor (its
// QEMU dies with it, the next executor removes the disks and completes the reset job); a job from the warm
// pool, then kill -9 (the pooled guest's QEMU dies too, the next executor's janitor removes its directory).
// After each, no QEMU process and no VM disk is left.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi } from '../helpers/api-client.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../helpers/docker.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { qemuProcessesWith } from '../helpers/qemu-processes.js';

/** Only in the host's docker store, with an ENV of its own (so a digest of its own). */
const LOCAL_IMAGE = 'executors-test/busybox-vm-e2e:1';

interface JobView {
  state: string;
  failureMessage: string | null;
  numResets: number;
  executionLogs: Array<{ key: string; command: string[]; out: string | null; exitCode: number | null }>;
}

// The step images come from docker and a registry: skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a
// machine has no docker, never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('bin/executor on the vm runtime (TCG)', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let work: string;
  let registry: TestRegistry;
  let privateImage: string;
  let firstCommit: string;

  const executorEnv = (extra: Record<string, string> = {}) =>
    env.executorEnv({
      EXECUTOR_VM_ALLOW_EMULATION: 'true',
      EXECUTOR_JOB_NUM_CPUS: '1',
      EXECUTOR_JOB_MEMORY: '256m',
      EXECUTOR_FIRECRACKER_DISK_SPACE: '1G',
      EXECUTOR_VM_CACHE_DIR: path.join(work, 'vm-cache'),
      EXECUTOR_DOCKER_AUTH_CONFIG: JSON.stringify(registry.authConfig()),
      ...extra,
    });
  const view = async (id: number) => (await admin.jobWithOutput('batches', id)).json as JobView;
  const entry = (job: JobView, key: string) => {
    const found = job.executionLogs.find((e) => e.key === key);
    if (!found) throw new Error(`no log entry ${key} in ${job.executionLogs.map((e) => e.key).join(', ')}`);
    return found;
  };
  const runDirs = async () => (await fs.readdir(work)).filter((n) => n.startsWith('executor-vm-'));
  const nothingLeft = async () => {
    expect(await qemuProcessesWith(`${work}/`)).toEqual([]);
    expect(await runDirs()).toEqual([]);
  };

  beforeAll(async () => {
    await ensureBusyboxImage();
    await ensureBusyboxImage(LOCAL_IMAGE, ['PATH=/bin', 'GREETING=from-the-local-image']);
    registry = await startRegistry();
    privateImage = await registry.pushPrivateBusybox();
    env = await startE2eEnvironment({ name: 'vm-e2e', runtime: 'vm' });
    ({ admin, work } = env);
    const source = await createSourceRepository(path.join(work, 'source'), [
      { message: 'first', files: { 'top.txt': 'first version\n' } },
      { message: 'second', files: { 'top.txt': 'second version\n' } },
    ]);
    firstCommit = source.commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: 'github.com/acme/vm-e2e', url: source.path })).status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await env?.stop();
    await registry?.stop();
  });

  it('clones at a commit and runs two steps in two images in one VM, sharing /work', async () => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/vm-e2e',
      commit: firstCommit,
      dockerSteps: [
        { key: 'write', image: privateImage, commands: ['cat top.txt', 'echo "written by $WHO" > /work/shared.txt', 'ls /sys/class/net'], env: ['WHO=step-one'] },
        { key: 'read', image: LOCAL_IMAGE, dir: 'sub', commands: ['pwd', 'cat ../shared.txt', 'echo "$GREETING"'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state, JSON.stringify(job)).toBe('completed');
    const images = entry(job, 'setup.vm.images');
    expect(images.out).toContain(`${privateImage}: sha256:`);
    expect(images.out).toContain('converted from the registry');
    expect(images.out).toContain(`${LOCAL_IMAGE}: sha256:`);
    expect(images.out).toContain('converted from the host docker image store');
    const start = entry(job, 'setup.vm.start');
    expect(start.exitCode).toBe(0);
    // A new cache directory: the executor builds the snapshot in the background while this job boots.
    expect(start.out).toMatch(/stdout: cold boot in \d+ ms \(QEMU started → agent ready\): no snapshot yet for this guest shape \([0-9a-f]{16}\); it is being built in the background/);
    expect(start.command).toEqual(expect.arrayContaining(['-M', 'microvm']));
    const write = entry(job, 'step.docker.write');
    expect(write.out).toContain('stdout: first version');
    // The guest's network devices: loopback and the uplink's (which reaches only the upload routes).
    expect(write.out).toMatch(/stdout: eth0\nstdout: lo\n/);
    expect(write.out).not.toMatch(/stdout: eth1/);
    const read = entry(job, 'step.docker.read');
    expect(read.out).toContain('stdout: /data/sub');
    expect(read.out).toContain('stdout: written by step-one');
    expect(read.out).toContain('stdout: from-the-local-image');
    expect(entry(job, 'teardown.vm').out).toContain('VM stopped');
    // The registry's credentials never reach the log.
    expect(JSON.stringify(job)).not.toContain(registry.password);
    await nothingLeft();
  }, 120_000);

  it('a cancel during a step stops the VM, and leaves no QEMU and no disk', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'long', image: BUSYBOX_IMAGE, commands: ['echo started', 'while :; do sleep 1; done'] }] });
    // No pool: the job's guest is in its own run directory (restored or booted).
    const executor = spawnExecutor(executorEnv({ EXECUTOR_VM_WARM_POOL_SIZE: '0' }));
    await waitFor('the step to start', async () => (await view(id)).executionLogs.some((e) => e.key === 'step.docker.long' && e.out?.includes('started')), 90_000);
    expect((await admin.post(`/api/v1/queues/batches/jobs/${id}/cancel`)).status).toBeLessThan(300);
    await waitFor('the job to end canceled', async () => (await view(id)).state === 'canceled', 15_000);
    const jobDirs = async () => (await runDirs()).filter((n) => n.startsWith(`executor-vm-${id}-`));
    await waitFor('the VM to be gone', async () => (await qemuProcessesWith(`${work}/executor-vm-${id}-`)).length === 0 && (await jobDirs()).length === 0, 10_000);
    executor.child.kill('SIGTERM');
    expect(await executor.exited, executor.log()).toBe(0);
    await nothingLeft();
  }, 120_000);

  it('after kill -9 of the executor, its QEMU dies with it and the next executor removes the disks at start', async () => {
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ key: 'once', image: BUSYBOX_IMAGE, commands: ['echo first attempt', 'sleep 300'] }],
    });
    // Booted guests only: nothing but the job's guest is running when the executor is killed.
    const first = spawnExecutor(executorEnv({ EXECUTOR_VM_SNAPSHOTS: 'false' }));
    await waitFor('the first attempt to start', async () => (await view(id)).executionLogs.some((e) => e.key === 'step.docker.once' && e.out?.includes('first attempt')), 90_000);
    first.child.kill('SIGKILL');
    await first.exited;
    // QEMU runs under `setpriv --pdeathsig KILL`: it dies with its executor.
    await waitFor('the orphaned QEMU to die', async () => (await qemuProcessesWith(`${work}/`)).length === 0, 5_000);
    expect(await runDirs(), 'a killed executor cannot remove its disks').toHaveLength(1);
    // The job would run `sleep 300` again: cancel it once the coordinator has reset it to queued.
    await waitFor('the coordinator to reset the job', async () => (await view(id)).numResets === 1, 20_000);
    expect((await admin.post(`/api/v1/queues/batches/jobs/${id}/cancel`)).status).toBeLessThan(300);
    const second = spawnExecutor(executorEnv({ EXECUTOR_VM_SNAPSHOTS: 'false' }));
    await waitFor('the next executor to remove the dead one\'s disks', async () => (await runDirs()).length === 0, 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.log()).toBe(0);
    await nothingLeft();
  }, 180_000);

  it('runs a job on a guest from the warm pool; after kill -9 the pooled guests die with the executor and the next one removes them', async () => {
    const poolDirs = async () => (await runDirs()).filter((n) => n.startsWith('executor-vm-pool-'));
    const first = spawnExecutor(executorEnv({ EXECUTOR_VM_WARM_POOL_SIZE: '1', SRC_LOG_LEVEL: 'info' }));
    // The snapshot is built (or found), then a guest is restored from it and warmed up.
    const ready = () => first.log().split('\n').filter((l) => l.includes('vm warm pool: a guest is ready')).length;
    await waitFor('a pooled guest', async () => ready() === 1, 150_000);
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'hello', image: BUSYBOX_IMAGE, commands: ['echo hello from the pool', 'hostname'] }] });
    await waitFor('the job to complete', async () => (await view(id)).state === 'completed', 60_000);
    const job = await view(id);
    expect(entry(job, 'setup.vm.start').out).toMatch(/stdout: from the warm pool: guest executor-pool-[0-9a-f]{8}, restored from snapshot [0-9a-f]{16} [\d.]+ s ago; ready in \d+ ms/);
    // stdout and stderr (the script's `set -x` lines) interleave as they arrive: look at stdout's lines alone.
    const stdout = (entry(job, 'step.docker.hello').out ?? '').split('\n').filter((l) => l.startsWith('stdout: '));
    expect(stdout).toEqual(['stdout: hello from the pool', expect.stringMatching(new RegExp(`^stdout: executor-${id}-[0-9a-f]{8}$`))]);
    // The pool refills behind the job; then the executor is killed.
    await waitFor('the pool to refill', async () => ready() === 2 && (await poolDirs()).length === 1, 60_000);
    const [leftDir] = await poolDirs();
    first.child.kill('SIGKILL');
    await first.exited;
    await waitFor('the pooled guest\'s QEMU to die with its executor', async () => (await qemuProcessesWith(`${work}/`)).length === 0, 5_000);
    expect(await poolDirs(), 'a killed executor cannot remove its pooled guests').toEqual([leftDir]);
    const second = spawnExecutor(executorEnv({ EXECUTOR_VM_WARM_POOL_SIZE: '0' }));
    await waitFor('the next executor\'s janitor to remove the dead one\'s pooled guest', async () => !(await runDirs()).includes(leftDir!), 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.log()).toBe(0);
    await nothingLeft();
  }, 300_000);
});
