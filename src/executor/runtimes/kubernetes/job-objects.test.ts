// The job's objects as the runtime sends them: valid against the Kubernetes schemas (kubernetes-models),
// within the API server's name and label limits, secrets only in the Secret, and the configuration's
// scheduling and security settings where Kubernetes reads them.
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim, Secret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import type { StepSpec } from '../runtime.js';
import { buildJobObjects, jobObjectLabels, jobObjectNames, labelValueFor, MAX_SECRET_BYTES, stepWorkingDir, type JobObjectsOptions } from './job-objects.js';
import { loadKubernetesConfig, type KubernetesConfig } from './kubernetes-config.js';
import { decodeWorkspaceJob } from './workspace-job.js';

const IN_CLUSTER = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
const config = (env: Record<string, string> = {}): KubernetesConfig => {
  const { config: c, problems } = loadKubernetesConfig({ ...IN_CLUSTER, ...env }, { homeDir: '/nonexistent', fileExists: () => false });
  expect(problems).toEqual([]);
  return c;
};

const JOB: DequeuedJob = {
  id: 42,
  queue: 'batches',
  token: 'job-token-0123456789',
  repositoryName: 'github.com/acme/app',
  repositoryDirectory: '',
  commit: 'a'.repeat(40),
  fetchTags: false,
  shallowClone: true,
  sparseCheckout: [],
  files: { 'inputs/a.bin': { content: Buffer.from([0, 1, 2, 255]), modifiedAt: '2024-01-02T03:04:05Z' }, 'big.txt': { content: undefined, bucket: 'batch-changes', key: 'k1' } },
  dockerSteps: [
    { key: 'one', image: 'alpine:3', commands: ['echo one'], env: ['SECRET=s3cr3t', 'EMPTY=', 'not-a-pair'] },
    { image: 'registry.example.com/tools/x@sha256:' + 'b'.repeat(64), commands: ['echo two'], dir: 'sub/dir' },
  ],
  cliSteps: [],
  redactedValues: { s3cr3t: 'REDACTED' },
};

const steps: StepSpec[] = JOB.dockerSteps.map((s, index) => ({ key: `step.kubernetes.${index}`, index, image: s.image, scriptPath: `.sourcegraph-executor/42.${index}_x.sh`, dir: s.dir ?? '', env: [...(s.env ?? [])] }));
const owner = { pid: 4321, startedAt: 1_700_000_000_000, executorName: 'host-1-uuid' };

function build(overrides: Partial<JobObjectsOptions> = {}, env: Record<string, string> = {}) {
  const names = jobObjectNames(JOB, 'abcde');
  return buildJobObjects({
    job: JOB,
    steps,
    config: config(env),
    names,
    labels: jobObjectLabels(owner, 'host-1', JOB, names.job),
    executorName: 'host-1-uuid',
    frontendUrl: 'https://sourcegraph.example.com',
    namespace: 'executors',
    setupImage: 'executors/executor:latest',
    ...overrides,
  });
}

describe('the job objects', () => {
  it('are valid against the Kubernetes schemas', () => {
    const objects = build({ ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'] }, { KUBERNETES_JOB_VOLUME_TYPE: 'pvc', KUBERNETES_RUN_AS_USER: '1000', EXECUTOR_KUBERNETES_NODE_TOLERATIONS: '[{"operator": "Exists"}]' });
    expect(() => new Job(objects.job as never).validate()).not.toThrow();
    expect(() => new Secret(objects.secret as never).validate()).not.toThrow();
    expect(() => new PersistentVolumeClaim(objects.pvc as never).validate()).not.toThrow();
  });

  it('name the job sg-executor-job-<queue>-<id>-<suffix>, within the 63 characters of a label, for any queue name', () => {
    expect(jobObjectNames({ id: 42, queue: 'batches' }, 'abcde')).toEqual({ job: 'sg-executor-job-batches-42-abcde', secret: 'sg-executor-job-batches-42-abcde-secrets', pvc: 'sg-executor-job-batches-42-abcde-pvc' });
    const long = jobObjectNames({ id: Number.MAX_SAFE_INTEGER, queue: 'a_very_long_queue_name_that_goes_on_and_on' }, 'abcde').job;
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(long.endsWith(`-${Number.MAX_SAFE_INTEGER}-abcde`)).toBe(true);
  });

  it('label values: a hostname longer than a label holds becomes a hash', () => {
    expect(labelValueFor('host-1')).toBe('host-1');
    const hashed = labelValueFor('h'.repeat(80));
    expect(hashed).toMatch(/^h-[0-9a-f]{40}$/);
    expect(labelValueFor('h'.repeat(80))).toBe(hashed);
  });

  it('keep the token, the payload and the step environment in the Secret, not in the Job', () => {
    const { job, secret } = build();
    const text = JSON.stringify(job);
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain(JOB.token);
    const data = Object.fromEntries(Object.entries(secret.data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    expect(data.TOKEN).toBe(JOB.token);
    expect(data['step-0-env-0']).toBe('s3cr3t');
    expect(data['step-0-env-1']).toBe('');
    const step0 = job.spec!.template.spec!.initContainers![1]!;
    expect(step0.env).toEqual([
      { name: 'SECRET', valueFrom: { secretKeyRef: { name: 'sg-executor-job-batches-42-abcde-secrets', key: 'step-0-env-0' } } },
      { name: 'EMPTY', valueFrom: { secretKeyRef: { name: 'sg-executor-job-batches-42-abcde-secrets', key: 'step-0-env-1' } } },
    ]);
    // The payload the setup container reads back: files with their bytes, no redacted values or registry credentials.
    const workspace = decodeWorkspaceJob(data['job.json']!, data.TOKEN!);
    expect(workspace.job.files['inputs/a.bin']!.content).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(workspace.job.files['big.txt']).toMatchObject({ bucket: 'batch-changes', key: 'k1' });
    expect(workspace.job.redactedValues).toEqual({});
    expect(workspace).toMatchObject({ executorName: 'host-1-uuid', frontendUrl: 'https://sourcegraph.example.com' });
    // Only the setup container mounts the Secret.
    const mounts = job.spec!.template.spec!.initContainers!.map((c) => (c.volumeMounts ?? []).map((m) => m.name));
    expect(mounts).toEqual([['job-data', 'job-secrets'], ['job-data'], ['job-data']]);
  });

  it('run the workspace setup first, then each step in order, as init containers, and a trivial main container', () => {
    const { job } = build({ setupImage: 'registry.example.com/executor:1' });
    const spec = job.spec!.template.spec!;
    expect(spec.initContainers!.map((c) => [c.name, c.image])).toEqual([
      ['setup-workspace', 'registry.example.com/executor:1'],
      ['step-0', 'alpine:3'],
      ['step-1', JOB.dockerSteps[1]!.image],
    ]);
    expect(spec.initContainers![0]!.args).toEqual(['prepare-workspace', '--job', '/executor-job/job.json', '--token', '/executor-job/TOKEN', '--workspace', '/job']);
    expect(spec.initContainers![1]!.command).toEqual(['/bin/sh', '/job/.sourcegraph-executor/42.0_x.sh']);
    expect(spec.initContainers![2]!.workingDir).toBe('/job/sub/dir');
    expect(spec.containers).toMatchObject([{ name: 'main', image: 'registry.example.com/executor:1', command: ['true'] }]);
    expect(spec).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false, enableServiceLinks: false });
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 1200, ttlSecondsAfterFinished: 600 });
    expect(spec.volumes![0]).toEqual({ name: 'job-data', emptyDir: { sizeLimit: '5Gi' } });
  });

  it('put the scheduling settings where Kubernetes reads them, and no empty node selector term', () => {
    const onlyExpressions = build({}, { EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_EXPRESSIONS: '[{"key": "pool", "operator": "In", "values": ["x"]}]' }).job.spec!.template.spec!;
    expect(onlyExpressions.affinity).toEqual({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['x'] }] }] } } });
    expect(build().job.spec!.template.spec!.affinity).toBeUndefined();
    const spec = build({}, {
      EXECUTOR_KUBERNETES_NODE_NAME: 'node-1',
      EXECUTOR_KUBERNETES_NODE_SELECTOR: 'pool=executors',
      EXECUTOR_KUBERNETES_POD_ANTI_AFFINITY: '[{"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]',
      EXECUTOR_KUBERNETES_NODE_TOLERATIONS: '[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]',
      KUBERNETES_IMAGE_PULL_SECRETS: 'regcred',
      EXECUTOR_KUBERNETES_RESOURCE_LIMIT_CPU: '2',
    }).job.spec!.template.spec!;
    expect(spec).toMatchObject({
      nodeName: 'node-1',
      nodeSelector: { pool: 'executors' },
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname' }] } },
      tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      imagePullSecrets: [{ name: 'regcred' }],
    });
    expect(spec.initContainers![1]!.resources).toEqual({ limits: { cpu: '2', memory: '12Gi' }, requests: { memory: '12Gi' } });
  });

  it('run as non-root when KUBERNETES_RUN_AS_USER is set, with git told the root-owned workspace is safe', () => {
    const spec = build({}, { KUBERNETES_RUN_AS_USER: '1000', KUBERNETES_RUN_AS_GROUP: '1000' }).job.spec!.template.spec!;
    expect(spec.securityContext).toEqual({ runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.initContainers!.every((c) => c.securityContext?.allowPrivilegeEscalation === false)).toBe(true);
    expect(spec.initContainers![1]!.env!.slice(0, 3)).toEqual([
      { name: 'GIT_CONFIG_COUNT', value: '1' },
      { name: 'GIT_CONFIG_KEY_0', value: 'safe.directory' },
      { name: 'GIT_CONFIG_VALUE_0', value: '/job' },
    ]);
    expect(build().job.spec!.template.spec!.securityContext).toEqual({ fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('make the executor\'s own pod the Job\'s owner, and keep no TTL with KUBERNETES_KEEP_JOBS', () => {
    const owned = build({ ownerPod: { apiVersion: 'v1', kind: 'Pod', name: 'executor-abc', uid: 'uid-1' } }).job;
    expect(owned.metadata!.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Pod', name: 'executor-abc', uid: 'uid-1', blockOwnerDeletion: false }]);
    expect(build({}, { KUBERNETES_KEEP_JOBS: 'true' }).job.spec!.ttlSecondsAfterFinished).toBeUndefined();
  });

  it('refuse a step dir outside the workspace, and a payload larger than a Secret', () => {
    expect(stepWorkingDir('')).toBe('/job');
    expect(stepWorkingDir('a/../b')).toBe('/job/b');
    expect(() => stepWorkingDir('../etc')).toThrow(/leaves the workspace/);
    expect(() => stepWorkingDir('/etc')).toThrow(/leaves the workspace/);
    const big: DequeuedJob = { ...JOB, files: { 'big.bin': { content: Buffer.alloc(MAX_SECRET_BYTES) } } };
    expect(() => buildJobObjects({ job: big, steps, config: config(), names: jobObjectNames(big, 'abcde'), labels: {}, executorName: 'x', frontendUrl: 'https://x.example', namespace: 'executors', setupImage: 'x' })).toThrow(/more than a Kubernetes Secret holds/);
  });
});
