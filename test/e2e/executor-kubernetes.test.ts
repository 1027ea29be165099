// bin/executor on the kubernetes runtime against bin/coordinator, both real processes. No Kubernetes API
// server can run on these machines (no kube-apiserver, kind or k3s installs here), so the API server is
// the test one (test/helpers/kubernetes-api-server): the real API's shapes, the shipped Role enforced,
// every object validated against the Kubernetes schemas, and each job pod's containers really run, in
// order, by the local docker engine — the setup container from the executor image built from this
// checkout, the steps from a busybox image.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
  const view = async (id: number) => (await admin.job('batches', id)).json as JobView;
  const entry = (job: JobView, key: string) => {
    const found = job.executionLogs.find((e) => e.key === key);
    if (!found) throw new Error(`no log entry ${key} in ${job.executionLogs.map((e) => e.key).join(', ')}`);
    return found;
  };
  /** The objects of job `id` still in the API server. */
  const objectsOf = (id: number) =>
    (['jobs', 'secrets', 'persistentvolumeclaims', 'pods'] as const).flatMap((resource) => api.store.list(resource, NAMESPACE, `${KUBERNETES_LABEL.jobId}=${id}`).map((o) => `${resource}/${o.metadata.name}`));

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
    if (process.env.SHOW_JOB) console.log(JSON.stringify(job.executionLogs, null, 1));
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

  it('every verb the runtime used is one the shipped Role grants, and every verb the Role grants was used', () => {
    expect(api.denials.map(describeAttributes)).toEqual([]);
    const used = new Set(api.grants.map(describeAttributes));
    const granted = KUBERNETES_RUNTIME_PERMISSIONS.flatMap((p) => p.verbs.map((verb) => describeAttributes({ verb, group: p.group, resource: p.resource, subresource: p.subresource })));
    expect(granted.filter((g) => !used.has(g))).toEqual([]);
    void fs;
  });
});
