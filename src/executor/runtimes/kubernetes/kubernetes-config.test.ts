// loadKubernetesConfig: the original's variable names and defaults (reference §6.2), the credentials
// chosen, and a message naming the variable for every bad value, JSON ones checked against the schemas.
import { describe, expect, it } from 'vitest';
import { loadKubernetesConfig } from './kubernetes-config.js';

type Env = Record<string, string | undefined>;
const IN_CLUSTER: Env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
const noFiles: { homeDir: string; fileExists: (file: string) => boolean } = { homeDir: '/home/executor', fileExists: () => false };
const load = (env: Env, seams = noFiles) => loadKubernetesConfig({ ...IN_CLUSTER, ...env }, seams);
const problemsOf = (env: Env) => load(env).problems;

describe('loadKubernetesConfig', () => {
  it('has the original\'s defaults', () => {
    const { config, problems } = load({});
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      credentials: { kind: 'in-cluster' },
      namespace: undefined,
      nodeName: undefined,
      nodeSelector: {},
      resourceLimit: { cpu: undefined, memory: '12Gi' },
      resourceRequest: { cpu: undefined, memory: '12Gi' },
      jobDeadlineSeconds: 1200,
      keepJobs: false,
      runAsUser: undefined,
      runAsGroup: undefined,
      fsGroup: 1000,
      jobVolumeType: 'emptyDir',
      jobVolumeSize: '5Gi',
      setupImage: undefined,
      imagePullSecrets: [],
      schedulingTimeoutMs: 300_000,
    });
  });

  it('uses ~/.kube/config when it exists, an explicit path when named, and refuses a named path that does not exist', () => {
    expect(loadKubernetesConfig({}, { homeDir: '/home/executor', fileExists: (f) => f === '/home/executor/.kube/config' }).config.credentials).toEqual({ kind: 'kubeconfig', path: '/home/executor/.kube/config' });
    expect(load({ EXECUTOR_KUBERNETES_CONFIG_PATH: '/etc/kube.yaml' }, { ...noFiles, fileExists: (f) => f === '/etc/kube.yaml' }).config.credentials).toEqual({ kind: 'kubeconfig', path: '/etc/kube.yaml' });
    expect(problemsOf({ EXECUTOR_KUBERNETES_CONFIG_PATH: '/nope' })).toEqual(['EXECUTOR_KUBERNETES_CONFIG_PATH="/nope": no such file; expected a kubeconfig file']);
  });

  it('says what to do with neither a kubeconfig nor a cluster', () => {
    expect(loadKubernetesConfig({}, noFiles).problems).toEqual([
      'EXECUTOR_KUBERNETES_CONFIG_PATH: no kubeconfig at /home/executor/.kube/config and not running in a cluster (KUBERNETES_SERVICE_HOST/_PORT unset); set it to a kubeconfig file, or run the executor in a pod with a service account',
    ]);
  });

  it('reads every variable, some of them without the EXECUTOR_ prefix', () => {
    const { config, problems } = load({
      EXECUTOR_KUBERNETES_NAMESPACE: 'ci',
      EXECUTOR_KUBERNETES_NODE_NAME: 'node-1.example',
      EXECUTOR_KUBERNETES_NODE_SELECTOR: 'disktype=ssd, pool=executors',
      EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_EXPRESSIONS: '[{"key": "pool", "operator": "In", "values": ["executors"]}]',
      EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_FIELDS: '[{"key": "metadata.name", "operator": "NotIn", "values": ["node-9"]}]',
      EXECUTOR_KUBERNETES_POD_AFFINITY: '[{"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "kubernetes.io/hostname"}]',
      EXECUTOR_KUBERNETES_POD_ANTI_AFFINITY: '[{"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "topology.kubernetes.io/zone"}]',
      EXECUTOR_KUBERNETES_NODE_TOLERATIONS: '[{"key": "dedicated", "operator": "Equal", "value": "executors", "effect": "NoSchedule"}]',
      EXECUTOR_KUBERNETES_RESOURCE_LIMIT_CPU: '2',
      EXECUTOR_KUBERNETES_RESOURCE_REQUEST_CPU: '500m',
      EXECUTOR_KUBERNETES_RESOURCE_LIMIT_MEMORY: '4Gi',
      EXECUTOR_KUBERNETES_RESOURCE_REQUEST_MEMORY: '1Gi',
      KUBERNETES_JOB_DEADLINE: '600',
      KUBERNETES_KEEP_JOBS: 'true',
      KUBERNETES_RUN_AS_USER: '1000',
      KUBERNETES_RUN_AS_GROUP: '2000',
      KUBERNETES_FS_GROUP: '-1',
      KUBERNETES_JOB_VOLUME_TYPE: 'pvc',
      KUBERNETES_JOB_VOLUME_SIZE: '20Gi',
      KUBERNETES_ADDITIONAL_JOB_VOLUMES: '[{"name": "certs", "secret": {"secretName": "custom-certs"}}]',
      KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS: '[{"name": "certs", "mountPath": "/certs", "readOnly": true}]',
      KUBERNETES_SINGLE_JOB_STEP_IMAGE: 'registry.example.com/executors/executor:1.2',
      KUBERNETES_GIT_CA_CERT: '/certs/ca.pem',
      KUBERNETES_JOB_ANNOTATIONS: '{"team": "search"}',
      KUBERNETES_JOB_POD_ANNOTATIONS: '{"example.com/cost-center": "42"}',
      KUBERNETES_IMAGE_PULL_SECRETS: 'regcred, other-regcred',
      EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT: '90s',
    });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      namespace: 'ci',
      nodeName: 'node-1.example',
      nodeSelector: { disktype: 'ssd', pool: 'executors' },
      nodeRequiredAffinityMatchExpressions: [{ key: 'pool', operator: 'In', values: ['executors'] }],
      nodeRequiredAffinityMatchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['node-9'] }],
      podAffinity: [{ topologyKey: 'kubernetes.io/hostname' }],
      podAntiAffinity: [{ topologyKey: 'topology.kubernetes.io/zone' }],
      tolerations: [{ key: 'dedicated', effect: 'NoSchedule' }],
      resourceLimit: { cpu: '2', memory: '4Gi' },
      resourceRequest: { cpu: '500m', memory: '1Gi' },
      jobDeadlineSeconds: 600,
      keepJobs: true,
      runAsUser: 1000,
      runAsGroup: 2000,
      fsGroup: undefined,
      jobVolumeType: 'pvc',
      jobVolumeSize: '20Gi',
      additionalVolumes: [{ name: 'certs' }],
      additionalVolumeMounts: [{ name: 'certs', mountPath: '/certs' }],
      setupImage: 'registry.example.com/executors/executor:1.2',
      gitCaCertPath: '/certs/ca.pem',
      jobAnnotations: { team: 'search' },
      podAnnotations: { 'example.com/cost-center': '42' },
      imagePullSecrets: ['regcred', 'other-regcred'],
      schedulingTimeoutMs: 90_000,
    });
  });

  it('names the variable and the schema\'s complaint for JSON that is not what Kubernetes takes', () => {
    expect(problemsOf({ EXECUTOR_KUBERNETES_NODE_TOLERATIONS: '[{"key": "a", "operator": "Bogus", "effect": "NoSchedule"}]' })).toEqual([
      'EXECUTOR_KUBERNETES_NODE_TOLERATIONS: item 0: operator must be one of Equal, Exists',
    ]);
    expect(problemsOf({ EXECUTOR_KUBERNETES_NODE_TOLERATIONS: '{"key": "a"}' })[0]).toMatch(/^EXECUTOR_KUBERNETES_NODE_TOLERATIONS: expected a JSON array such as /);
    expect(problemsOf({ EXECUTOR_KUBERNETES_NODE_TOLERATIONS: '[{' })[0]).toMatch(/^EXECUTOR_KUBERNETES_NODE_TOLERATIONS: not valid JSON; /);
    expect(problemsOf({ EXECUTOR_KUBERNETES_POD_AFFINITY: '[{"labelSelector": {"matchLabels": {"app": "x"}}}]' })).toEqual([
      'EXECUTOR_KUBERNETES_POD_AFFINITY: item 0: topologyKey is required',
    ]);
    expect(problemsOf({ KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS: '[{"name": "certs", "mountPath": "/certs"}]' })).toEqual([
      'KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS: the mount of "certs" names no volume of KUBERNETES_ADDITIONAL_JOB_VOLUMES',
    ]);
    expect(problemsOf({ KUBERNETES_ADDITIONAL_JOB_VOLUMES: '[{"name": "job-data", "emptyDir": {}}]' })).toEqual([
      'KUBERNETES_ADDITIONAL_JOB_VOLUMES: the volume name "job-data" is the runtime\'s own; choose another',
    ]);
    expect(problemsOf({ KUBERNETES_JOB_ANNOTATIONS: '{"team": 42}' })).toEqual(['KUBERNETES_JOB_ANNOTATIONS: the value of "team" must be a string']);
  });

  it('names each bad plain value', () => {
    expect(problemsOf({ EXECUTOR_KUBERNETES_NAMESPACE: 'Bad_NS' })).toEqual(['EXECUTOR_KUBERNETES_NAMESPACE="Bad_NS": expected a namespace name (lowercase letters, digits and -, at most 63)']);
    expect(problemsOf({ EXECUTOR_KUBERNETES_NODE_SELECTOR: 'disktype' })[0]).toMatch(/^EXECUTOR_KUBERNETES_NODE_SELECTOR="disktype": "disktype" is not a label key=value pair/);
    expect(problemsOf({ EXECUTOR_KUBERNETES_RESOURCE_LIMIT_MEMORY: '12GB' })).toEqual(['EXECUTOR_KUBERNETES_RESOURCE_LIMIT_MEMORY="12GB": expected a Kubernetes quantity such as 500m, 2, 512Mi or 12Gi']);
    expect(problemsOf({ KUBERNETES_JOB_DEADLINE: '0' })).toEqual(['KUBERNETES_JOB_DEADLINE="0": expected a whole number of seconds, at least 1']);
    expect(problemsOf({ KUBERNETES_RUN_AS_USER: 'root' })).toEqual(['KUBERNETES_RUN_AS_USER="root": expected a user or group id (0 or more), or -1 for none']);
    expect(problemsOf({ KUBERNETES_JOB_VOLUME_TYPE: 'hostPath' })).toEqual(['KUBERNETES_JOB_VOLUME_TYPE="hostPath": expected emptyDir or pvc']);
    expect(problemsOf({ KUBERNETES_KEEP_JOBS: 'maybe' })[0]).toMatch(/^KUBERNETES_KEEP_JOBS="maybe": /);
    expect(problemsOf({ KUBERNETES_GIT_CA_CERT: 'ca.pem' })[0]).toMatch(/^KUBERNETES_GIT_CA_CERT="ca.pem": expected an absolute path/);
    expect(problemsOf({ KUBERNETES_IMAGE_PULL_SECRETS: 'ok,Not OK' })[0]).toMatch(/^KUBERNETES_IMAGE_PULL_SECRETS: "Not OK" is not a Secret name/);
    expect(problemsOf({ EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT: 'soon' })[0]).toMatch(/^EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT="soon": invalid duration/);
  });

  it('reports every problem at once', () => {
    expect(problemsOf({ KUBERNETES_JOB_DEADLINE: 'x', KUBERNETES_JOB_VOLUME_TYPE: 'y', EXECUTOR_KUBERNETES_NAMESPACE: 'Z' })).toHaveLength(3);
  });
});
