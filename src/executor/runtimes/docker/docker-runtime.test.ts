// The docker runtime against a real docker daemon, with an image built here by `docker import`: the
// step's container (mount, dir, env, labels, output, exit code), the memory limit, cancel, registry
// credentials per job, hostile step fields, and removal of containers that a dead executor left.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, containersLabelled, dockerTestsEnabled, ensureBusyboxImage } from '../../../../test/helpers/docker.js';
import { silentLogger } from '../../../shared/logger.js';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import type { StepSpec } from '../runtime.js';
import { CONTAINER_LABEL } from './container-labels.js';
import { DockerRuntime, dockerHostCpuLimit, type DockerRuntimeConfig } from './docker-runtime.js';
import { recordingLogEntries } from '../../../../test/helpers/runtime-log.js';

const run = promisify(execFile);
const never = new AbortController().signal;
const b64 = (s: string) => Buffer.from(s).toString('base64');

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, and never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('DockerRuntime on a real docker daemon', () => {
  let parent: string;
  let nextJobId = Math.floor(Math.random() * 1e6) * 100;
  const config = (extra: Partial<DockerRuntimeConfig> = {}): DockerRuntimeConfig => ({
    name: `test-${process.pid}`,
    jobNumCpus: 1,
    jobMemoryText: '256m',
    dockerAdditionalMounts: [],
    dockerHostMountPath: undefined,
    dockerAddHostGateway: false,
    dockerAuthConfig: undefined,
    workspaceParentDir: parent,
    ...extra,
  });

  /** A workspace with `scripts` (name → content) in .sourcegraph-executor, and the job's runtime set up. */
  const setUp = async (scripts: Record<string, string>, options: { config?: Partial<DockerRuntimeConfig>; job?: Partial<DequeuedJob> } = {}) => {
    const id = ++nextJobId;
    const ws = await fs.mkdtemp(path.join(parent, `workspace-${id}-`));
    await fs.mkdir(path.join(ws, '.sourcegraph-executor'));
    for (const [name, content] of Object.entries(scripts)) await fs.writeFile(path.join(ws, '.sourcegraph-executor', name), content, { mode: 0o755 });
    const runtime = new DockerRuntime({ config: config(options.config) });
    const job = { id, queue: 'batches', ...options.job } as DequeuedJob;
    const runtimeJob = await runtime.setup({ job, workspace: { path: ws, scriptPaths: [], remove: () => Promise.resolve() }, logger: silentLogger, signal: never, openLogEntry: recordingLogEntries().openLogEntry });
    return { id, ws, runtime, runtimeJob };
  };
  const step = (script: string, extra: Partial<StepSpec> = {}): StepSpec => ({
    key: 'step.docker.0',
    index: 0,
    image: BUSYBOX_IMAGE,
    scriptPath: `.sourcegraph-executor/${script}`,
    dir: '',
    env: [],
    ...extra,
  });
  const collect = () => {
    const out = { stdout: '', stderr: '' };
    return { out, write: (stream: 'stdout' | 'stderr', chunk: Buffer) => (out[stream] += chunk.toString()) };
  };

  beforeAll(async () => {
    await ensureBusyboxImage();
    parent = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'docker-runtime-')));
  }, 180_000);
  afterAll(async () => {
    await fs.rm(parent, { recursive: true, force: true });
  });

  it('runs the script in /data/<dir> with the step env, labels the container, keeps stdout and stderr apart, and returns the exit code', async () => {
    const { id, ws, runtimeJob } = await setUp({ 's.sh': 'pwd; echo "A=$A"; cat /data/host.txt; echo to-stderr >&2; echo made-here > /data/made.txt; cat /proc/self/cgroup >/dev/null; exit 3' });
    await fs.writeFile(path.join(ws, 'host.txt'), 'from-the-host\n');
    const s = step('s.sh', { dir: 'sub/dir', env: ['A=one two'] });
    expect(runtimeJob.commandFor(s)).toEqual(expect.arrayContaining(['-v', `${ws}:/data`, '-w', '/data/sub/dir', '-e', 'A=one two', '--cpus', '1', '--memory', '256m']));
    const { out, write } = collect();
    expect(await runtimeJob.runStep(s, write, never)).toEqual({ exitCode: 3 });
    expect(out.stdout).toBe('/data/sub/dir\nA=one two\nfrom-the-host\n');
    expect(out.stderr).toBe('to-stderr\n');
    expect(await fs.readFile(path.join(ws, 'made.txt'), 'utf8')).toBe('made-here\n');
    // --rm: nothing is left of a step that ended.
    expect(await containersLabelled(CONTAINER_LABEL.jobId, String(id))).toEqual([]);
    await runtimeJob.teardown();
  });

  it('puts the executor, job and owner labels on the container while it runs', async () => {
    const { id, runtimeJob } = await setUp({ 's.sh': 'echo ready; sleep 30' });
    const controller = new AbortController();
    const { out, write } = collect();
    const running = runtimeJob.runStep(step('s.sh'), write, controller.signal);
    while (!out.stdout.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    const [container] = await containersLabelled(CONTAINER_LABEL.jobId, String(id));
    const { stdout } = await run('docker', ['inspect', '--format', '{{json .Config.Labels}}', container!]);
    expect(JSON.parse(stdout)).toEqual({
      [CONTAINER_LABEL.host]: os.hostname(),
      [CONTAINER_LABEL.executor]: `test-${process.pid}`,
      [CONTAINER_LABEL.ownerPid]: String(process.pid),
      [CONTAINER_LABEL.ownerStartedAt]: expect.stringMatching(/^\d+$/),
      [CONTAINER_LABEL.jobId]: String(id),
      [CONTAINER_LABEL.queue]: 'batches',
    });
    controller.abort('canceled');
    await expect(running).rejects.toBe('canceled');
    await runtimeJob.teardown();
  });

  it('on abort removes the running container within 2 s and rejects with the reason', async () => {
    // PID 1 of a container ignores SIGTERM without a handler: only removing the container stops it.
    const { id, runtimeJob } = await setUp({ 's.sh': 'echo ready; while :; do sleep 1; done' });
    const controller = new AbortController();
    const { out, write } = collect();
    const running = runtimeJob.runStep(step('s.sh'), write, controller.signal);
    while (!out.stdout.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    const abortedAt = performance.now();
    controller.abort('canceled');
    await expect(running).rejects.toBe('canceled');
    expect(await containersLabelled(CONTAINER_LABEL.jobId, String(id))).toEqual([]);
    // The bound for a cancel: the container is gone within 2 s.
    expect(performance.now() - abortedAt).toBeLessThan(2000);
    await runtimeJob.teardown();
  });

  it('enforces EXECUTOR_JOB_MEMORY: a step that allocates more is killed', async () => {
    const { runtimeJob } = await setUp({ 'big.sh': 'dd if=/dev/zero of=/dev/null bs=200M count=1 && echo survived', 'small.sh': 'dd if=/dev/zero of=/dev/null bs=8M count=1 && echo survived' }, { config: { jobMemoryText: '64m' } });
    const big = collect();
    expect((await runtimeJob.runStep(step('big.sh'), big.write, never)).exitCode).not.toBe(0);
    expect(big.out.stdout).not.toContain('survived');
    const small = collect();
    expect(await runtimeJob.runStep(step('small.sh'), small.write, never)).toEqual({ exitCode: 0 });
    expect(small.out.stdout).toContain('survived');
    await runtimeJob.teardown();
  });

  it('says why a step\'s image could not be pulled: the failure names the image and docker\'s reason', async () => {
    const { runtimeJob } = await setUp({ 's.sh': 'echo ran' });
    const { out, write } = collect();
    // Nothing listens on port 1: docker's pull fails at once with its own reason.
    const image = '127.0.0.1:1/executors-test/not-there:1';
    const result = await runtimeJob.runStep(step('s.sh', { image }), write, never);
    expect(result.exitCode).toBe(125);
    expect(result.failure).toMatch(/^image "127\.0\.0\.1:1\/executors-test\/not-there:1" could not be pulled: .*127\.0\.0\.1:1.*connection refused$/);
    expect(out.stderr).toContain("Unable to find image '127.0.0.1:1/executors-test/not-there:1' locally");
    // A step that runs and exits 125 itself has no such failure.
    const own = await setUp({ 'own.sh': 'exit 125' });
    expect(await own.runtimeJob.runStep(step('own.sh'), collect().write, never)).toEqual({ exitCode: 125 });
    await runtimeJob.teardown();
    await own.runtimeJob.teardown();
  });

  it('refuses an image that docker would read as a flag, and a dir that leaves the workspace, before running docker', async () => {
    const { runtimeJob } = await setUp({ 's.sh': 'echo ran' });
    const { out, write } = collect();
    await expect(runtimeJob.runStep(step('s.sh', { image: '--privileged' }), write, never)).rejects.toMatchObject({ code: 'runtime.invalid_step', message: expect.stringContaining('"--privileged"') });
    await expect(runtimeJob.runStep(step('s.sh', { dir: '../../etc' }), write, never)).rejects.toMatchObject({ code: 'workspace.path_outside' });
    expect(out.stdout).toBe('');
    await runtimeJob.teardown();
  });

  it('writes the job\'s registry credentials (over the executor\'s) to a private directory outside /data, removed at teardown', async () => {
    const jobAuth = { auths: { 'registry.job:5000': { auth: b64('job-user:job-password') } } };
    const envAuth = { auths: { 'registry.env': { auth: b64('env-user:env-password') } } };
    const { runtimeJob } = await setUp({ 's.sh': 'ls -a /data' }, { config: { dockerAuthConfig: envAuth }, job: { dockerAuthConfig: jobAuth } });
    const argv = runtimeJob.commandFor(step('s.sh'));
    expect(argv.slice(0, 2)).toEqual(['docker', '--config']);
    const dir = argv[2]!;
    expect(path.dirname(dir)).toBe(parent);
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8'))).toEqual(jobAuth);
    // docker reads this config: a step still runs with it (the image is local, no registry is asked).
    const { out, write } = collect();
    expect(await runtimeJob.runStep(step('s.sh'), write, never)).toEqual({ exitCode: 0 });
    expect(out.stdout).not.toContain('config.json');
    await runtimeJob.teardown();
    await expect(fs.stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });

    const envOnly = await setUp({}, { config: { dockerAuthConfig: envAuth } });
    const envDir = envOnly.runtimeJob.commandFor(step('s.sh'))[2]!;
    expect(JSON.parse(await fs.readFile(path.join(envDir, 'config.json'), 'utf8'))).toEqual(envAuth);
    await envOnly.runtimeJob.teardown();

    const none = await setUp({});
    expect(none.runtimeJob.commandFor(step('s.sh'))).not.toContain('--config');
    await none.runtimeJob.teardown();
  });

  it('lowers --cpus to the docker host\'s CPU count, with a warning, where EXECUTOR_JOB_NUM_CPUS is larger', async () => {
    const { stdout } = await run('docker', ['info', '--format', '{{.NCPU}}']);
    const hostCpus = Number(stdout.trim());
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };
    expect(await dockerHostCpuLimit(hostCpus + 2, {}, logger)).toBe(hostCpus);
    expect(warnings).toEqual([`EXECUTOR_JOB_NUM_CPUS=${hostCpus + 2} is more than the docker host's ${hostCpus} CPUs; steps run with --cpus ${hostCpus}`]);
    expect(await dockerHostCpuLimit(hostCpus, {}, logger)).toBeUndefined();
    expect(await dockerHostCpuLimit(0, {}, logger)).toBeUndefined();
    // The executor's start line says the --cpus steps get, not the configured number docker would refuse.
    expect(new DockerRuntime({ config: config({ jobNumCpus: hostCpus + 2 }), numCpus: hostCpus }).limits).toEqual({
      jobCpus: `${hostCpus} (the docker host's CPUs; EXECUTOR_JOB_NUM_CPUS=${hostCpus + 2})`,
      jobMemory: '256m',
    });
    expect(new DockerRuntime({ config: config({ jobNumCpus: 0, jobMemoryText: '0' }) }).limits).toEqual({ jobCpus: 'unlimited', jobMemory: 'unlimited' });
    // With the lowered number a step runs where the configured one would make docker refuse it.
    const { runtimeJob } = await setUp({ 's.sh': 'echo ran' }, { config: { jobNumCpus: hostCpus + 2 } });
    const refused = collect();
    expect((await runtimeJob.runStep(step('s.sh'), refused.write, never)).exitCode).toBe(125);
    expect(refused.out.stderr).toMatch(/Range of CPUs/);
    const lowered = await new DockerRuntime({ config: config({ jobNumCpus: hostCpus + 2 }), numCpus: hostCpus }).setup({
      job: { id: ++nextJobId, queue: 'batches' } as DequeuedJob,
      workspace: { path: parent, scriptPaths: [], remove: () => Promise.resolve() },
      logger: silentLogger,
      signal: never,
      openLogEntry: recordingLogEntries().openLogEntry,
    });
    expect(lowered.commandFor(step('s.sh'))).toEqual(expect.arrayContaining(['--cpus', String(hostCpus)]));
  });

  it('removes at start the containers of a dead executor process on this host, not those of a live one', async () => {
    // A pid that is certainly dead: a process that has exited.
    const gone = spawn('true');
    await new Promise((resolve) => gone.on('exit', resolve));
    const marker = `leftover-${nextJobId++}`;
    const start = async (pid: number, startedAt: number) => {
      const { stdout } = await run('docker', [
        'run', '-d', '--label', `${CONTAINER_LABEL.host}=${os.hostname()}`, '--label', `${CONTAINER_LABEL.ownerPid}=${pid}`,
        '--label', `${CONTAINER_LABEL.ownerStartedAt}=${startedAt}`, '--label', `test-marker=${marker}`, BUSYBOX_IMAGE, 'sleep', '300',
      ]);
      return stdout.trim();
    };
    const dead = await start(gone.pid!, Date.now() - 60_000);
    const live = await start(process.pid, Math.round(Date.now() - process.uptime() * 1000));
    try {
      await new DockerRuntime({ config: config() }).removeLeftovers(silentLogger);
      // (An executor that another test file starts at the same time may remove the dead one first: the
      // count returned is not asserted, what is left is.)
      expect(await containersLabelled('test-marker', marker)).toEqual([live]);
    } finally {
      await run('docker', ['rm', '-f', dead, live]).catch(() => {});
    }
  });
});
