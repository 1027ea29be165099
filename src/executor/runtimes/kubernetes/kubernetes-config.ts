// The kubernetes runtime's settings (reference §6.2), read once at start-up by the executor's config: the
// original's variable names and defaults (some without the EXECUTOR_ prefix), every JSON value checked
// against the Kubernetes schemas so a typo is a start-up error naming the variable, not a rejected job.
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { V1NodeSelectorRequirement, V1PodAffinityTerm, V1Toleration, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { createRequire } from 'node:module';
import { parseGoBool } from '../../../shared/go-bool.js';
import { parseGoDurationMs } from '../../../shared/go-duration.js';

type Env = Record<string, string | undefined>;
const q = JSON.stringify;

/** The kubernetes-models classes the JSON variables are checked with. */
type ModelName = 'NodeSelectorRequirement' | 'PodAffinityTerm' | 'Toleration' | 'Volume' | 'VolumeMount';
type ModelClass = new (data: never) => { validate(): void };
const requireModel = createRequire(import.meta.url);
/**
 * Loaded on first use, one schema at a time: importing all of `kubernetes-models/v1` takes ~360 ms here
 * (these five ~120 ms), which no executor without these variables should pay at start-up.
 */
function model(name: ModelName): ModelClass {
  return (requireModel(`kubernetes-models/v1/${name}`) as Record<ModelName, ModelClass>)[name];
}

/** Where a job's workspace lives: a volume of the pod (`emptyDir`) or a claim made for the job (`pvc`). */
export type KubernetesJobVolumeType = 'emptyDir' | 'pvc';

/** How the executor reaches the API server. */
export type KubernetesCredentials =
  /** A kubeconfig file (its current context). */
  | { kind: 'kubeconfig'; path: string }
  /** The pod's service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token). */
  | { kind: 'in-cluster' };

/** CPU and memory quantities as Kubernetes writes them (`500m`, `12Gi`); undefined = not set. */
export interface KubernetesResources {
  cpu: string | undefined;
  memory: string | undefined;
}

export interface KubernetesConfig {
  /**
   * EXECUTOR_KUBERNETES_CONFIG_PATH, default `~/.kube/config` when that file exists, else the in-cluster
   * service account when KUBERNETES_SERVICE_HOST and _PORT are set. A path named explicitly must exist.
   */
  credentials: KubernetesCredentials;
  /**
   * Where the job objects go. EXECUTOR_KUBERNETES_NAMESPACE; default (undefined here) the credentials'
   * own: the in-cluster service account's namespace, or the kubeconfig context's, else `default`. The
   * original always defaults to `default`; an executor in a pod belongs with its job pods.
   */
  namespace: string | undefined;
  /** Pins job pods to one node (`spec.nodeName`). EXECUTOR_KUBERNETES_NODE_NAME, default none. */
  nodeName: string | undefined;
  /** EXECUTOR_KUBERNETES_NODE_SELECTOR (`k=v,k2=v2`), default none. */
  nodeSelector: Record<string, string>;
  /** EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_EXPRESSIONS (JSON [NodeSelectorRequirement]), default none. */
  nodeRequiredAffinityMatchExpressions: V1NodeSelectorRequirement[];
  /** EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_FIELDS (JSON [NodeSelectorRequirement]), default none. */
  nodeRequiredAffinityMatchFields: V1NodeSelectorRequirement[];
  /** EXECUTOR_KUBERNETES_POD_AFFINITY (JSON [PodAffinityTerm], each with a topologyKey), default none. */
  podAffinity: V1PodAffinityTerm[];
  /** EXECUTOR_KUBERNETES_POD_ANTI_AFFINITY (JSON [PodAffinityTerm], each with a topologyKey), default none. */
  podAntiAffinity: V1PodAffinityTerm[];
  /** EXECUTOR_KUBERNETES_NODE_TOLERATIONS (JSON [Toleration]), default none. */
  tolerations: V1Toleration[];
  /** EXECUTOR_KUBERNETES_RESOURCE_LIMIT_CPU (none) and _LIMIT_MEMORY (`12Gi`), per container. */
  resourceLimit: KubernetesResources;
  /** EXECUTOR_KUBERNETES_RESOURCE_REQUEST_CPU (none) and _REQUEST_MEMORY (`12Gi`), per container. */
  resourceRequest: KubernetesResources;
  /** The Job's `activeDeadlineSeconds`. KUBERNETES_JOB_DEADLINE (seconds), default 1200. */
  jobDeadlineSeconds: number;
  /** Leave the job's objects after it ends, for debugging (no TTL, no janitor). KUBERNETES_KEEP_JOBS, default false. */
  keepJobs: boolean;
  /** The pod's `runAsUser`; undefined = the images' own. KUBERNETES_RUN_AS_USER, default -1 (unset). */
  runAsUser: number | undefined;
  /** The pod's `runAsGroup`. KUBERNETES_RUN_AS_GROUP, default -1 (unset). */
  runAsGroup: number | undefined;
  /** The pod's `fsGroup` (the workspace volume's group). KUBERNETES_FS_GROUP, default 1000; -1 unsets it. */
  fsGroup: number | undefined;
  /** KUBERNETES_JOB_VOLUME_TYPE (`emptyDir` or `pvc`), default `emptyDir`. */
  jobVolumeType: KubernetesJobVolumeType;
  /** The emptyDir's `sizeLimit` or the claim's request. KUBERNETES_JOB_VOLUME_SIZE (quantity), default `5Gi`. */
  jobVolumeSize: string;
  /** Extra pod volumes. KUBERNETES_ADDITIONAL_JOB_VOLUMES (JSON [Volume]), default none. */
  additionalVolumes: V1Volume[];
  /** Their mounts, in every container of the pod. KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS (JSON [VolumeMount]), default none. */
  additionalVolumeMounts: V1VolumeMount[];
  /**
   * The image whose `executor prepare-workspace` clones and writes the workspace in the pod (and whose
   * trivial main container ends it). KUBERNETES_SINGLE_JOB_STEP_IMAGE; default (undefined here) the image
   * of the executor's own pod when it runs in one, else `executors/executor:latest` (DEFAULT_SETUP_IMAGE).
   * The original's default, batcheshelper, has no such command.
   */
  setupImage: string | undefined;
  /** A CA certificate file in the pod that the workspace clone trusts too. KUBERNETES_GIT_CA_CERT, default none. */
  gitCaCertPath: string | undefined;
  /** KUBERNETES_JOB_ANNOTATIONS (JSON map), default none. */
  jobAnnotations: Record<string, string>;
  /** KUBERNETES_JOB_POD_ANNOTATIONS (JSON map), default none. */
  podAnnotations: Record<string, string>;
  /** KUBERNETES_IMAGE_PULL_SECRETS (comma-separated Secret names), default none. */
  imagePullSecrets: string[];
  /**
   * How long a job pod may stay unschedulable before the job fails with the scheduler's reason, in ms; 0
   * waits until the job deadline. EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT (Go duration), default 5m: long
   * enough for a cluster autoscaler to add a node, short enough that a job nobody can place does not
   * hold a slot for 20 minutes. Not in the original, which waits for the deadline.
   */
  schedulingTimeoutMs: number;
}

/** DNS-1123 label: namespaces, container names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: Secret names, node names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A resource.Quantity (apimachinery's regexp): `500m`, `2`, `12Gi`, `1e3`. */
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;
/** A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A label value: empty, or at most 63 characters of alphanumerics, `-`, `_` and `.` between alphanumerics. */
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Whether `key` is a valid label (or annotation) key. */
export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  return LABEL_KEY.test(key) && (slash === -1 || slash <= 253);
}

/** Whether `value` is a valid label value. */
export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}

/** Whether `name` is a valid namespace or container name (DNS-1123 label, at most 63). */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** Whether `value` reads as a Kubernetes resource quantity. */
export function isQuantity(value: string): boolean {
  return QUANTITY.test(value);
}

/** What a kubernetes-models validator says, as one line: `effect must be one of NoExecute, NoSchedule`. */
function schemaProblem(err: unknown): string {
  const errors = (err as { errors?: Array<{ instancePath?: string; message?: string; keyword?: string; params?: { allowedValues?: unknown[]; missingProperty?: string } }> }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return err instanceof Error ? err.message : String(err);
  // oneOf / type alternatives repeat the same path; keep the most telling message per path.
  const byPath = new Map<string, string>();
  for (const e of errors) {
    let where = (e.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    let what = e.keyword === 'enum' && e.params?.allowedValues ? `must be one of ${e.params.allowedValues.join(', ')}` : (e.message ?? 'is invalid');
    if (e.keyword === 'required' && e.params?.missingProperty) {
      where = where ? `${where}.${e.params.missingProperty}` : e.params.missingProperty;
      what = 'is required';
    }
    where ||= '(value)';
    if (!byPath.has(where) || e.keyword === 'enum' || e.keyword === 'format') byPath.set(where, what);
  }
  return [...byPath].map(([where, what]) => `${where} ${what}`).join('; ');
}

/**
 * Reads the kubernetes runtime's variables from `env`. Returns the config and every problem found (the
 * caller reports them with the rest of the configuration's). `homeDir` and `fileExists` are seams for tests.
 */
export function loadKubernetesConfig(
  env: Env,
  seams: { homeDir?: string; fileExists?: (file: string) => boolean } = {},
): { config: KubernetesConfig; problems: string[] } {
  const problems: string[] = [];
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v === '' ? undefined : v;
  };
  const boolean = (name: string, fallback: boolean) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    try {
      return parseGoBool(raw);
    } catch (err) {
      problems.push(`${name}=${q(raw)}: ${(err as Error).message}`);
      return fallback;
    }
  };
  /** An integer id where -1 means unset (the original's convention). */
  const optionalId = (name: string, fallback: number) => {
    const raw = get(name) ?? String(fallback);
    if (!/^-?\d+$/.test(raw) || Number(raw) < -1 || Number(raw) > 2 ** 31 - 1) {
      problems.push(`${name}=${q(raw)}: expected a user or group id (0 or more), or -1 for none`);
      return undefined;
    }
    return Number(raw) === -1 ? undefined : Number(raw);
  };
  const quantity = (name: string, fallback: string | undefined) => {
    const raw = get(name) ?? fallback;
    if (raw !== undefined && !isQuantity(raw)) {
      problems.push(`${name}=${q(raw)}: expected a Kubernetes quantity such as 500m, 2, 512Mi or 12Gi`);
      return fallback;
    }
    return raw;
  };
  /** A JSON array whose items are validated by `Model` (a kubernetes-models class). */
  const jsonList = <T>(name: string, modelName: ModelName, example: string, extra?: (item: T, i: number) => string | undefined): T[] => {
    const raw = get(name);
    if (raw === undefined) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      problems.push(`${name}: not valid JSON; expected a JSON array such as ${example}`);
      return [];
    }
    if (!Array.isArray(parsed)) {
      problems.push(`${name}: expected a JSON array such as ${example}`);
      return [];
    }
    const items: T[] = [];
    const Model = model(modelName);
    for (const [i, item] of parsed.entries()) {
      try {
        new Model(item as never).validate();
      } catch (err) {
        problems.push(`${name}: item ${i}: ${schemaProblem(err)}`);
        continue;
      }
      const more = extra?.(item as T, i);
      if (more) problems.push(`${name}: item ${i}: ${more}`);
      else items.push(item as T);
    }
    return items;
  };
  const jsonMap = (name: string) => {
    const raw = get(name);
    if (raw === undefined) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      problems.push(`${name}: not valid JSON; expected a JSON object of strings such as {"team": "search"}`);
      return {};
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push(`${name}: expected a JSON object of strings such as {"team": "search"}`);
      return {};
    }
    const map: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') problems.push(`${name}: the value of ${q(key)} must be a string`);
      else if (!isLabelKey(key)) problems.push(`${name}: ${q(key)} is not an annotation key ([prefix/]name, name at most 63 characters)`);
      else map[key] = value;
    }
    return map;
  };

  // Credentials: an explicit path must exist; the default path is used when it exists, else in-cluster.
  const fileExists = seams.fileExists ?? ((file: string) => statSync(file, { throwIfNoEntry: false })?.isFile() ?? false);
  const inCluster = get('KUBERNETES_SERVICE_HOST') !== undefined && get('KUBERNETES_SERVICE_PORT') !== undefined;
  const explicitPath = get('EXECUTOR_KUBERNETES_CONFIG_PATH');
  const defaultPath = path.join(seams.homeDir ?? get('HOME') ?? os.homedir(), '.kube', 'config');
  let credentials: KubernetesCredentials = { kind: 'in-cluster' };
  if (explicitPath !== undefined) {
    if (!fileExists(explicitPath)) problems.push(`EXECUTOR_KUBERNETES_CONFIG_PATH=${q(explicitPath)}: no such file; expected a kubeconfig file`);
    credentials = { kind: 'kubeconfig', path: explicitPath };
  } else if (fileExists(defaultPath)) {
    credentials = { kind: 'kubeconfig', path: defaultPath };
  } else if (!inCluster) {
    problems.push(
      `EXECUTOR_KUBERNETES_CONFIG_PATH: no kubeconfig at ${defaultPath} and not running in a cluster (KUBERNETES_SERVICE_HOST/_PORT unset); set it to a kubeconfig file, or run the executor in a pod with a service account`,
    );
  }

  const namespace = get('EXECUTOR_KUBERNETES_NAMESPACE');
  if (namespace !== undefined && !isDnsLabel(namespace)) problems.push(`EXECUTOR_KUBERNETES_NAMESPACE=${q(namespace)}: expected a namespace name (lowercase letters, digits and -, at most 63)`);

  const nodeName = get('EXECUTOR_KUBERNETES_NODE_NAME');
  if (nodeName !== undefined && !(nodeName.length <= 253 && DNS_SUBDOMAIN.test(nodeName))) problems.push(`EXECUTOR_KUBERNETES_NODE_NAME=${q(nodeName)}: expected a node name`);

  const nodeSelector: Record<string, string> = {};
  const rawSelector = get('EXECUTOR_KUBERNETES_NODE_SELECTOR');
  for (const pair of (rawSelector ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const parts = pair.split('=');
    if (parts.length !== 2 || !isLabelKey(parts[0]!.trim()) || !isLabelValue(parts[1]!.trim())) {
      problems.push(`EXECUTOR_KUBERNETES_NODE_SELECTOR=${q(rawSelector)}: ${q(pair)} is not a label key=value pair; expected a comma-separated list such as disktype=ssd,pool=executors`);
      continue;
    }
    nodeSelector[parts[0]!.trim()] = parts[1]!.trim();
  }

  const requirementExample = '[{"key": "pool", "operator": "In", "values": ["executors"]}]';
  const affinityExample = '[{"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]';
  const needsTopologyKey = (term: V1PodAffinityTerm) => (term.topologyKey ? undefined : 'topologyKey is required (e.g. kubernetes.io/hostname)');

  const jobVolumeType = get('KUBERNETES_JOB_VOLUME_TYPE') ?? 'emptyDir';
  if (jobVolumeType !== 'emptyDir' && jobVolumeType !== 'pvc') problems.push(`KUBERNETES_JOB_VOLUME_TYPE=${q(jobVolumeType)}: expected emptyDir or pvc`);

  const rawDeadline = get('KUBERNETES_JOB_DEADLINE') ?? '1200';
  let jobDeadlineSeconds = 1200;
  if (!/^\d+$/.test(rawDeadline) || Number(rawDeadline) < 1) problems.push(`KUBERNETES_JOB_DEADLINE=${q(rawDeadline)}: expected a whole number of seconds, at least 1`);
  else jobDeadlineSeconds = Number(rawDeadline);

  const setupImage = get('KUBERNETES_SINGLE_JOB_STEP_IMAGE');
  if (setupImage !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/.test(setupImage)) problems.push(`KUBERNETES_SINGLE_JOB_STEP_IMAGE=${q(setupImage)}: expected an image reference such as registry.example.com/executors/executor:1.0`);

  const gitCaCertPath = get('KUBERNETES_GIT_CA_CERT');
  if (gitCaCertPath !== undefined && !path.posix.isAbsolute(gitCaCertPath)) problems.push(`KUBERNETES_GIT_CA_CERT=${q(gitCaCertPath)}: expected an absolute path in the job pod (mounted with KUBERNETES_ADDITIONAL_JOB_VOLUMES)`);

  const imagePullSecrets: string[] = [];
  for (const name of (get('KUBERNETES_IMAGE_PULL_SECRETS') ?? '').split(',').map((n) => n.trim()).filter(Boolean)) {
    if (name.length <= 253 && DNS_SUBDOMAIN.test(name)) imagePullSecrets.push(name);
    else problems.push(`KUBERNETES_IMAGE_PULL_SECRETS: ${q(name)} is not a Secret name; expected comma-separated names such as regcred,other-regcred`);
  }

  let schedulingTimeoutMs = 5 * 60_000;
  const rawScheduling = get('EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT');
  if (rawScheduling !== undefined) {
    try {
      schedulingTimeoutMs = parseGoDurationMs(rawScheduling);
      if (schedulingTimeoutMs < 0) throw new Error('must be zero (wait until the job deadline) or positive');
    } catch (err) {
      problems.push(`EXECUTOR_KUBERNETES_SCHEDULING_TIMEOUT=${q(rawScheduling)}: ${(err as Error).message}`);
    }
  }

  const additionalVolumes = jsonList<V1Volume>('KUBERNETES_ADDITIONAL_JOB_VOLUMES', 'Volume', '[{"name": "certs", "secret": {"secretName": "custom-certs"}}]');
  const additionalVolumeMounts = jsonList<V1VolumeMount>('KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS', 'VolumeMount', '[{"name": "certs", "mountPath": "/certs", "readOnly": true}]');
  const volumeNames = new Set(additionalVolumes.map((v) => v.name));
  for (const mount of additionalVolumeMounts) {
    if (!volumeNames.has(mount.name)) problems.push(`KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS: the mount of ${q(mount.name)} names no volume of KUBERNETES_ADDITIONAL_JOB_VOLUMES`);
    if (mount.mountPath === JOB_MOUNT_PATH || mount.mountPath.startsWith(`${JOB_MOUNT_PATH}/`)) problems.push(`KUBERNETES_ADDITIONAL_JOB_VOLUME_MOUNTS: ${q(mount.mountPath)} is the workspace (${JOB_MOUNT_PATH}); mount elsewhere`);
  }
  for (const volume of additionalVolumes) {
    if (RESERVED_VOLUME_NAMES.includes(volume.name)) problems.push(`KUBERNETES_ADDITIONAL_JOB_VOLUMES: the volume name ${q(volume.name)} is the runtime's own; choose another`);
  }

  const config: KubernetesConfig = {
    credentials,
    namespace,
    nodeName,
    nodeSelector,
    nodeRequiredAffinityMatchExpressions: jsonList('EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_EXPRESSIONS', 'NodeSelectorRequirement', requirementExample),
    nodeRequiredAffinityMatchFields: jsonList('EXECUTOR_KUBERNETES_NODE_REQUIRED_AFFINITY_MATCH_FIELDS', 'NodeSelectorRequirement', '[{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]'),
    podAffinity: jsonList('EXECUTOR_KUBERNETES_POD_AFFINITY', 'PodAffinityTerm', affinityExample, needsTopologyKey),
    podAntiAffinity: jsonList('EXECUTOR_KUBERNETES_POD_ANTI_AFFINITY', 'PodAffinityTerm', affinityExample, needsTopologyKey),
    tolerations: jsonList('EXECUTOR_KUBERNETES_NODE_TOLERATIONS', 'Toleration', '[{"key": "dedicated", "operator": "Equal", "value": "executors", "effect": "NoSchedule"}]'),
    resourceLimit: { cpu: quantity('EXECUTOR_KUBERNETES_RESOURCE_LIMIT_CPU', undefined), memory: quantity('EXECUTOR_KUBERNETES_RESOURCE_LIMIT_MEMORY', '12Gi') },
    resourceRequest: { cpu: quantity('EXECUTOR_KUBERNETES_RESOURCE_REQUEST_CPU', undefined), memory: quantity('EXECUTOR_KUBERNETES_RESOURCE_REQUEST_MEMORY', '12Gi') },
    jobDeadlineSeconds,
    keepJobs: boolean('KUBERNETES_KEEP_JOBS', false),
    runAsUser: optionalId('KUBERNETES_RUN_AS_USER', -1),
    runAsGroup: optionalId('KUBERNETES_RUN_AS_GROUP', -1),
    fsGroup: optionalId('KUBERNETES_FS_GROUP', 1000),
    jobVolumeType: jobVolumeType === 'pvc' ? 'pvc' : 'emptyDir',
    jobVolumeSize: quantity('KUBERNETES_JOB_VOLUME_SIZE', '5Gi') ?? '5Gi',
    additionalVolumes,
    additionalVolumeMounts,
    setupImage,
    gitCaCertPath,
    jobAnnotations: jsonMap('KUBERNETES_JOB_ANNOTATIONS'),
    podAnnotations: jsonMap('KUBERNETES_JOB_POD_ANNOTATIONS'),
    imagePullSecrets,
    schedulingTimeoutMs,
  };
  return { config, problems };
}

/** The setup image when KUBERNETES_SINGLE_JOB_STEP_IMAGE is unset and the executor runs in no pod of its own. */
export const DEFAULT_SETUP_IMAGE = 'executors/executor:latest';

/** Where the workspace is mounted in every container of a job pod (the original's path). */
export const JOB_MOUNT_PATH = '/job';

/** Volume names the job pod uses itself. */
export const RESERVED_VOLUME_NAMES = ['job-data', 'job-secrets'];
