// `executor validate` on the kubernetes runtime, against the test API server (no real API server can run
// here; this one answers SelfSubjectAccessReviews from the Role it is given) and a real coordinator.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExecutorCli } from '../../src/executor/main.js';
import { KUBERNETES_RUNTIME_PERMISSIONS } from '../../src/executor/runtimes/kubernetes/kubernetes-permissions.js';
import { startTestKubernetesApiServer, type TestKubernetesApiServer } from '../helpers/kubernetes-api-server/api-server.js';
import { loadRoleRules, type PolicyRule } from '../helpers/kubernetes-api-server/rbac.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';

/** How many verbs the runtime uses (and validate asks about). */
const VERBS = KUBERNETES_RUNTIME_PERMISSIONS.reduce((n, p) => n + p.verbs.length, 0);
const ROLE_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/kubernetes/base/role.yaml');

describe('executor validate on the kubernetes runtime', () => {
  let coordinator: TestCoordinator;
  let api: TestKubernetesApiServer;
  let dir: string;
  let kubeconfig: string;
  let shipped: PolicyRule[];

  beforeAll(async () => {
    coordinator = await startTestCoordinator('pglite');
    shipped = loadRoleRules(ROLE_FILE);
    api = await startTestKubernetesApiServer({ rules: shipped, namespaces: ['executors'] });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kubernetes-validate-'));
    kubeconfig = await api.writeKubeconfig(path.join(dir, 'kubeconfig'));
  });
  afterAll(async () => {
    await api?.close();
    await coordinator?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const validate = async (extra: Record<string, string> = {}) => {
    let out = '';
    let err = '';
    const code = await runExecutorCli(
      ['validate'],
      {
        EXECUTOR_FRONTEND_URL: coordinator.url,
        EXECUTOR_FRONTEND_PASSWORD: coordinator.executorToken,
        EXECUTOR_QUEUE_NAME: 'batches',
        EXECUTOR_RUNTIME: 'kubernetes',
        EXECUTOR_KUBERNETES_CONFIG_PATH: kubeconfig,
        ...extra,
      },
      { stdout: (t) => (out += t), stderr: (t) => (err += t) },
    );
    return { code, out, err };
  };

  it('passes with the shipped Role: the credentials are accepted and every verb is allowed in the context\'s namespace', async () => {
    api.setRules(shipped);
    const { code, out, err } = await validate();
    expect(err).toBe('');
    expect(out).toContain(`ok    kubernetes credentials: ${api.url} accepted the credentials of kubeconfig ${kubeconfig}; job namespace executors\n`);
    expect(out).toContain(`ok    kubernetes permissions: all ${VERBS} verbs the runtime uses are allowed in namespace executors\n`);
    // The job pod clones; the executor's host needs no git.
    expect(out).not.toMatch(/^ok {4}git:/m);
    expect(out.trimEnd().split('\n').at(-1)).toBe('All checks passed!');
    expect(code).toBe(0);
  });

  it('names every verb a narrower Role does not allow', async () => {
    api.setRules([
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets', 'persistentvolumeclaims'], verbs: ['create', 'patch', 'list', 'delete'] },
    ]);
    const { code, out, err } = await validate();
    expect(out).toContain('ok    kubernetes credentials:');
    expect(out).toContain(`FAIL  kubernetes permissions: 2 of the ${VERBS} verbs the runtime uses are not allowed in namespace executors: delete batch/jobs, get pods/log\n`);
    expect(err).toContain('the Role of deploy/kubernetes');
    expect(code).toBe(1);
  });

  it('fails the credentials when the API server refuses the token', async () => {
    api.setRules(shipped);
    const wrong = await api.writeKubeconfig(path.join(dir, 'wrong-token'), { token: 'not-the-token' });
    const { code, out } = await validate({ EXECUTOR_KUBERNETES_CONFIG_PATH: wrong });
    expect(out).toContain(`FAIL  kubernetes credentials: ${api.url} refused the credentials of kubeconfig ${wrong} (HTTP 401)\n`);
    expect(out).toContain('FAIL  kubernetes permissions: not checked: the API server cannot be used with these credentials\n');
    expect(code).toBe(1);
  });

  it('finds nothing allowed in a namespace the Role is not bound in', async () => {
    api.setRules(shipped);
    const { code, out } = await validate({ EXECUTOR_KUBERNETES_NAMESPACE: 'elsewhere' });
    expect(out).toContain(`FAIL  kubernetes permissions: ${VERBS} of the ${VERBS} verbs the runtime uses are not allowed in namespace elsewhere: create batch/jobs, `);
    expect(code).toBe(1);
  });
});
