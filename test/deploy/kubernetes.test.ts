// The two Kubernetes deployments as they render: deploy/kubernetes through `kubectl kustomize` (offline,
// the kustomize in kubectl), and the Helm chart deploy/helm/executor through test/helpers/go-template.ts
// (no helm binary installs here: a Go-template renderer with the Sprig functions the chart uses stands in
// for `helm template`). No API server can run here, so `kubectl apply --dry-run` cannot either: every
// rendered object is validated against the Kubernetes OpenAPI schemas with kubernetes-models instead, and
// the executor's configuration each deployment produces is loaded by the executor's own config loader.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExecutorConfig } from '../../src/executor/config.js';
import { KUBERNETES_RUNTIME_PERMISSIONS } from '../../src/executor/runtimes/kubernetes/kubernetes-permissions.js';
import { chartValues, renderChart, schemaProblems } from '../helpers/helm-chart.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KUSTOMIZE = path.join(ROOT, 'deploy/kubernetes');
const CHART = path.join(ROOT, 'deploy/helm/executor');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  securityContext?: { privileged?: boolean; runAsNonRoot?: boolean; runAsUser?: number };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: object }>;
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace as never,
  'v1/ServiceAccount': ServiceAccount as never,
  'v1/ConfigMap': ConfigMap as never,
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'apps/v1/Deployment': Deployment as never,
  'rbac.authorization.k8s.io/v1/Role': Role as never,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as never,
};

/** Validates every object against its schema; fails naming the object and the schema's complaint. */
function validateAll(objects: Manifest[]): void {
  expect(objects.length).toBeGreaterThan(0);
  for (const object of objects) {
    const Model = MODELS[`${object.apiVersion}/${object.kind}`];
    expect(Model, `no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
    expect(() => new Model!(object as never).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
  }
}

const find = (objects: Manifest[], kind: string, name?: string) => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`).toHaveLength(1);
  return found[0]!;
};
const podSpec = (deployment: Manifest) => (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const containerOf = (deployment: Manifest, name: string) => {
  const c = podSpec(deployment).containers.find((x) => x.name === name);
  expect(c, `container ${name}`).toBeDefined();
  return c!;
};

/** `verb group/resource[/sub]` for each verb a Role grants. */
function grantsOf(role: Manifest): string[] {
  const rules = (role as unknown as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> }).rules;
  return rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g ? `${g}/` : ''}${res}`)))).sort();
}
const RUNTIME_VERBS = KUBERNETES_RUNTIME_PERMISSIONS.flatMap((p) => p.verbs.map((v) => `${v} ${p.group ? `${p.group}/` : ''}${p.resource}${p.subresource ? `/${p.subresource}` : ''}`)).sort();

/** The executor's environment from its Deployment: its ConfigMap's and Secret's data (decoded). */
function executorEnv(objects: Manifest[], deployment: Manifest): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of containerOf(deployment, 'executor').envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, (find(objects, 'ConfigMap', source.configMapRef.name) as unknown as { data: Record<string, string> }).data);
    if (source.secretRef) {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === source.secretRef!.name) as unknown as { data: Record<string, string> } | undefined;
      expect(secret, `Secret ${source.secretRef.name}`).toBeDefined();
      for (const [k, v] of Object.entries(secret!.data)) env[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  return env;
}

/** What both modes share: the probes on the debug server, settings the executor itself accepts. */
function checkExecutor(objects: Manifest[], deployment: Manifest, extraEnv: Record<string, string> = {}) {
  const executor = containerOf(deployment, 'executor');
  const env = executorEnv(objects, deployment);
  const port = Number(/:(\d+)$/.exec(env.SRC_PROF_HTTP ?? '')?.[1]);
  expect(executor.ports).toContainEqual({ name: 'http-debug', containerPort: port });
  expect(executor.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http-debug' });
  expect(executor.readinessProbe?.httpGet).toEqual({ path: '/ready', port: 'http-debug' });
  find(objects, 'ServiceAccount', podSpec(deployment).serviceAccountName);
  // The executor's own loader takes every variable as the deployment sets it (in a pod's environment).
  const config = loadExecutorConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: '/nonexistent', ...env, ...extraEnv });
  expect(config.debugServerAddress).toBe(env.SRC_PROF_HTTP);
  return { env, config };
}

function checkNative(objects: Manifest[], namespace: string) {
  validateAll(objects);
  const deployment = find(objects, 'Deployment');
  const { config } = checkExecutor(objects, deployment);
  expect(config.runtime).toBe('kubernetes');
  expect(config.kubernetes?.credentials).toEqual({ kind: 'in-cluster' });
  // Exactly the verbs the runtime uses, bound to the executor's service account in its namespace.
  const role = find(objects, 'Role');
  expect(grantsOf(role)).toEqual(RUNTIME_VERBS);
  const binding = find(objects, 'RoleBinding') as unknown as { roleRef: { kind: string; name: string }; subjects: Array<{ kind: string; name: string; namespace?: string }> };
  expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
  expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: podSpec(deployment).serviceAccountName, namespace }]);
  expect(podSpec(deployment).automountServiceAccountToken).not.toBe(false);
  // The executor needs no privilege of its own.
  expect(podSpec(deployment).securityContext).toMatchObject({ runAsNonRoot: true });
  for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace ?? namespace, `${o.kind} ${o.metadata.name}`).toBe(namespace);
}

function checkDind(objects: Manifest[]) {
  validateAll(objects);
  const deployment = find(objects, 'Deployment', objects.find((o) => o.kind === 'Deployment' && podSpec(o).containers.some((c) => c.name === 'dind'))?.metadata.name);
  const { env, config } = checkExecutor(objects, deployment);
  expect(config.runtime).toBe('docker');
  expect(objects.some((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toBe(false);
  expect(podSpec(deployment).automountServiceAccountToken).toBe(false);
  const dind = containerOf(deployment, 'dind');
  expect(dind.image).toMatch(/^docker:[\w.-]*dind$/);
  expect(dind.securityContext?.privileged).toBe(true);
  // The executor talks to the sidecar where it listens: the pod's loopback, the same port.
  expect(env.DOCKER_HOST).toBe('tcp://localhost:2375');
  expect(dind.args).toContain('--host=tcp://127.0.0.1:2375');
  // Workspaces are made where the daemon sees them at the same path.
  expect([env.TMPDIR, env.EXECUTOR_DOCKER_HOST_MOUNT_PATH]).toEqual(['/scratch', '/scratch']);
  const scratch = (c: Container) => c.volumeMounts?.find((m) => m.mountPath === '/scratch')?.name;
  expect(scratch(containerOf(deployment, 'executor'))).toBeDefined();
  expect(scratch(dind)).toBe(scratch(containerOf(deployment, 'executor')));
  // daemon.json is real JSON, mounted where the daemon reads it.
  const mount = dind.volumeMounts!.find((m) => m.mountPath === '/etc/docker/daemon.json')!;
  const volume = podSpec(deployment).volumes!.find((v) => v.name === mount.name)!;
  const daemon = find(objects, 'ConfigMap', volume.configMap!.name) as unknown as { data: Record<string, string> };
  const daemonJson = JSON.parse(daemon.data[mount.subPath!]!) as Record<string, unknown>;
  expect(daemonJson).toMatchObject({ mtu: expect.any(Number) });
  return { deployment, daemonJson };
}

function checkCustomCerts(objects: Manifest[]) {
  const deployment = objects.find((o) => o.kind === 'Deployment' && podSpec(o).containers.some((c) => c.name === 'executor'))!;
  const mount = containerOf(deployment, 'executor').volumeMounts!.find((m) => m.mountPath === '/etc/ssl/certs');
  expect(mount).toMatchObject({ readOnly: true });
  expect(podSpec(deployment).volumes!.find((v) => v.name === mount!.name)).toEqual({ name: mount!.name, secret: { secretName: 'custom-certs' } });
}

function checkRegistryMirror(objects: Manifest[], daemonJson: Record<string, unknown>) {
  const mirrors = daemonJson['registry-mirrors'] as string[];
  expect(mirrors).toHaveLength(1);
  const url = new URL(mirrors[0]!);
  const service = find(objects, 'Service', url.hostname) as unknown as { spec: { selector: Record<string, string>; ports: Array<{ port: number }> } };
  expect(service.spec.ports.map((p) => p.port)).toContain(Number(url.port));
  const registry = objects.find((o) => o.kind === 'Deployment' && o.metadata.name !== 'executor' && podSpec(o).containers.some((c) => c.image.startsWith('registry:')))!;
  expect((registry as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels).toMatchObject(service.spec.selector);
}

const kubectlMissing = await run('kubectl', ['version', '--client']).then(() => false, () => true);

// Needs kubectl (its kustomize); CI machines have it. A skip outside CI says so.
describe.skipIf(kubectlMissing && process.env.CI !== 'true')('deploy/kubernetes rendered by kubectl kustomize (offline), validated against the Kubernetes schemas', () => {
  let dir: string;
  beforeAll(async () => {
    if (kubectlMissing) throw new Error('these tests need kubectl (with kustomize 5) on PATH');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'deploy-kubernetes-'));
  });
  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const kustomize = async (target: string) => yaml.loadAll((await run('kubectl', ['kustomize', target], { maxBuffer: 16 * 1024 * 1024 })).stdout) as Manifest[];
  /** A kustomization of the user's: an overlay plus components, in its own namespace. */
  const userKustomization = async (name: string, overlay: string, components: string[], extra: Record<string, unknown> = {}) => {
    const target = path.join(dir, name);
    await fs.mkdir(target, { recursive: true });
    await fs.writeFile(
      path.join(target, 'kustomization.yaml'),
      yaml.dump({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        namespace: 'executors',
        resources: [path.relative(target, path.join(KUSTOMIZE, 'overlays', overlay))],
        components: components.map((c) => path.relative(target, path.join(KUSTOMIZE, 'components', c))),
        ...extra,
      }),
    );
    return target;
  };

  it('native: the kubernetes runtime with exactly the verbs it uses, in a baseline namespace', async () => {
    const objects = await kustomize(path.join(KUSTOMIZE, 'overlays/native'));
    checkNative(objects, 'executors');
    expect((find(objects, 'Namespace') as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels['pod-security.kubernetes.io/enforce']).toBe('baseline');
  });

  it('dind: the docker runtime against a privileged docker:dind sidecar, no Role, a daemon.json that parses', async () => {
    checkDind(await kustomize(path.join(KUSTOMIZE, 'overlays/dind')));
  });

  it('takes the image, settings and password of one\'s own kustomization as the README shows them', async () => {
    const objects = await kustomize(
      await userKustomization('readme', 'native', [], {
        images: [{ name: 'executors/executor', newName: 'registry.example.com/executors/executor', newTag: '0.1.0' }],
        configMapGenerator: [{ name: 'executor', behavior: 'merge', literals: ['EXECUTOR_FRONTEND_URL=https://sourcegraph.example.com', 'EXECUTOR_QUEUE_NAMES=batches,codeintel'] }],
        secretGenerator: [{ name: 'executor', behavior: 'replace', literals: ['EXECUTOR_FRONTEND_PASSWORD=executors-access-token-0123456789'] }],
      }),
    );
    checkNative(objects, 'executors');
    const deployment = find(objects, 'Deployment');
    expect(containerOf(deployment, 'executor').image).toBe('registry.example.com/executors/executor:0.1.0');
    const { config } = checkExecutor(objects, deployment);
    expect(config).toMatchObject({ frontendUrl: 'https://sourcegraph.example.com', frontendPassword: 'executors-access-token-0123456789', queueNames: ['batches', 'codeintel'] });
  });

  it('the custom-certs component mounts the Secret at /etc/ssl/certs in the executor container, on either overlay', async () => {
    for (const overlay of ['native', 'dind']) {
      const objects = await kustomize(await userKustomization(`certs-${overlay}`, overlay, ['custom-certs']));
      validateAll(objects);
      checkCustomCerts(objects);
    }
  });

  it('the registry-mirror component adds a pull-through cache the daemon.json points at', async () => {
    const objects = await kustomize(await userKustomization('mirror', 'dind', ['registry-mirror', 'custom-certs']));
    const { daemonJson } = checkDind(objects);
    checkRegistryMirror(objects, daemonJson);
  });
});

describe('deploy/helm/executor rendered by the test Go-template renderer (no helm binary here), validated against the Kubernetes schemas', () => {
  const required = { executor: { frontendUrl: 'https://sourcegraph.example.com', frontendPassword: 'executors-access-token-0123456789' } };

  it('values.yaml meets values.schema.json, and the schema refuses a wrong value by name', () => {
    expect(schemaProblems(CHART, chartValues(CHART))).toEqual([]);
    expect(() => renderChart(CHART, { values: { ...required, mode: 'firecracker' } })).toThrow(/\/mode: must be equal to one of the allowed values \(native, dind\)/);
    expect(() => renderChart(CHART, { values: { ...required, kubernetes: { volumeType: 'hostPath' } } })).toThrow(/\/kubernetes\/volumeType/);
    expect(() => renderChart(CHART, { values: { ...required, executor: { ...required.executor, frontendUrl: 'https://sourcegraph.example.com/path' } } })).toThrow(/\/executor\/frontendUrl/);
    expect(() => renderChart(CHART, { values: { ...required, typo: true } })).toThrow(/must NOT have additional properties/);
  });

  it('documents every key of values.yaml', async () => {
    const lines = (await fs.readFile(path.join(CHART, 'values.yaml'), 'utf8')).split('\n');
    const isKey = (line: string) => /^\s*[A-Za-z][\w-]*:/.test(line);
    const indentOf = (line: string) => line.search(/\S/);
    // A key is documented by the comment above it (shared by the sibling keys right after it), or is part
    // of the value of the documented key it belongs to (a map's example entries).
    const undocumented = lines.flatMap((line, i) => {
      if (!isKey(line)) return [];
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() !== '' && (indentOf(lines[j]!) > indentOf(line) || (isKey(lines[j]!) && indentOf(lines[j]!) === indentOf(line)))) j--;
      const above = lines[j] ?? '';
      if (above.trim().startsWith('#') && indentOf(above) === indentOf(line)) return [];
      if (isKey(above) && indentOf(above) < indentOf(line)) return [];
      return [line.trim()];
    });
    expect(undocumented).toEqual([]);
  });

  it('refuses to render without the coordinator\'s URL or password, saying which', () => {
    expect(() => renderChart(CHART)).toThrow(/executor.frontendUrl is required/);
    expect(() => renderChart(CHART, { values: { executor: { frontendUrl: 'https://sourcegraph.example.com' } } })).toThrow(/executor.frontendPassword \(or executor.existingSecret\) is required/);
    expect(renderChart(CHART, { values: { executor: { frontendUrl: 'https://sourcegraph.example.com', existingSecret: 'mine' } } }).objects.some((o) => o.kind === 'Secret')).toBe(false);
  });

  it('native mode: the kubernetes runtime with the Role the kustomize base ships, its settings from the values', () => {
    const { objects, notes } = renderChart(CHART, {
      namespace: 'ci',
      values: { ...required, kubernetes: { jobDeadlineSeconds: 900, volumeType: 'pvc', volumeSize: '10Gi', runAsUser: 1000, nodeSelector: { pool: 'executors' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }] }, executor: { ...required.executor, queueNames: ['batches', 'codeintel'], env: { EXECUTOR_MAXIMUM_RUNTIME_PER_JOB: '45m' } } },
    });
    checkNative(objects as Manifest[], 'ci');
    const { config } = checkExecutor(objects as Manifest[], find(objects as Manifest[], 'Deployment'));
    expect(config.queueNames).toEqual(['batches', 'codeintel']);
    expect(config.maximumRuntimePerJobMs).toBe(45 * 60_000);
    expect(config.kubernetes).toMatchObject({ namespace: 'ci', jobDeadlineSeconds: 900, jobVolumeType: 'pvc', jobVolumeSize: '10Gi', runAsUser: 1000, nodeSelector: { pool: 'executors' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }], setupImage: 'executors/executor:latest' });
    expect(notes).toContain('native mode');
  });

  it('the chart\'s Role and the kustomize base\'s grant the same verbs', async () => {
    const base = yaml.load(await fs.readFile(path.join(KUSTOMIZE, 'base/role.yaml'), 'utf8')) as Manifest;
    expect(grantsOf(find(renderChart(CHART, { values: required }).objects as Manifest[], 'Role'))).toEqual(grantsOf(base));
  });

  it('dind mode, with custom certificates and the registry mirror', () => {
    const objects = renderChart(CHART, { values: { ...required, mode: 'dind', customCerts: { secretName: 'custom-certs' }, dind: { registryMirror: { enabled: true } } } }).objects as Manifest[];
    const { daemonJson } = checkDind(objects);
    checkCustomCerts(objects);
    checkRegistryMirror(objects, daemonJson);
    // Without the mirror the daemon's configuration is the values' own.
    const plain = checkDind(renderChart(CHART, { values: { ...required, mode: 'dind' } }).objects as Manifest[]);
    expect(plain.daemonJson).toEqual(chartValues(CHART).dind && (chartValues(CHART).dind as { daemonConfig: unknown }).daemonConfig);
  });
});
