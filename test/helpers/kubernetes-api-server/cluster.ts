// What runs behind the test API server: a Job controller (one pod per Job, backoffLimit, the active
// deadline, TTL after finished), a garbage collector (owner references; background, foreground and orphan
// deletion), a claim binder, a scheduler for one node (node selector, required node affinity, taints,
// resource requests, claims), and a kubelet that really runs each pod's containers with the local docker
// engine: init containers one after another, then the others, sharing the pod's volumes as host
// directories, with the kubelet's statuses and reasons (ErrImagePull, ImagePullBackOff,
// CreateContainerConfigError, PodInitializing, Completed, Error). Not modelled: networking (containers
// share the host's network), pod (anti-)affinity (always satisfied), preemption, restarts.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { clone, type KubeObject, type ObjectStore, type Resource, type StoreEvent } from './object-store.js';
import { parseQuantity } from './quantity.js';

const run = promisify(execFile);

/** The one node pods run on. */
export interface TestNode {
  name: string;
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule' }>;
  /** Allocatable CPU (cores) and memory (bytes). */
  allocatable: { cpu: number; memory: number };
}

export interface ClusterOptions {
  store: ObjectStore;
  node: TestNode;
  /** Labels every docker container this cluster makes: `executors-test.kube-api-server=<runId>`. */
  runId: string;
  /** Where volumes live on the host (emptyDirs, claims, secrets). */
  rootDir: string;
  /** How long a kubelet waits before it tries again (a missing image, secret), in ms. Default 1 000. */
  retryMs?: number;
}

/** The docker label of the containers of one test API server. */
export const CONTAINER_RUN_LABEL = 'executors-test.kube-api-server';

type Pod = KubeObject & {
  spec: PodSpec;
  status: PodStatus;
};

interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] } } };
  tolerations?: Array<{ key?: string; operator?: string; value?: string; effect?: string }>;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
  [key: string]: unknown;
}

interface NodeSelectorTerm {
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
  matchFields?: Array<{ key: string; operator: string; values?: string[] }>;
}

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  allowPrivilegeEscalation?: boolean;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  securityContext?: SecurityContext;
}

interface Volume {
  name: string;
  emptyDir?: { sizeLimit?: string };
  persistentVolumeClaim?: { claimName: string };
  secret?: { secretName: string; items?: Array<{ key: string; path: string }>; defaultMode?: number; optional?: boolean };
}

interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  ready: boolean;
  restartCount: number;
  started: boolean;
  containerID?: string;
  state: {
    waiting?: { reason: string; message?: string };
    running?: { startedAt: string };
    terminated?: { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt?: string; containerID?: string };
  };
}

interface PodStatus {
  phase?: string;
  reason?: string;
  message?: string;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string; lastProbeTime?: string | null }>;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  startTime?: string;
  hostIP?: string;
  podIP?: string;
  qosClass?: string;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The controllers and the kubelet of one test cluster. */
export class TestCluster {
  private readonly options: ClusterOptions;
  private readonly store: ObjectStore;
  private readonly retryMs: number;
  private unsubscribe: (() => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly runningPods = new Map<string, { stop: (graceSeconds: number) => void; done: Promise<void> }>();
  private stopped = false;
  private schedulerTimer: NodeJS.Timeout | undefined;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.store = options.store;
    this.retryMs = options.retryMs ?? 1_000;
  }

  start(): void {
    this.unsubscribe = this.store.subscribe((event) => this.onEvent(event));
    // The scheduler re-tries unschedulable pods, as a real one does when something changed.
    this.schedulerTimer = setInterval(() => this.scheduleAll(), 500);
  }

  /** Stops every controller, kills and removes this cluster's containers, removes its volumes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.schedulerTimer);
    for (const t of this.timers) clearTimeout(t);
    const { stdout } = await run('docker', ['ps', '--all', '--quiet', '--filter', `label=${CONTAINER_RUN_LABEL}=${this.options.runId}`]);
    const ids = stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await run('docker', ['rm', '--force', ...ids]).catch(() => undefined);
    await Promise.allSettled([...this.runningPods.values()].map((p) => p.done));
    await fs.rm(this.options.rootDir, { recursive: true, force: true });
  }

  /**
   * Deletes an object as the API server does for a DELETE: pods gracefully (the kubelet stops their
   * containers first), Jobs with `propagation` (default Orphan, as for batch/v1 through the API), claims
   * in use by a pod only once no pod uses them (kubernetes.io/pvc-protection). Returns the object as the
   * response shows it, or undefined when it does not exist.
   */
  delete(resource: Resource, namespace: string, name: string, propagation: string | undefined): KubeObject | undefined {
    const object = this.store.get(resource, namespace, name);
    if (!object) return undefined;
    if (object.metadata.deletionTimestamp) return object;
    const policy = propagation ?? (resource === 'jobs' ? 'Orphan' : 'Background');
    if (resource === 'pods') return this.deletePod(namespace, name);
    if (resource === 'persistentvolumeclaims' && this.claimInUse(namespace, name)) {
      return this.store.update(resource, namespace, name, (o) => {
        o.metadata.deletionTimestamp = now();
        o.metadata.finalizers = ['kubernetes.io/pvc-protection'];
      });
    }
    if (policy === 'Orphan') {
      for (const dependent of this.dependentsOf(object.metadata.uid!)) {
        this.store.update(dependent.resource, dependent.namespace, dependent.object.metadata.name, (o) => {
          o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== object.metadata.uid);
        });
      }
      return this.removeAndCollect(resource, namespace, name);
    }
    if (policy === 'Foreground') {
      const marked = this.store.update(resource, namespace, name, (o) => {
        o.metadata.deletionTimestamp = now();
        o.metadata.finalizers = [...(o.metadata.finalizers ?? []), 'foregroundDeletion'];
      });
      for (const dependent of this.dependentsOf(object.metadata.uid!)) this.delete(dependent.resource, dependent.namespace, dependent.object.metadata.name, 'Background');
      this.finishForeground(resource, namespace, name);
      return marked;
    }
    return this.removeAndCollect(resource, namespace, name);
  }

  /**
   * Streams a container's log as the kubelet serves it: both streams in the order they were written (read
   * from docker's json-file log, which keeps that order; `docker logs` splits them over two pipes), each
   * entry prefixed with its RFC 3339 time with `timestamps`, from `sinceTime` on, and with `follow` until
   * the container ends. Ends early when `signal` aborts.
   */
  async followLogs(containerId: string, options: { follow: boolean; timestamps: boolean; sinceTime?: string }, onData: (chunk: Buffer) => void, signal: AbortSignal): Promise<void> {
    const logPath = (await run('docker', ['inspect', '--format', '{{.LogPath}}', containerId])).stdout.trim();
    const exited = options.follow ? run('docker', ['wait', containerId]).then(() => true, () => true) : Promise.resolve(true);
    let ended = !options.follow;
    void exited.then(() => (ended = true));
    const aborted = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    const file = await fs.open(logPath, 'r');
    let offset = 0;
    let partial = '';
    try {
      for (;;) {
        // Read what is there; after the container ended, read once more and stop.
        const wasEnded = ended;
        const { size } = await file.stat();
        let text = partial;
        if (size > offset) {
          const buffer = Buffer.alloc(size - offset);
          const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
          offset += bytesRead;
          text += buffer.subarray(0, bytesRead).toString('utf8');
        }
        const lines = text.split('\n');
        partial = lines.pop()!;
        let out = '';
        for (const line of lines) {
          if (line === '') continue;
          const entry = JSON.parse(line) as { log: string; stream: string; time: string };
          if (options.sinceTime && entry.time < options.sinceTime) continue;
          out += options.timestamps ? `${entry.time} ${entry.log}` : entry.log;
        }
        if (out !== '') onData(Buffer.from(out));
        if (wasEnded || signal.aborted) return;
        await Promise.race([sleep(100), exited, aborted]);
      }
    } finally {
      await file.close();
    }
  }

  /** The host directory of a pod's volume (an emptyDir or its claim), for tests that look into a workspace. */
  volumeDir(namespace: string, podName: string, volume: string): string | undefined {
    const pod = this.store.get('pods', namespace, podName) as Pod | undefined;
    const spec = pod?.spec.volumes?.find((v) => v.name === volume);
    if (!pod || !spec) return undefined;
    if (spec.persistentVolumeClaim) {
      const claim = this.store.get('persistentvolumeclaims', namespace, spec.persistentVolumeClaim.claimName);
      return claim ? this.claimDir(claim.metadata.uid!) : undefined;
    }
    return path.join(this.options.rootDir, 'pods', pod.metadata.uid!, 'volumes', volume);
  }

  // --- events -------------------------------------------------------------------------------------

  private onEvent(event: StoreEvent): void {
    if (this.stopped) return;
    if (event.resource === 'jobs' && event.type === 'ADDED') this.startJob(event.namespace, event.object);
    if (event.resource === 'persistentvolumeclaims' && event.type === 'ADDED') void this.bindClaim(event.namespace, event.object);
    if (event.resource === 'pods') {
      if (event.type === 'ADDED') this.schedule(event.namespace, event.object as Pod);
      if (event.type === 'MODIFIED') {
        const pod = event.object as Pod;
        if (pod.spec.nodeName === this.options.node.name && !this.runningPods.has(pod.metadata.uid!) && !pod.metadata.deletionTimestamp && !pod.status?.phase?.match(/Succeeded|Failed/)) this.startPod(event.namespace, pod);
        this.onPodStatus(event.namespace, pod);
      }
      if (event.type === 'DELETED') this.onPodGone(event.namespace, event.object as Pod);
    }
  }

  // --- the Job controller -------------------------------------------------------------------------

  private startJob(namespace: string, job: KubeObject): void {
    const spec = job.spec as { template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec }; activeDeadlineSeconds?: number };
    const startTime = now();
    this.store.update('jobs', namespace, job.metadata.name, (o) => {
      o.status = { startTime, active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} };
    });
    const suffix = randomBytes(4).toString('hex').replace(/[^a-z0-9]/g, '').slice(0, 5);
    const base = job.metadata.name.slice(0, 57);
    const controllerLabels = {
      'batch.kubernetes.io/controller-uid': job.metadata.uid!,
      'batch.kubernetes.io/job-name': job.metadata.name,
      'controller-uid': job.metadata.uid!,
      'job-name': job.metadata.name,
    };
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${base}-${suffix}`,
        generateName: `${base}-`,
        labels: { ...(spec.template.metadata?.labels ?? {}), ...controllerLabels },
        annotations: spec.template.metadata?.annotations,
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: { terminationGracePeriodSeconds: 30, ...clone(spec.template.spec) },
      status: { phase: 'Pending', qosClass: 'Burstable' },
    };
    if (!pod.metadata.annotations) delete pod.metadata.annotations;
    this.store.create('pods', namespace, pod);
    if (spec.activeDeadlineSeconds !== undefined) {
      this.later(spec.activeDeadlineSeconds * 1000, () => {
        const current = this.store.get('jobs', namespace, job.metadata.name);
        if (!current || current.metadata.uid !== job.metadata.uid || this.jobFinished(current)) return;
        this.finishJob(namespace, job.metadata.name, 'Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline');
        for (const p of this.store.list('pods', namespace, `controller-uid=${job.metadata.uid}`)) this.deletePod(namespace, p.metadata.name);
      });
    }
  }

  private jobFinished(job: KubeObject): boolean {
    const conditions = ((job.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? []);
    return conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  }

  private finishJob(namespace: string, name: string, outcome: 'Complete' | 'Failed', reason: string | undefined, message: string | undefined): void {
    const at = now();
    const updated = this.store.update('jobs', namespace, name, (o) => {
      const status = (o.status ?? {}) as Record<string, unknown>;
      const target = outcome === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget';
      status.conditions = [
        { type: target, status: 'True', reason, message, lastProbeTime: at, lastTransitionTime: at },
        { type: outcome, status: 'True', reason, message, lastProbeTime: at, lastTransitionTime: at },
      ];
      status.active = 0;
      if (outcome === 'Complete') {
        status.succeeded = 1;
        status.completionTime = at;
      } else status.failed = 1;
      o.status = status;
    });
    const ttl = (updated?.spec as { ttlSecondsAfterFinished?: number } | undefined)?.ttlSecondsAfterFinished;
    if (updated && ttl !== undefined) {
      const uid = updated.metadata.uid;
      this.later(ttl * 1000, () => {
        if (this.store.get('jobs', namespace, name)?.metadata.uid === uid) this.delete('jobs', namespace, name, 'Background');
      });
    }
  }

  private onPodStatus(namespace: string, pod: Pod): void {
    const owner = pod.metadata.ownerReferences?.find((r) => r.kind === 'Job' && r.controller);
    if (!owner) return;
    const job = this.store.get('jobs', namespace, owner.name);
    if (!job || job.metadata.uid !== owner.uid || this.jobFinished(job)) return;
    if (pod.status.phase === 'Succeeded') this.finishJob(namespace, owner.name, 'Complete', undefined, undefined);
    if (pod.status.phase === 'Failed') this.finishJob(namespace, owner.name, 'Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  }

  // --- claims -------------------------------------------------------------------------------------

  private async bindClaim(namespace: string, claim: KubeObject): Promise<void> {
    const dir = this.claimDir(claim.metadata.uid!);
    // A fresh filesystem's root, as a provisioner's ext4 volume has it.
    await fs.mkdir(path.join(dir, 'lost+found'), { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o755);
    this.store.update('persistentvolumeclaims', namespace, claim.metadata.name, (o) => {
      (o.spec as Record<string, unknown>).volumeName = `pvc-${o.metadata.uid}`;
      o.status = { phase: 'Bound', accessModes: (o.spec as { accessModes?: string[] }).accessModes, capacity: (o.spec as { resources?: { requests?: Record<string, string> } }).resources?.requests };
    });
  }

  private claimDir(uid: string): string {
    return path.join(this.options.rootDir, 'claims', uid);
  }

  private claimInUse(namespace: string, name: string): boolean {
    return this.store.list('pods', namespace).some((p) => ((p.spec as PodSpec).volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === name));
  }

  // --- garbage collection -------------------------------------------------------------------------

  private dependentsOf(uid: string): Array<{ resource: Resource; namespace: string; object: KubeObject }> {
    return this.store.all().filter((e) => (e.object.metadata.ownerReferences ?? []).some((r) => r.uid === uid));
  }

  private removeAndCollect(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    const removed = this.store.remove(resource, namespace, name);
    if (removed) this.collect(removed.metadata.uid!);
    return removed;
  }

  /** Deletes the dependents of a removed owner whose owners are all gone (background propagation). */
  private collect(uid: string): void {
    const live = new Set(this.store.all().map((e) => e.object.metadata.uid));
    for (const dependent of this.dependentsOf(uid)) {
      if ((dependent.object.metadata.ownerReferences ?? []).every((r) => !live.has(r.uid))) {
        this.delete(dependent.resource, dependent.namespace, dependent.object.metadata.name, 'Background');
      }
    }
  }

  /** Removes a foreground-deleted owner once no dependent that blocks it is left. */
  private finishForeground(resource: Resource, namespace: string, name: string): void {
    const object = this.store.get(resource, namespace, name);
    if (!object?.metadata.finalizers?.includes('foregroundDeletion')) return;
    const blocking = this.dependentsOf(object.metadata.uid!).filter((d) => (d.object.metadata.ownerReferences ?? []).some((r) => r.uid === object.metadata.uid && r.blockOwnerDeletion));
    if (blocking.length === 0) this.removeAndCollect(resource, namespace, name);
  }

  private onPodGone(namespace: string, pod: Pod): void {
    for (const owner of pod.metadata.ownerReferences ?? []) {
      const job = this.store.get('jobs', namespace, owner.name);
      if (!job || job.metadata.uid !== owner.uid) continue;
      if (job.metadata.deletionTimestamp) {
        this.finishForeground('jobs', namespace, owner.name);
      } else if (!this.jobFinished(job)) {
        // A pod deleted before it ended counts as a failure; with backoffLimit 0 the Job fails.
        this.finishJob(namespace, owner.name, 'Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      }
    }
    // Claims waiting for their last pod (kubernetes.io/pvc-protection).
    for (const claim of this.store.list('persistentvolumeclaims', namespace)) {
      if (claim.metadata.deletionTimestamp && !this.claimInUse(namespace, claim.metadata.name)) this.removeAndCollect('persistentvolumeclaims', namespace, claim.metadata.name);
    }
  }

  // --- the scheduler ------------------------------------------------------------------------------

  private scheduleAll(): void {
    if (this.stopped) return;
    for (const { resource, namespace, object } of this.store.all()) {
      if (resource === 'pods' && !(object as Pod).spec.nodeName && !object.metadata.deletionTimestamp) this.schedule(namespace, object as Pod);
    }
  }

  private schedule(namespace: string, pod: Pod): void {
    if (pod.spec.nodeName) {
      if (pod.spec.nodeName === this.options.node.name) this.startPod(namespace, pod);
      // Bound to a node that does not exist: it stays Pending, as with a real API server.
      return;
    }
    const refusal = this.fits(namespace, pod);
    if (refusal) {
      const message = `0/1 nodes are available: 1 ${refusal}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`;
      const current = pod.status.conditions?.find((c) => c.type === 'PodScheduled');
      if (current?.status === 'False' && current.message === message) return;
      this.store.update('pods', namespace, pod.metadata.name, (o) => {
        (o.status as PodStatus).conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: now() }];
      });
      return;
    }
    const bound = this.store.update('pods', namespace, pod.metadata.name, (o) => {
      (o.spec as PodSpec).nodeName = this.options.node.name;
      (o.status as PodStatus).conditions = [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now() }];
    });
    if (bound) this.startPod(namespace, bound as Pod);
  }

  /** Why the node cannot take `pod` (the scheduler's words), or undefined when it can. */
  private fits(namespace: string, pod: Pod): string | undefined {
    const { node } = this.options;
    for (const v of pod.spec.volumes ?? []) {
      if (v.persistentVolumeClaim) {
        const claim = this.store.get('persistentvolumeclaims', namespace, v.persistentVolumeClaim.claimName);
        if (!claim) return `persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`;
        if (claim.metadata.deletionTimestamp) return `persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" is being deleted`;
      }
    }
    const selectorOk = Object.entries(pod.spec.nodeSelector ?? {}).every(([k, v]) => node.labels[k] === v);
    const terms = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    const affinityOk = !terms || terms.length === 0 || terms.some((t) => termMatches(t, node));
    if (!selectorOk || !affinityOk) return "node(s) didn't match Pod's node affinity/selector";
    for (const taint of node.taints) {
      if (taint.effect === 'PreferNoSchedule') continue;
      const tolerated = (pod.spec.tolerations ?? []).some(
        (t) => (t.key === undefined || t.key === '' ? t.operator === 'Exists' : t.key === taint.key) && (t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '')) && (!t.effect || t.effect === taint.effect),
      );
      if (!tolerated) return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
    }
    const need = podRequests(pod.spec);
    const used = this.store
      .all()
      .filter((e) => e.resource === 'pods' && (e.object as Pod).spec.nodeName === node.name && !/Succeeded|Failed/.test((e.object as Pod).status?.phase ?? ''))
      .map((e) => podRequests((e.object as Pod).spec))
      .reduce((a, b) => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory }), { cpu: 0, memory: 0 });
    const short: string[] = [];
    if (used.cpu + need.cpu > node.allocatable.cpu) short.push('Insufficient cpu');
    if (used.memory + need.memory > node.allocatable.memory) short.push('Insufficient memory');
    return short.length > 0 ? short.join(', 1 ') : undefined;
  }

  // --- the kubelet --------------------------------------------------------------------------------

  private startPod(namespace: string, pod: Pod): void {
    const uid = pod.metadata.uid!;
    if (this.runningPods.has(uid) || this.stopped) return;
    let graceSeconds: number | undefined;
    let wake: () => void = () => {};
    const stopping = new Promise<void>((resolve) => (wake = resolve));
    const handle = {
      stop: (grace: number) => {
        graceSeconds ??= grace;
        wake();
      },
      done: Promise.resolve(),
    };
    this.runningPods.set(uid, handle);
    handle.done = this.runPod(namespace, pod, () => graceSeconds, stopping).catch((err: unknown) => {
      process.stderr.write(`test kubelet: pod ${pod.metadata.name}: ${(err as Error).stack ?? String(err)}\n`);
    });
  }

  private deletePod(namespace: string, name: string): KubeObject | undefined {
    const pod = this.store.get('pods', namespace, name) as Pod | undefined;
    if (!pod) return undefined;
    if (pod.metadata.deletionTimestamp) return pod;
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    const marked = this.store.update('pods', namespace, name, (o) => {
      o.metadata.deletionTimestamp = now();
      o.metadata.deletionGracePeriodSeconds = grace;
    });
    const running = this.runningPods.get(pod.metadata.uid!);
    if (running) {
      running.stop(grace);
      void running.done.then(() => this.removePod(namespace, name, pod.metadata.uid!));
    } else {
      this.removePod(namespace, name, pod.metadata.uid!);
    }
    return marked;
  }

  /** Removes a stopped pod: its containers first (as the kubelet has killed them), then the object. */
  private removePod(namespace: string, name: string, uid: string): void {
    void this.removeContainers(uid).then(() => {
      if (this.store.get('pods', namespace, name)?.metadata.uid !== uid) return;
      this.removeAndCollect('pods', namespace, name);
    });
  }

  private async removeContainers(podUid: string): Promise<void> {
    const { stdout } = await run('docker', ['ps', '--all', '--quiet', '--filter', `label=${CONTAINER_RUN_LABEL}.pod=${podUid}`]).catch(() => ({ stdout: '' }));
    const ids = stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await run('docker', ['rm', '--force', ...ids]).catch(() => undefined);
    await fs.rm(path.join(this.options.rootDir, 'pods', podUid), { recursive: true, force: true });
    this.runningPods.delete(podUid);
  }

  private async runPod(namespace: string, pod: Pod, grace: () => number | undefined, stopping: Promise<void>): Promise<void> {
    const name = pod.metadata.name;
    const uid = pod.metadata.uid!;
    const init = pod.spec.initContainers ?? [];
    const main = pod.spec.containers;
    const deleting = () => grace() !== undefined || this.stopped;
    const waiting = (c: Container, reason: string, message?: string): ContainerStatus => ({ name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0, started: false, state: { waiting: { reason, ...(message ? { message } : {}) } } });
    const setStatus = (change: (status: PodStatus) => void) => {
      this.store.update('pods', namespace, name, (o) => {
        if (o.metadata.uid !== uid) return;
        change(o.status as PodStatus);
      });
    };
    const setContainer = (group: 'initContainerStatuses' | 'containerStatuses', status: ContainerStatus) =>
      setStatus((s) => {
        s[group] = (s[group] ?? []).map((c) => (c.name === status.name ? status : c));
      });
    const condition = (type: string, value: boolean, reason?: string) =>
      setStatus((s) => {
        s.conditions = [...(s.conditions ?? []).filter((c) => c.type !== type), { type, status: value ? 'True' : 'False', ...(reason ? { reason } : {}), lastProbeTime: null, lastTransitionTime: now() }];
      });

    setStatus((s) => {
      s.phase = 'Pending';
      s.hostIP = '127.0.0.1';
      s.startTime = now();
      if (init.length > 0) s.initContainerStatuses = init.map((c) => waiting(c, 'PodInitializing'));
      s.containerStatuses = main.map((c) => waiting(c, 'PodInitializing'));
    });
    condition('Initialized', init.length === 0, init.length === 0 ? undefined : 'ContainersNotInitialized');
    condition('Ready', false, 'ContainersNotReady');

    const podDir = path.join(this.options.rootDir, 'pods', uid);
    let mounts: Map<string, string> | undefined;
    while (!deleting()) {
      const prepared = await this.prepareVolumes(namespace, pod, podDir);
      if (typeof prepared !== 'string') {
        mounts = prepared;
        break;
      }
      const first = init[0] ?? main[0]!;
      setContainer(init.length > 0 ? 'initContainerStatuses' : 'containerStatuses', waiting(first, 'ContainerCreating', prepared));
      await Promise.race([sleep(this.retryMs), stopping]);
    }
    if (!mounts) return;

    let failed = false;
    for (const c of init) {
      if (deleting()) return;
      const exitCode = await this.runContainer(namespace, pod, c, mounts, (s) => setContainer('initContainerStatuses', s), deleting, grace, stopping);
      if (exitCode === undefined) return;
      if (exitCode !== 0) {
        failed = true;
        break;
      }
    }
    if (failed) {
      setStatus((s) => (s.phase = 'Failed'));
      return;
    }
    if (init.length > 0) condition('Initialized', true);
    setStatus((s) => (s.phase = 'Running'));
    const codes = await Promise.all(main.map((c) => this.runContainer(namespace, pod, c, mounts, (s) => setContainer('containerStatuses', s), deleting, grace, stopping)));
    if (codes.some((c) => c === undefined)) {
      // Stopped by a deletion: the pod is removed next, as Failed in the meantime.
      setStatus((s) => (s.phase = 'Failed'));
      return;
    }
    setStatus((s) => (s.phase = codes.every((c) => c === 0) ? 'Succeeded' : 'Failed'));
    condition('Ready', false, 'PodCompleted');
  }

  /** The host directory of each volume, or why the pod cannot start yet (a missing secret). */
  private async prepareVolumes(namespace: string, pod: Pod, podDir: string): Promise<Map<string, string> | string> {
    const dirs = new Map<string, string>();
    const fsGroup = pod.spec.securityContext?.fsGroup;
    for (const volume of pod.spec.volumes ?? []) {
      const dir = path.join(podDir, 'volumes', volume.name);
      if (volume.emptyDir) {
        await fs.mkdir(dir, { recursive: true });
        await fs.chmod(dir, 0o777);
        if (fsGroup !== undefined) await groupOwn(dir, fsGroup);
        dirs.set(volume.name, dir);
      } else if (volume.persistentVolumeClaim) {
        const claim = this.store.get('persistentvolumeclaims', namespace, volume.persistentVolumeClaim.claimName);
        if (!claim) return `persistentvolumeclaim "${volume.persistentVolumeClaim.claimName}" not found`;
        const claimDir = this.claimDir(claim.metadata.uid!);
        await fs.mkdir(claimDir, { recursive: true });
        if (fsGroup !== undefined) await groupOwn(claimDir, fsGroup);
        dirs.set(volume.name, claimDir);
      } else if (volume.secret) {
        const secret = this.store.get('secrets', namespace, volume.secret.secretName);
        if (!secret) {
          if (volume.secret.optional) continue;
          return `MountVolume.SetUp failed for volume "${volume.name}" : secret "${volume.secret.secretName}" not found`;
        }
        const data = (secret.data ?? {}) as Record<string, string>;
        await fs.rm(dir, { recursive: true, force: true });
        await fs.mkdir(dir, { recursive: true });
        const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
        for (const item of items) {
          if (data[item.key] === undefined) return `MountVolume.SetUp failed for volume "${volume.name}" : references non-existent secret key: ${item.key}`;
          const file = path.join(dir, item.path);
          await fs.mkdir(path.dirname(file), { recursive: true });
          await fs.writeFile(file, Buffer.from(data[item.key]!, 'base64'));
          await fs.chmod(file, volume.secret.defaultMode ?? 0o644);
          if (fsGroup !== undefined) await fs.chown(file, 0, fsGroup);
        }
        dirs.set(volume.name, dir);
      } else {
        return `MountVolume.SetUp failed for volume "${volume.name}" : this test API server supports emptyDir, persistentVolumeClaim and secret volumes only`;
      }
    }
    return dirs;
  }

  /** Runs one container to its end; resolves with its exit code, or undefined when the pod was deleted first. */
  private async runContainer(
    namespace: string,
    pod: Pod,
    c: Container,
    mounts: Map<string, string>,
    report: (status: ContainerStatus) => void,
    deleting: () => boolean,
    grace: () => number | undefined,
    stopping: Promise<void>,
  ): Promise<number | undefined> {
    const base = { name: c.name, image: c.image, imageID: '', ready: false, restartCount: 0 };
    // The image: only the local docker store (no registry is reachable from these machines).
    let pullAttempts = 0;
    for (;;) {
      if (deleting()) return undefined;
      const inspected = await run('docker', ['image', 'inspect', '--format', '{{.Id}} {{.Config.User}}', c.image]).then((r) => r.stdout.trim(), () => undefined);
      if (inspected !== undefined) {
        base.imageID = `docker-pullable://${c.image}@${inspected.split(' ')[0]}`;
        break;
      }
      pullAttempts++;
      report({
        ...base,
        started: false,
        state: {
          waiting:
            pullAttempts % 2 === 1
              ? { reason: 'ErrImagePull', message: `failed to pull and unpack image "${c.image}": pull access denied, repository does not exist or may require authorization (the test API server pulls from the local docker store only)` }
              : { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` },
        },
      });
      await Promise.race([sleep(this.retryMs), stopping]);
    }

    const security = { ...pod.spec.securityContext, ...c.securityContext };
    // The environment, with secretKeyRef values resolved.
    let env: string[] | undefined;
    for (;;) {
      if (deleting()) return undefined;
      const resolved = this.resolveEnv(namespace, c);
      let problem = typeof resolved === 'string' ? resolved : undefined;
      if (!problem && security.runAsNonRoot && (security.runAsUser === undefined || security.runAsUser === 0)) {
        const user = await run('docker', ['image', 'inspect', '--format', '{{.Config.User}}', c.image]).then((r) => r.stdout.trim(), () => '');
        if (security.runAsUser === 0 || user === '' || user === 'root' || user === '0' || user.startsWith('0:')) problem = 'container has runAsNonRoot and image will run as root';
      }
      if (!problem) {
        env = resolved as string[];
        break;
      }
      report({ ...base, started: false, state: { waiting: { reason: 'CreateContainerConfigError', message: problem } } });
      await Promise.race([sleep(this.retryMs), stopping]);
    }

    const args = ['run', '--detach', '--name', `kube-${this.options.runId}-${pod.metadata.uid!.slice(0, 8)}-${c.name}`, '--label', `${CONTAINER_RUN_LABEL}=${this.options.runId}`, '--label', `${CONTAINER_RUN_LABEL}.pod=${pod.metadata.uid}`, '--network', 'host'];
    if (security.runAsUser !== undefined) args.push('--user', security.runAsGroup !== undefined ? `${security.runAsUser}:${security.runAsGroup}` : String(security.runAsUser));
    if (pod.spec.securityContext?.fsGroup !== undefined) args.push('--group-add', String(pod.spec.securityContext.fsGroup));
    if (security.allowPrivilegeEscalation === false) args.push('--security-opt', 'no-new-privileges');
    const memory = c.resources?.limits?.memory;
    if (memory) args.push('--memory', String(Math.floor(parseQuantity(memory))));
    if (c.workingDir) args.push('--workdir', c.workingDir);
    for (const pair of env!) args.push('--env', pair);
    for (const m of c.volumeMounts ?? []) {
      let host = mounts.get(m.name);
      if (!host) throw new Error(`volume ${m.name} is not prepared`);
      if (m.subPath) {
        host = path.join(host, m.subPath);
        await fs.mkdir(host, { recursive: true });
      }
      args.push('--volume', `${host}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
    }
    const [entrypoint, ...commandRest] = c.command ?? [];
    if (entrypoint !== undefined) args.push('--entrypoint', entrypoint);
    args.push(c.image, ...commandRest, ...(c.args ?? []));
    let containerId: string;
    try {
      containerId = (await run('docker', args)).stdout.trim();
    } catch (err) {
      const message = ((err as { stderr?: string }).stderr ?? String(err)).trim();
      report({ ...base, started: false, state: { terminated: { exitCode: 128, reason: 'StartError', message, finishedAt: now() } } });
      return 128;
    }
    const inspect = async () => JSON.parse((await run('docker', ['inspect', '--format', '{{json .State}}', containerId])).stdout) as { StartedAt: string; FinishedAt: string; ExitCode: number; OOMKilled: boolean; Running: boolean };
    const started = await inspect();
    const startedAt = started.StartedAt.replace(/\.\d+Z$/, 'Z');
    report({ ...base, started: true, containerID: `docker://${containerId}`, state: { running: { startedAt } } });
    const waited = run('docker', ['wait', containerId]).then((r) => Number(r.stdout.trim()));
    const outcome = await Promise.race([waited, stopping.then(() => 'stopping' as const)]);
    if (outcome === 'stopping') {
      await run('docker', ['stop', '--time', String(grace() ?? 0), containerId]).catch(() => undefined);
      await waited.catch(() => undefined);
    }
    const state = await inspect().catch(() => undefined);
    const exitCode = state?.ExitCode ?? 137;
    report({
      ...base,
      started: false,
      containerID: `docker://${containerId}`,
      state: { terminated: { exitCode, reason: state?.OOMKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: (state?.FinishedAt ?? now()).replace(/\.\d+Z$/, 'Z'), containerID: `docker://${containerId}` } },
    });
    return outcome === 'stopping' ? undefined : exitCode;
  }

  private resolveEnv(namespace: string, c: Container): string[] | string {
    const env: string[] = [];
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env.push(`${e.name}=${e.value}`);
      else if (e.valueFrom?.secretKeyRef) {
        const ref = e.valueFrom.secretKeyRef;
        const secret = this.store.get('secrets', namespace, ref.name);
        if (!secret) {
          if (ref.optional) continue;
          return `secret "${ref.name}" not found`;
        }
        const value = ((secret.data ?? {}) as Record<string, string>)[ref.key];
        if (value === undefined) {
          if (ref.optional) continue;
          return `couldn't find key ${ref.key} in Secret ${namespace}/${ref.name}`;
        }
        env.push(`${e.name}=${Buffer.from(value, 'base64').toString('utf8')}`);
      } else env.push(`${e.name}=`);
    }
    return env;
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) run();
    }, ms);
    this.timers.add(timer);
  }
}

function termMatches(term: NodeSelectorTerm, node: TestNode): boolean {
  const expressions = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (expressions.length + fields.length === 0) return false;
  const check = (value: string | undefined, r: { operator: string; values?: string[] }) => {
    switch (r.operator) {
      case 'In':
        return value !== undefined && (r.values ?? []).includes(value);
      case 'NotIn':
        return value === undefined || !(r.values ?? []).includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      case 'Gt':
        return value !== undefined && Number(value) > Number(r.values?.[0]);
      case 'Lt':
        return value !== undefined && Number(value) < Number(r.values?.[0]);
      default:
        return false;
    }
  };
  return expressions.every((r) => check(node.labels[r.key], r)) && fields.every((r) => check(r.key === 'metadata.name' ? node.name : undefined, r));
}

/** The pod's effective requests: the largest init container's, or the sum of the others', whichever is more. */
function podRequests(spec: PodSpec): { cpu: number; memory: number } {
  const of = (c: Container) => ({ cpu: parseQuantity(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu ?? '0'), memory: parseQuantity(c.resources?.requests?.memory ?? c.resources?.limits?.memory ?? '0') });
  const init = (spec.initContainers ?? []).map(of).reduce((a, b) => ({ cpu: Math.max(a.cpu, b.cpu), memory: Math.max(a.memory, b.memory) }), { cpu: 0, memory: 0 });
  const main = spec.containers.map(of).reduce((a, b) => ({ cpu: a.cpu + b.cpu, memory: a.memory + b.memory }), { cpu: 0, memory: 0 });
  return { cpu: Math.max(init.cpu, main.cpu), memory: Math.max(init.memory, main.memory) };
}

/** What the kubelet does for fsGroup: the group owns the directory, with setgid and group rwx. */
async function groupOwn(dir: string, gid: number): Promise<void> {
  await fs.chown(dir, 0, gid);
  const { mode } = await fs.stat(dir);
  await fs.chmod(dir, (mode & 0o777) | 0o2070);
}
