// The Kubernetes objects of one job (reference §5.5): a Secret with what only the job may read (its token,
// its payload, its steps' environment), an optional PersistentVolumeClaim for the workspace, and a Job whose
// single pod prepares the workspace in an init container, runs the steps as init containers in order, and
// ends with a trivial main container. Pure: builds the objects, sends nothing.
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import type { V1Container, V1EnvVar, V1Job, V1PersistentVolumeClaim, V1PodSpec, V1Secret, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { AppError } from '../../../shared/errors.js';
import type { DequeuedJob } from '../../client/coordinator-client.js';
import type { ProcessOwner } from '../../process-owner.js';
import type { StepSpec } from '../runtime.js';
import { isLabelValue, JOB_MOUNT_PATH, type KubernetesConfig } from './kubernetes-config.js';
import { encodeWorkspaceJob } from './workspace-job.js';

/** Label keys of every object the runtime creates; the janitor finds leftovers by them. */
export const KUBERNETES_LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  component: 'app.kubernetes.io/component',
  /** The executor's `os.hostname()` (a hash when it is no label value): leftovers are judged on the host that made them. */
  host: 'executors.host',
  /** The executor process's pid and start time (ms since the epoch): is the owner still alive? */
  ownerPid: 'executors.owner-pid',
  ownerStartedAt: 'executors.owner-started-at',
  jobId: 'executors.job-id',
  queue: 'executors.queue',
  /** The Job's name, on the Job and on its Secret and claim: which objects go together. */
  jobObject: 'executors.job-object',
  /** The uid of the executor's own pod, when it runs in one: leftovers are judged by the pod that made them. */
  podUid: 'executors.pod-uid',
} as const;

/** The value of `app.kubernetes.io/managed-by` on our objects. */
export const MANAGED_BY = 'executors';

/** Annotation keys: values that may not fit a label. */
export const KUBERNETES_ANNOTATION = {
  executorName: 'executors.executor-name',
  host: 'executors.host',
} as const;

/** Container names in the job pod. Steps are `step-<index>`: a step key need not be a DNS label. */
export const SETUP_CONTAINER = 'setup-workspace';
export const MAIN_CONTAINER = 'main';
export function stepContainerName(index: number): string {
  return `step-${index}`;
}

/** Where the job's Secret is mounted in the setup container (never in a step's). */
export const JOB_SECRET_MOUNT_PATH = '/executor-job';
/** Keys of the job Secret. */
export const SECRET_KEY = { token: 'TOKEN', job: 'job.json', ca: 'ca.pem' } as const;
/** The key of a step's `index`th environment variable's value in the job Secret. */
export function stepEnvSecretKey(step: number, index: number): string {
  return `step-${step}-env-${index}`;
}

/** The largest Secret the API server stores (etcd's object limit, as `kubectl create secret` reports it), in bytes. */
export const MAX_SECRET_BYTES = 1024 * 1024;

/**
 * How long a finished Job stays before Kubernetes' TTL controller deletes it (and, through their owner
 * references, its Secret and claim), in seconds. The executor deletes its Jobs itself; this only bounds
 * what an executor that died for good leaves behind.
 */
export const FINISHED_JOB_TTL_SECONDS = 600;

/**
 * The pod's grace between SIGTERM and SIGKILL on cancel, in seconds. A step's `/bin/sh` is pid 1 of its
 * container and ignores SIGTERM, so the whole grace is usually waited out: 10 s, not Kubernetes' 30.
 */
export const TERMINATION_GRACE_SECONDS = 10;

/** The names of a job's objects. */
export interface JobObjectNames {
  /** The Job, `sg-executor-job-<queue>-<id>-<suffix>`; also the `job-name` label of its pod. */
  job: string;
  secret: string;
  pvc: string;
}

/**
 * `sg-executor-job-<queue>-<id>-<5 random>`: the original's name with a suffix, because a job that is
 * retried after its executor died must not collide with what that executor left (a 409 otherwise). At
 * most 63 characters (the `job-name` label of the pod).
 */
export function jobObjectNames(job: Pick<DequeuedJob, 'id' | 'queue'>, suffix = randomBytes(4).toString('hex').slice(0, 5)): JobObjectNames {
  const queue = job.queue.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'queue';
  const tail = `-${job.id}-${suffix}`;
  const base = `sg-executor-job-${queue}`.slice(0, 63 - tail.length).replace(/-+$/, '');
  const name = `${base}${tail}`;
  return { job: name, secret: `${name}-secrets`, pvc: `${name}-pvc` };
}

/** A label value for `value`: itself when valid, else `h-` and the start of its SHA-256 (hostnames may be longer than 63). */
export function labelValueFor(value: string): string {
  if (isLabelValue(value) && value !== '') return value;
  return `h-${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

/** The labels of every object of `job` (Job `jobObject`), run by `owner` on `hostname`, in the pod `podUid` if any. */
export function jobObjectLabels(owner: ProcessOwner, hostname: string, job: Pick<DequeuedJob, 'id' | 'queue'>, jobObject: string, podUid?: string): Record<string, string> {
  return {
    [KUBERNETES_LABEL.jobObject]: jobObject,
    ...(podUid ? { [KUBERNETES_LABEL.podUid]: podUid } : {}),
    [KUBERNETES_LABEL.managedBy]: MANAGED_BY,
    [KUBERNETES_LABEL.component]: 'job',
    [KUBERNETES_LABEL.host]: labelValueFor(hostname),
    [KUBERNETES_LABEL.ownerPid]: String(owner.pid),
    [KUBERNETES_LABEL.ownerStartedAt]: String(owner.startedAt),
    [KUBERNETES_LABEL.jobId]: String(job.id),
    [KUBERNETES_LABEL.queue]: labelValueFor(job.queue),
  };
}

/** The label selector of every object an executor process on `hostname` made. */
export function hostSelector(hostname: string): string {
  return `${KUBERNETES_LABEL.managedBy}=${MANAGED_BY},${KUBERNETES_LABEL.host}=${labelValueFor(hostname)}`;
}

/**
 * For steps run as KUBERNETES_RUN_AS_USER: git names the workspace safe through its environment config
 * (GIT_CONFIG_COUNT, git 2.31+), since the volume's root belongs to root and git refuses a repository of
 * another owner ("dubious ownership") that no global config names safe. Left out when the step sets
 * GIT_CONFIG_COUNT itself.
 */
function safeWorkspaceEnv(stepEnv: readonly V1EnvVar[]): V1EnvVar[] {
  if (stepEnv.some((e) => e.name === 'GIT_CONFIG_COUNT')) return [];
  return [
    { name: 'GIT_CONFIG_COUNT', value: '1' },
    { name: 'GIT_CONFIG_KEY_0', value: 'safe.directory' },
    { name: 'GIT_CONFIG_VALUE_0', value: JOB_MOUNT_PATH },
  ];
}

/** An owner the Job gets (the executor's own pod), so that deleting that pod deletes its jobs. */
export interface OwnerObject {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface JobObjectsOptions {
  job: DequeuedJob;
  steps: readonly StepSpec[];
  config: KubernetesConfig;
  names: JobObjectNames;
  labels: Record<string, string>;
  /** The executor's name, sent as X-Sourcegraph-Executor-Name by the pod's clone. */
  executorName: string;
  /** The coordinator's URL, as the pod reaches it (EXECUTOR_FRONTEND_URL). */
  frontendUrl: string;
  /** Extra CA certificates (PEM) the executor trusts for an https coordinator; the pod trusts them too. */
  ca?: ReadonlyArray<string | Buffer>;
  /** The executor's own pod, when it runs in one in this namespace. */
  ownerPod?: OwnerObject;
  /** The job namespace (KubernetesApi.namespace). */
  namespace: string;
  /** The setup and main containers' image (KUBERNETES_SINGLE_JOB_STEP_IMAGE, or the executor's own). */
  setupImage: string;
}

/** The objects of one job, in the order they are created. */
export interface JobObjects {
  secret: V1Secret;
  /** Only with KUBERNETES_JOB_VOLUME_TYPE=pvc. */
  pvc: V1PersistentVolumeClaim | undefined;
  job: V1Job;
}

/** `/job/<dir>`; throws `workspace.path_outside` when `dir` leaves the workspace. */
export function stepWorkingDir(dir: string): string {
  const resolved = path.posix.resolve(JOB_MOUNT_PATH, dir === '' ? '.' : dir);
  if (dir.includes('\0') || path.posix.isAbsolute(dir) || (resolved !== JOB_MOUNT_PATH && !resolved.startsWith(`${JOB_MOUNT_PATH}/`))) {
    throw new AppError('workspace.path_outside', `step dir: ${JSON.stringify(dir)} leaves the workspace`);
  }
  return resolved;
}

/** The command of a step's container: its script under bash or sh, as in every other runtime (reference §4.6). */
export function stepCommand(step: Pick<StepSpec, 'scriptPath'>): string[] {
  return ['/bin/sh', path.posix.join(JOB_MOUNT_PATH, step.scriptPath)];
}

/**
 * Builds the job's objects. Throws `runtime.invalid_step` for a step env entry that is not `NAME=value`
 * (ignored elsewhere too, as Go's exec does, so here as well: such entries are dropped), and
 * `kubernetes.secret_too_large` when the payload does not fit in a Secret.
 */
export function buildJobObjects(options: JobObjectsOptions): JobObjects {
  const { job, steps, config, names, labels } = options;

  // The Secret: everything the pod needs that nobody who can only read Jobs and Pods should see.
  const data: Record<string, string> = {
    [SECRET_KEY.token]: Buffer.from(job.token).toString('base64'),
    [SECRET_KEY.job]: Buffer.from(encodeWorkspaceJob(job, { executorName: options.executorName, frontendUrl: options.frontendUrl })).toString('base64'),
  };
  if (options.ca && options.ca.length > 0) data[SECRET_KEY.ca] = Buffer.from(options.ca.map((pem) => pem.toString().trim()).join('\n') + '\n').toString('base64');
  const stepEnv: V1EnvVar[][] = steps.map((step) => {
    const env: V1EnvVar[] = [];
    for (const [i, pair] of step.env.entries()) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const key = stepEnvSecretKey(step.index, i);
      data[key] = Buffer.from(pair.slice(eq + 1)).toString('base64');
      env.push({ name: pair.slice(0, eq), valueFrom: { secretKeyRef: { name: names.secret, key } } });
    }
    return env;
  });
  const secretBytes = Object.values(data).reduce((sum, b64) => sum + Buffer.byteLength(b64, 'base64'), 0);
  if (secretBytes > MAX_SECRET_BYTES) {
    throw new AppError(
      'kubernetes.secret_too_large',
      `the job's files and step environment are ${secretBytes} bytes, more than a Kubernetes Secret holds (${MAX_SECRET_BYTES} bytes); put large files in the files store (bucket and key) instead of inline`,
    );
  }
  const secret: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: names.secret, namespace: options.namespace, labels },
    type: 'Opaque',
    data,
  };

  const pvc: V1PersistentVolumeClaim | undefined =
    config.jobVolumeType === 'pvc'
      ? {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: names.pvc, namespace: options.namespace, labels },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: config.jobVolumeSize } } },
        }
      : undefined;

  const resources = resourceRequirements(config);
  const nonRoot = config.runAsUser !== undefined && config.runAsUser !== 0;
  const containerSecurity = nonRoot ? { allowPrivilegeEscalation: false } : undefined;
  // The volume's root, not a subPath: the kubelet creates a subPath directory as root, which a
  // KUBERNETES_RUN_AS_USER step could not write, while fsGroup makes the root the pod's group's.
  const workspaceMount: V1VolumeMount = { name: 'job-data', mountPath: JOB_MOUNT_PATH };
  const mounts = [workspaceMount, ...config.additionalVolumeMounts];

  const setupArgs = ['prepare-workspace', '--job', path.posix.join(JOB_SECRET_MOUNT_PATH, SECRET_KEY.job), '--token', path.posix.join(JOB_SECRET_MOUNT_PATH, SECRET_KEY.token), '--workspace', JOB_MOUNT_PATH];
  if (data[SECRET_KEY.ca] !== undefined) setupArgs.push('--ca', path.posix.join(JOB_SECRET_MOUNT_PATH, SECRET_KEY.ca));
  if (config.gitCaCertPath) setupArgs.push('--ca', config.gitCaCertPath);
  const setup: V1Container = {
    name: SETUP_CONTAINER,
    image: options.setupImage,
    // The image's entry point (tini, then `executor <args>`): signals reach the executor, which is not pid 1.
    args: setupArgs,
    // git wants a HOME; the image's may not be writable by KUBERNETES_RUN_AS_USER.
    env: [{ name: 'HOME', value: '/tmp' }],
    volumeMounts: [...mounts, { name: 'job-secrets', mountPath: JOB_SECRET_MOUNT_PATH, readOnly: true }],
    ...(resources ? { resources } : {}),
    ...(containerSecurity ? { securityContext: containerSecurity } : {}),
  };
  const stepContainers: V1Container[] = steps.map((step, i) => ({
    name: stepContainerName(step.index),
    image: step.image,
    command: stepCommand(step),
    workingDir: stepWorkingDir(step.dir),
    env: nonRoot ? [...safeWorkspaceEnv(stepEnv[i]!), ...stepEnv[i]!] : stepEnv[i]!,
    volumeMounts: mounts,
    ...(resources ? { resources } : {}),
    ...(containerSecurity ? { securityContext: containerSecurity } : {}),
  }));
  const main: V1Container = {
    name: MAIN_CONTAINER,
    image: options.setupImage,
    command: ['true'],
    ...(resources ? { resources } : {}),
    ...(containerSecurity ? { securityContext: containerSecurity } : {}),
  };

  const volumes: V1Volume[] = [
    config.jobVolumeType === 'pvc' ? { name: 'job-data', persistentVolumeClaim: { claimName: names.pvc } } : { name: 'job-data', emptyDir: { sizeLimit: config.jobVolumeSize } },
    {
      name: 'job-secrets',
      secret: {
        secretName: names.secret,
        items: Object.values(SECRET_KEY).filter((key) => data[key] !== undefined).map((key) => ({ key, path: key })),
        // Readable whoever KUBERNETES_RUN_AS_USER makes the setup container; only that container mounts it.
        defaultMode: 0o444,
      },
    },
    ...config.additionalVolumes,
  ];

  const podSpec: V1PodSpec = {
    restartPolicy: 'Never',
    // Steps get no API credentials: the namespace's default service account is not theirs to use.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    securityContext: {
      ...(config.runAsUser !== undefined ? { runAsUser: config.runAsUser } : {}),
      ...(config.runAsGroup !== undefined ? { runAsGroup: config.runAsGroup } : {}),
      ...(config.fsGroup !== undefined ? { fsGroup: config.fsGroup } : {}),
      ...(nonRoot ? { runAsNonRoot: true } : {}),
      seccompProfile: { type: 'RuntimeDefault' },
    },
    initContainers: [setup, ...stepContainers],
    containers: [main],
    volumes,
  };
  if (config.nodeName) podSpec.nodeName = config.nodeName;
  if (Object.keys(config.nodeSelector).length > 0) podSpec.nodeSelector = config.nodeSelector;
  const affinity = podAffinity(config);
  if (affinity) podSpec.affinity = affinity;
  if (config.tolerations.length > 0) podSpec.tolerations = config.tolerations;
  if (config.imagePullSecrets.length > 0) podSpec.imagePullSecrets = config.imagePullSecrets.map((name) => ({ name }));

  const jobObject: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: names.job,
      namespace: options.namespace,
      labels,
      annotations: { ...config.jobAnnotations, [KUBERNETES_ANNOTATION.executorName]: options.executorName },
      ...(options.ownerPod ? { ownerReferences: [{ ...options.ownerPod, blockOwnerDeletion: false }] } : {}),
    },
    spec: {
      // Never retried by Kubernetes: a retry would start from a workspace the first try changed.
      backoffLimit: 0,
      activeDeadlineSeconds: config.jobDeadlineSeconds,
      ...(config.keepJobs ? {} : { ttlSecondsAfterFinished: FINISHED_JOB_TTL_SECONDS }),
      template: {
        metadata: { labels, ...(Object.keys(config.podAnnotations).length > 0 ? { annotations: config.podAnnotations } : {}) },
        spec: podSpec,
      },
    },
  };
  return { secret, pvc, job: jobObject };
}

/** The owner reference a Secret or claim gets once its Job exists, so deleting the Job deletes them too. */
export function ownedByJob(job: { name: string; uid: string }): OwnerObject & { blockOwnerDeletion: boolean } {
  return { apiVersion: 'batch/v1', kind: 'Job', name: job.name, uid: job.uid, blockOwnerDeletion: false };
}

function resourceRequirements(config: KubernetesConfig): V1Container['resources'] {
  const pick = (r: KubernetesConfig['resourceLimit']) => {
    const out: Record<string, string> = {};
    if (r.cpu) out.cpu = r.cpu;
    if (r.memory) out.memory = r.memory;
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const limits = pick(config.resourceLimit);
  const requests = pick(config.resourceRequest);
  if (!limits && !requests) return undefined;
  return { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) };
}

/**
 * The pod's affinity, with only the parts configured: one node selector term holding the match
 * expressions and fields (the original emits a term even when both are empty, which the API server
 * refuses: "must have at least one node selector requirement").
 */
function podAffinity(config: KubernetesConfig): V1PodSpec['affinity'] {
  const affinity: NonNullable<V1PodSpec['affinity']> = {};
  const { nodeRequiredAffinityMatchExpressions: expressions, nodeRequiredAffinityMatchFields: fields } = config;
  if (expressions.length > 0 || fields.length > 0) {
    affinity.nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ ...(expressions.length > 0 ? { matchExpressions: expressions } : {}), ...(fields.length > 0 ? { matchFields: fields } : {}) }],
      },
    };
  }
  if (config.podAffinity.length > 0) affinity.podAffinity = { requiredDuringSchedulingIgnoredDuringExecution: config.podAffinity };
  if (config.podAntiAffinity.length > 0) affinity.podAntiAffinity = { requiredDuringSchedulingIgnoredDuringExecution: config.podAntiAffinity };
  return Object.keys(affinity).length > 0 ? affinity : undefined;
}
