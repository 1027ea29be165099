// bin/executor on the kubernetes runtime against bin/coordinator, both real processes. No Kubernetes API
// server can run on these machines (no kube-apiserver, kind or k3s installs here), so the API server is
// the test one (test/helpers/kubernetes-api-server): the real API's shapes, the shipped Role enforced,
// every object validated against the Kubernetes schemas, and each job pod's containers really run, in
// order, by the local docker engine — the setup container from the executor image built from this
// checkout, the steps from a busybox image.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBERNETES_LABEL } from '../../src/executor/runtimes/kubernetes/job-objects.js';
import { KUBERNETES_RUNTIME_PERMISSIONS } from '../../src/executor/runtimes/kubernetes/kubernetes-permissions.js';
import type { AdminApi } from '../helpers/api-client.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../helpers/docker.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { ensureTestExecutorImage } from '../helpers/executor-image.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { startTestKubernetesApiServer, type TestKubernetesApiServer } from '../helpers/kubernetes-api-server/api-server.js';
import { describeAttributes, loadRoleRules } from '../helpers/kubernetes-api-server/rbac.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const run = promisify(execFile);

/** Only the defined values of an environment. */
function envOf(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** A loopback port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROLE_FILE = path.join(ROOT, 'deploy/kubernetes/base/role.yaml');
const NAMESPACE = 'executors';

interface JobView {
  state: string;
  failureMessage: string | null;
  numResets: number;
  executionLogs: Array<{ key: string; command: string[]; out: string | null; exitCode: number | null }>;
}

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, and never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('bin/executor on the kubernetes runtime (test API server, real containers)', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let api: TestKubernetesApiServer;
  let kubeconfig: string;
  let image: string;
  let firstCommit: string;

  const executorEnv = (extra: Record<string, string> = {}) =>
    env.executorEnv({
      EXECUTOR_KUBERNETES_CONFIG_PATH: kubeconfig,
      EXECUTOR_KUBERNETES_NAMESPACE: NAMESPACE,
      KUBERNETES_SINGLE_JOB_STEP_IMAGE: image,
      EXECUTOR_KUBERNETES_RESOURCE_LIMIT_MEMORY: '512Mi',
      EXECUTOR_KUBERNETES_RESOURCE_REQUEST_MEMORY: '64Mi',
      ...extra,
    });
  const view = async (id: number) => (await admin.jobWithOutput('batches', id)).json as JobView;
  const entry = (job: JobView, key: string) => {
    const found = job.executionLogs.find((e) => e.key === key);
    if (!found) throw new Error(`no log entry ${key} in ${job.executionLogs.map((e) => e.key).join(', ')}`);
    return found;
  };
  /** The objects of job `id` still in the API server. */
  const objectsOf = (id: number) =>
    (['jobs', 'secrets', 'persistentvolumeclaims', 'pods'] as const).flatMap((resource) => api.store.list(resource, NAMESPACE, `${KUBERNETES_LABEL.jobId}=${id}`).map((o) => `${resource}/${o.metadata.name}`));

  /** The host directory of job `id`'s workspace volume, once its pod exists. */
  const workspaceOf = (id: number) =>
    waitFor('the job pod', async () => {
      const pod = api.store.list('pods', NAMESPACE, `${KUBERNETES_LABEL.jobId}=${id}`)[0];
      return pod ? api.cluster.volumeDir(NAMESPACE, pod.metadata.name, 'job-data') : undefined;
    }, 60_000);
  /** The docker containers of a pod. */
  const podContainers = async (pod: string) => {
    const uid = api.store.get('pods', NAMESPACE, pod)?.metadata.uid;
    const { stdout } = await run('docker', ['ps', '--all', '--quiet', '--filter', `name=kube-.*-${(uid ?? podUids.get(pod) ?? 'none').slice(0, 8)}-`]);
    if (uid) podUids.set(pod, uid);
    return stdout.split('\n').filter(Boolean);
  };
  const podUids = new Map<string, string>();

  beforeAll(async () => {
    [image] = await Promise.all([ensureTestExecutorImage(), ensureBusyboxImage()]);
    api = await startTestKubernetesApiServer({ rules: loadRoleRules(ROLE_FILE), namespaces: [NAMESPACE] });
    env = await startE2eEnvironment({ name: 'kubernetes-e2e', runtime: 'kubernetes' });
    admin = env.admin;
    kubeconfig = await api.writeKubeconfig(path.join(env.work, 'kubeconfig'));
    const source = await createSourceRepository(path.join(env.work, 'source'), [
      { message: 'first', files: { 'keep/README.md': 'kept\n', 'top.txt': 'first version\n' } },
      { message: 'second', files: { 'top.txt': 'second version\n' } },
    ]);
    firstCommit = source.commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: 'github.com/acme/kubernetes-e2e', url: source.path })).status).toBe(201);
  }, 600_000);
  afterAll(async () => {
    await env?.stop();
    await api?.close();
  });

  it('clones at a commit in the job pod and runs two steps that share the workspace', async () => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/kubernetes-e2e',
      commit: firstCommit,
      shallowClone: true,
      files: { 'inputs/greeting.txt': { content: 'hello from a file' } },
      dockerSteps: [
        { key: 'write', image: BUSYBOX_IMAGE, commands: ['cat top.txt', 'cat inputs/greeting.txt; echo', 'echo "written by $WHO" > shared.txt'], env: ['WHO=step-one'] },
        { key: 'read', image: BUSYBOX_IMAGE, dir: 'keep', commands: ['pwd', 'cat ../shared.txt'] },
      ],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state, JSON.stringify(job, null, 2)).toBe('completed');
    // Workspace preparation ran in the pod, and its commands are the job's entries as on every runtime.
    expect(entry(job, 'setup.git.fetch').exitCode).toBe(0);
    expect(entry(job, 'setup.git.checkout').exitCode).toBe(0);
    expect(entry(job, 'setup.fs.extras').out).toContain('inputs/greeting.txt');
    const write = entry(job, 'step.kubernetes.write');
    expect(write.out).toContain('stdout: first version');
    expect(write.out).toContain('stdout: hello from a file');
    expect(write.command).toEqual(['/bin/sh', expect.stringMatching(/^\/job\/\.sourcegraph-executor\/\d+\.0_github\.com_acme_kubernetes-e2e@[0-9a-f]{40}\.sh$/)]);
    const read = entry(job, 'step.kubernetes.read');
    expect(read.out).toContain('stdout: /job/keep');
    expect(read.out).toContain('stdout: written by step-one');
    expect([write.exitCode, read.exitCode]).toEqual([0, 0]);
    expect(entry(job, 'teardown.kubernetes.job').out).toMatch(/Deleted job sg-executor-job-batches-/);
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 30_000);
    // The step's environment reached the pod through the Secret, not in the Job's spec.
    expect(api.invalid).toEqual([]);
  }, 180_000);

  it('errors the job at a failing step with its exit code from the container, and runs no later step', async () => {
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
    expect(job.failureMessage).toBe('running command "step.kubernetes.fail": command failed with exit code 7');
    expect(entry(job, 'step.kubernetes.fail')).toMatchObject({ exitCode: 7, out: expect.stringContaining('stdout: about to fail') });
    expect(job.executionLogs.some((e) => e.key === 'step.kubernetes.never')).toBe(false);
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 30_000);
  }, 120_000);

  it('fails the job with the git command that failed when the pod cannot clone, and deletes what it made', async () => {
    const id = await admin.enqueue('batches', { repositoryName: 'github.com/acme/kubernetes-e2e', commit: 'f'.repeat(40), dockerSteps: [{ key: 'never', image: BUSYBOX_IMAGE, commands: ['echo never'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    // The same message as when the host clones (workspace preparation is the same code, in the pod).
    expect(job.failureMessage).toBe('running command "setup.git.fetch": exit code 128');
    expect(entry(job, 'setup.git.fetch').exitCode).toBe(128);
    expect(job.executionLogs.some((e) => e.key === 'step.kubernetes.never')).toBe(false);
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 30_000);
  }, 120_000);

  it('streams a step\'s output while it runs, before the step ends', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'gate', image: BUSYBOX_IMAGE, commands: ['echo waiting for the gate', 'while [ ! -f /job/gate ]; do sleep 0.2; done', 'echo through the gate'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    const running = await waitFor('the first line in the stored log while the step runs', async () => {
      const job = await view(id);
      const step = job.executionLogs.find((e) => e.key === 'step.kubernetes.gate');
      return step?.out?.includes('stdout: waiting for the gate') ? step : undefined;
    }, 60_000);
    // Still running: the gate is closed, so the output came through the followed log, not after the end.
    expect(running.exitCode).toBeNull();
    expect(running.out).not.toContain('through the gate');
    await fs.writeFile(path.join(await workspaceOf(id), 'gate'), '');
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('completed');
    expect(entry(job, 'step.kubernetes.gate').out).toMatch(/stdout: waiting for the gate\n[^]*stdout: through the gate\n/);
  }, 120_000);

  it('cancel while a step runs: the Job (foreground), its pod, containers and Secret are deleted and the job ends canceled', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'long', image: BUSYBOX_IMAGE, commands: ['echo started', 'while :; do sleep 1; done'] }] });
    const debug = `127.0.0.1:${await freePort()}`;
    const executor = spawnExecutor(executorEnv({ SRC_PROF_HTTP: debug }));
    await waitFor('the step to run', async () => (await view(id)).executionLogs.find((e) => e.key === 'step.kubernetes.long')?.out?.includes('started'), 60_000);
    // The probes the Deployment uses (SRC_PROF_HTTP): alive, ready (the coordinator answered), and metrics.
    expect((await fetch(`http://${debug}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${debug}/ready`)).status).toBe(200);
    expect(await (await fetch(`http://${debug}/metrics`)).text()).toMatch(/^src_executor_processor_handlers\{queue="batches"\} 1$/m);
    const pod = api.store.list('pods', NAMESPACE, `${KUBERNETES_LABEL.jobId}=${id}`)[0]!.metadata.name;
    expect(await podContainers(pod)).not.toEqual([]);
    expect((await admin.post(`/api/v1/queues/batches/jobs/${id}/cancel`)).status).toBeLessThan(300);
    await waitFor('the job to end canceled', async () => (await view(id)).state === 'canceled', 30_000);
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 60_000);
    expect(await podContainers(pod)).toEqual([]);
    const teardown = entry(await view(id), 'teardown.kubernetes.job');
    expect(teardown.out).toMatch(/Deleted job sg-executor-job-batches-\d+-\w+\n/);
    // Deleting the Job in the foreground takes the Secret it owns with it, so it may be gone already.
    expect(teardown.out).toMatch(/(Deleted secret|The secret) sg-executor-job-batches-\d+-\w+-secrets( was gone already)?\n/);
    executor.child.kill('SIGTERM');
    expect(await executor.exited, executor.log()).toBe(0);
  }, 120_000);

  it('fails the job with DeadlineExceeded when KUBERNETES_JOB_DEADLINE passes', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'slow', image: BUSYBOX_IMAGE, commands: ['echo started', 'sleep 300'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', KUBERNETES_JOB_DEADLINE: '4' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    expect(job.failureMessage).toBe('DeadlineExceeded: Job was active longer than specified deadline');
    // The deadline counts from the Job's start, so on a loaded machine it may pass while the workspace is
    // still being prepared, or during the step: whichever it was, every entry ends with an exit code, and
    // a step the deadline stopped has none of its own (-1).
    expect(job.executionLogs.filter((e) => e.exitCode === null)).toEqual([]);
    const step = job.executionLogs.find((e) => e.key === 'step.kubernetes.slow');
    if (step) expect(step.exitCode).toBe(-1);
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 30_000);
  }, 120_000);

  it('fails a job whose pod cannot be scheduled with the scheduler\'s reason, after EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'nowhere', image: BUSYBOX_IMAGE, commands: ['echo never'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', EXECUTOR_KUBERNETES_NODE_SELECTOR: 'pool=gpu', EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT: '2s' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    expect(job.failureMessage).toMatch(/^Unschedulable: 0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector/);
    // What the scheduler said is in the setup entry as it happened.
    expect(entry(job, 'setup.kubernetes.job')).toMatchObject({ exitCode: 1, out: expect.stringContaining('is pending: Unschedulable: 0/1 nodes are available') });
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 30_000);
  }, 120_000);

  it('fails a job whose step image cannot be pulled with ErrImagePull and the image', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'pull', image: 'executors-test/no-such-image:1', commands: ['true'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state).toBe('failed');
    expect(job.failureMessage).toMatch(/^ErrImagePull: image "executors-test\/no-such-image:1" cannot be pulled: /);
    expect(entry(job, 'step.kubernetes.pull').exitCode).toBe(-1);
    await waitFor('the job objects to be deleted', async () => objectsOf(id).length === 0, 30_000);
  }, 120_000);

  it('resumes a watch the server closes mid-job from the last resourceVersion, and lists again after a 410', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'gate', image: BUSYBOX_IMAGE, commands: ['while [ ! -f /job/gate ]; do sleep 0.2; done', 'echo through'] }, { key: 'after', image: BUSYBOX_IMAGE, commands: ['echo second step'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    const workspace = await workspaceOf(id);
    const podName = api.store.list('pods', NAMESPACE, `${KUBERNETES_LABEL.jobId}=${id}`)[0]!.metadata.name;
    const watchesOfJob = () => api.watches.filter((w) => w.labelSelector.startsWith('job-name=') && podName.startsWith(w.labelSelector.slice('job-name='.length)));
    await waitFor('the gated step to run', async () => (await view(id)).executionLogs.some((e) => e.key === 'step.kubernetes.gate'), 60_000);
    // A close: the executor resumes from the last resourceVersion it saw, not from a new list.
    const before = watchesOfJob().length;
    expect(api.dropWatches()).toBeGreaterThan(0);
    await waitFor('a resumed watch', async () => watchesOfJob().length > before, 30_000);
    const resumed = watchesOfJob().at(-1)!;
    expect(resumed.resourceVersion).not.toBe('');
    expect(Number(resumed.resourceVersion)).toBeGreaterThanOrEqual(Number(watchesOfJob()[0]!.resourceVersion));
    // A close, a change and a compaction before the executor is back (all in this tick): its resume is too
    // old, the server answers 410 Expired, and the executor lists again and watches from the new list.
    const count = watchesOfJob().length;
    api.dropWatches();
    api.store.update('pods', NAMESPACE, podName, (pod) => (pod.metadata.annotations = { ...pod.metadata.annotations, touched: 'yes' }));
    const compactedAt = api.store.currentRevision();
    api.store.compact();
    await waitFor('a watch after the 410', async () => watchesOfJob().length >= count + 2, 30_000);
    const [expired, fresh] = watchesOfJob().slice(count);
    expect(Number(expired!.resourceVersion)).toBeLessThan(compactedAt);
    expect(Number(fresh!.resourceVersion)).toBeGreaterThanOrEqual(compactedAt);
    await fs.writeFile(path.join(workspace, 'gate'), '');
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state, JSON.stringify(job, null, 2)).toBe('completed');
    expect(entry(job, 'step.kubernetes.after').out).toContain('stdout: second step');
  }, 120_000);

  it('resumes a log stream that ends before its container, without repeating or losing lines', async () => {
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'count', image: BUSYBOX_IMAGE, commands: ['for i in 1 2 3; do echo "line $i"; done', 'while [ ! -f /job/gate ]; do sleep 0.2; done', 'for i in 4 5 6; do echo "line $i"; done'] }] });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    await waitFor('the first lines', async () => (await view(id)).executionLogs.find((e) => e.key === 'step.kubernetes.count')?.out?.includes('line 3'), 60_000);
    expect(api.cutLogStreams()).toBeGreaterThan(0);
    await fs.writeFile(path.join(await workspaceOf(id), 'gate'), '');
    expect(await executor.exited, executor.log()).toBe(0);
    const out = entry(await view(id), 'step.kubernetes.count').out!;
    const lines = out.split('\n').filter((l) => /^stdout: line \d$/.test(l));
    expect(lines).toEqual([1, 2, 3, 4, 5, 6].map((i) => `stdout: line ${i}`));
  }, 120_000);

  it('runs a job on a PersistentVolumeClaim workspace as a non-root user, and deletes the claim', async () => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/kubernetes-e2e',
      commit: firstCommit,
      // The executor image has git: as a non-root user git must still take the root-owned volume's repository.
      dockerSteps: [{ key: 'who', image, commands: ['id -u', 'echo written > mine.txt && cat mine.txt', 'git log -1 --format=%s', 'git status --porcelain'] }],
    });
    const executor = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1', KUBERNETES_JOB_VOLUME_TYPE: 'pvc', KUBERNETES_JOB_VOLUME_SIZE: '1Gi', KUBERNETES_RUN_AS_USER: '1000', KUBERNETES_RUN_AS_GROUP: '1000' }));
    expect(await executor.exited, executor.log()).toBe(0);
    const job = await view(id);
    expect(job.state, JSON.stringify(job, null, 2)).toBe('completed');
    const who = entry(job, 'step.kubernetes.who').out!;
    expect(who).toContain('stdout: 1000');
    expect(who).toContain('stdout: written');
    expect(who).toContain('stdout: first');
    expect(who).toContain('stdout: ?? mine.txt');
    expect(who).not.toContain('dubious ownership');
    expect(entry(job, 'setup.kubernetes.job').out).toMatch(/Created persistent volume claim sg-executor-job-batches-\d+-\w+-pvc \(1Gi\)/);
    await waitFor('the job objects, the claim too, to be deleted', async () => objectsOf(id).length === 0, 30_000);
  }, 120_000);

  it('after kill -9 of the executor mid-step, the next one deletes what it left, and the reset job completes', async () => {
    // A claim mounted into the steps (KUBERNETES_ADDITIONAL_JOB_VOLUMES) remembers the first attempt.
    api.store.create('persistentvolumeclaims', NAMESPACE, { metadata: { name: 'flags' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } });
    const flags = {
      KUBERNETES_ADDITIONAL_JOB_VOLUMES: JSON.stringify([{ name: 'flags', persistentVolumeClaim: { claimName: 'flags' } }]),
      KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS: JSON.stringify([{ name: 'flags', mountPath: '/flags' }]),
    };
    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'once', image: BUSYBOX_IMAGE, commands: ['if [ -f /flags/attempted ]; then echo second attempt; else touch /flags/attempted; echo first attempt; sleep 300; fi'] }] });
    const first = spawnExecutor(executorEnv(flags));
    await waitFor('the first attempt to run', async () => (await view(id)).executionLogs.find((e) => e.key === 'step.kubernetes.once')?.out?.includes('first attempt'), 60_000);
    const left = objectsOf(id);
    const leftPod = left.find((o) => o.startsWith('pods/'))!.slice('pods/'.length);
    expect(await podContainers(leftPod)).not.toEqual([]);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(left.filter((o) => /^(jobs|secrets|pods)\//.test(o))).toHaveLength(3);
    await waitFor('the coordinator to reset the job', async () => (await view(id)).numResets === 1, 30_000);
    // The objects stayed: the executor ran outside the cluster, so no pod of its owns them.
    expect(objectsOf(id)).toEqual(expect.arrayContaining(left));
    const second = spawnExecutor(executorEnv({ ...flags, EXECUTOR_NUM_TOTAL_JOBS: '1', SRC_LOG_LEVEL: 'info' }));
    expect(await second.exited, second.log()).toBe(0);
    expect(second.log()).toContain('deleted a leftover job object');
    await waitFor('the first attempt\'s objects to be deleted', async () => left.every((o) => !objectsOf(id).includes(o)), 60_000);
    expect(await podContainers(leftPod)).toEqual([]);
    const job = await view(id);
    expect(job).toMatchObject({ state: 'completed', numResets: 1 });
    expect(entry(job, 'step.kubernetes.once').out).toContain('stdout: second attempt');
  }, 180_000);

  it('the executor image, run as the native Deployment runs it (in-cluster credentials, non-root, read-only), runs a job and owns its Job through its pod', async () => {
    // The native overlay's settings, as its ConfigMap has them; the coordinator and a free debug port instead.
    const env: Record<string, string> = {};
    for (const file of ['base/executor.env', 'overlays/native/kubernetes.env']) {
      for (const line of (await fs.readFile(path.join(ROOT, 'deploy/kubernetes', file), 'utf8')).split('\n')) {
        const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
        if (m) env[m[1]!] = m[2]!;
      }
    }
    delete env.EXECUTOR_QUEUE_NAMES;
    Object.assign(env, {
      ...envOf(executorEnv()),
      EXECUTOR_NUM_TOTAL_JOBS: '1',
      SRC_PROF_HTTP: `127.0.0.1:${await freePort()}`,
      EXECUTOR_KUBERNETES_RESOURCE_REQUEST_MEMORY: '64Mi',
      EXECUTOR_KUBERNETES_RESOURCE_LIMIT_MEMORY: '512Mi',
    });
    delete env.EXECUTOR_KUBERNETES_CONFIG_PATH;
    delete env.KUBERNETES_SINGLE_JOB_STEP_IMAGE;
    delete env.TMPDIR;
    // What a pod gets: the service account's token, CA and namespace, and the API server's address.
    const serviceAccount = await fs.mkdtemp(path.join(os.tmpdir(), 'service-account-'));
    await fs.writeFile(path.join(serviceAccount, 'token'), api.token);
    await fs.writeFile(path.join(serviceAccount, 'ca.crt'), api.caPem!);
    await fs.writeFile(path.join(serviceAccount, 'namespace'), NAMESPACE);
    await fs.chmod(serviceAccount, 0o755);
    const port = new URL(api.url).port;
    // The executor's own pod, as the API server knows it (on another node: this server's kubelet leaves it).
    const podName = `executor-${randomBytes(4).toString('hex')}`;
    const pod = api.store.create('pods', NAMESPACE, { metadata: { name: podName, labels: { 'app.kubernetes.io/name': 'executor' } }, spec: { nodeName: 'elsewhere', containers: [{ name: 'executor', image }] }, status: { phase: 'Running' } })!;
    const id = await admin.enqueue('batches', { repositoryName: 'github.com/acme/kubernetes-e2e', commit: firstCommit, dockerSteps: [{ key: 'hello', image: BUSYBOX_IMAGE, commands: ['cat top.txt'] }] });
    const name = `executor-k8s-test-${randomBytes(4).toString('hex')}`;
    try {
      const { stdout } = await run('docker', [
        'run', '--rm', '--name', name, '--network', 'host', '--hostname', podName,
        '--user', '1000:1000', '--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
        '-v', `${serviceAccount}:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
        '-e', 'KUBERNETES_SERVICE_HOST=127.0.0.1', '-e', `KUBERNETES_SERVICE_PORT=${port}`,
        ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        image, 'run',
      ], { timeout: 150_000 });
      void stdout;
    } finally {
      await run('docker', ['rm', '--force', name]).catch(() => undefined);
      await fs.rm(serviceAccount, { recursive: true, force: true });
    }
    const job = await view(id);
    expect(job.state, JSON.stringify(job, null, 2)).toBe('completed');
    expect(entry(job, 'step.kubernetes.hello').out).toContain('stdout: first version');
    // It found its pod: the Job is owned by it, and the job pod's setup container runs the executor's image.
    const created = api.created.find((c) => c.resource === 'jobs' && c.object.metadata.labels?.[KUBERNETES_LABEL.jobId] === String(id))!.object;
    expect(created.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: podName, uid: pod.metadata.uid, blockOwnerDeletion: false }]);
    const spec = (created.spec as { template: { spec: { initContainers: Array<{ name: string; image: string }> } } }).template.spec;
    expect(spec.initContainers[0]).toMatchObject({ name: 'setup-workspace', image });
    api.cluster.delete('pods', NAMESPACE, podName, undefined);
  }, 240_000);

  it('every verb the runtime used is one the shipped Role grants, and every verb the Role grants was used', () => {
    expect(api.denials.map(describeAttributes)).toEqual([]);
    const used = new Set(api.grants.map(describeAttributes));
    const granted = KUBERNETES_RUNTIME_PERMISSIONS.flatMap((p) => p.verbs.map((verb) => describeAttributes({ verb, group: p.group, resource: p.resource, subresource: p.subresource })));
    expect(granted.filter((g) => !used.has(g))).toEqual([]);
    expect([...used].filter((u) => !granted.includes(u))).toEqual([]);
  });
});
