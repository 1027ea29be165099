// The Kubernetes API calls the runtime makes, and nothing else, through @kubernetes/client-node: its
// KubeConfig (kubeconfig files, in-cluster service accounts, exec plugins, client certificates), its
// generated clients for objects and its Watch for pods. Pod logs are read with the config's own TLS and
// credentials over node:https, because the library's Log drops the API server's error body (the reason
// a log cannot be read yet). Every failure is a KubernetesApiError carrying the server's Status.
import http from 'node:http';
import https from 'node:https';
import {
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Job,
  type V1OwnerReference,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { AppError } from '../../../shared/errors.js';
import type { KubernetesCredentials } from './kubernetes-config.js';
import type { KubernetesPermission } from './kubernetes-permissions.js';

/** A refusal or failure of the API server (or of reaching it), with the server's Status when it sent one. */
export class KubernetesApiError extends AppError {
  constructor(
    /** `create secrets`, `watch pods`: the call, in RBAC words. */
    readonly call: string,
    /** The HTTP status; undefined when the server was not reached. */
    readonly status: number | undefined,
    /** The Status `reason`: `NotFound`, `AlreadyExists`, `Forbidden`, `Invalid`, `Expired`, … */
    readonly reason: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('kubernetes.api', `kubernetes: ${call}: ${message}`, options);
  }
}

/** A pod watch event (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`), or `ERROR` with the server's Status. */
export type PodWatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; pod: V1Pod }
  | { type: 'BOOKMARK'; resourceVersion: string }
  | { type: 'ERROR'; status: number | undefined; reason: string | undefined; message: string };

/** A running watch. */
export interface PodWatch {
  /** Ends the watch; its `onClose` is not called after this. */
  stop(): void;
}

/** How long one API call may take before it is given up (not watches or logs), in ms. */
const CALL_TIMEOUT_MS = 30_000;

/** Loads the credentials of `credentials` into a KubeConfig; throws `kubernetes.config` naming what is wrong. */
export function loadKubeConfig(credentials: KubernetesCredentials): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (credentials.kind === 'kubeconfig') kc.loadFromFile(credentials.path);
    else kc.loadFromCluster();
  } catch (err) {
    const where = credentials.kind === 'kubeconfig' ? credentials.path : 'the in-cluster service account';
    throw new AppError('kubernetes.config', `cannot load Kubernetes credentials from ${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new AppError('kubernetes.config', `no current cluster in ${credentials.kind === 'kubeconfig' ? credentials.path : 'the in-cluster configuration'}: set current-context`);
  }
  return kc;
}

/** The calls the runtime makes in one namespace. */
export class KubernetesApi {
  /** The job namespace. */
  readonly namespace: string;
  /** The API server's URL, for messages. */
  readonly server: string;
  private readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly batch: BatchV1Api;
  private readonly authorization: AuthorizationV1Api;

  /** `namespace` undefined: the credentials' own (in-cluster service account or kubeconfig context), else `default`. */
  constructor(kc: KubeConfig, namespace: string | undefined) {
    this.kc = kc;
    this.namespace = namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
    this.server = kc.getCurrentCluster()?.server ?? '';
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.authorization = kc.makeApiClient(AuthorizationV1Api);
  }

  createSecret(body: V1Secret): Promise<V1Secret> {
    return this.call('create secrets', () => this.core.createNamespacedSecret({ namespace: this.namespace, body }));
  }

  createPersistentVolumeClaim(body: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    return this.call('create persistentvolumeclaims', () => this.core.createNamespacedPersistentVolumeClaim({ namespace: this.namespace, body }));
  }

  createJob(body: V1Job): Promise<V1Job> {
    return this.call('create batch/jobs', () => this.batch.createNamespacedJob({ namespace: this.namespace, body }));
  }

  /** Sets the owner references of a Secret or claim (a JSON merge patch of `metadata.ownerReferences`). */
  async setOwners(resource: 'secrets' | 'persistentvolumeclaims', name: string, owners: V1OwnerReference[]): Promise<void> {
    const body = { metadata: { ownerReferences: owners } };
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    if (resource === 'secrets') await this.call('patch secrets', () => this.core.patchNamespacedSecret({ namespace: this.namespace, name, body }, options));
    else await this.call('patch persistentvolumeclaims', () => this.core.patchNamespacedPersistentVolumeClaim({ namespace: this.namespace, name, body }, options));
  }

  /** The Job, or undefined when there is none. */
  async getJob(name: string): Promise<V1Job | undefined> {
    return this.orUndefined(this.call('get batch/jobs', () => this.batch.readNamespacedJob({ namespace: this.namespace, name })));
  }

  /** The pod, or undefined when there is none. */
  async getPod(name: string): Promise<V1Pod | undefined> {
    return this.orUndefined(this.call('get pods', () => this.core.readNamespacedPod({ namespace: this.namespace, name })));
  }

  /**
   * Deletes an object; false when it was gone already. A Job is deleted with foreground propagation: it
   * stays, marked for deletion, until its pod is gone, so nothing of the job runs once it disappears.
   */
  async delete(resource: 'batch/jobs' | 'secrets' | 'persistentvolumeclaims', name: string): Promise<boolean> {
    const namespace = this.namespace;
    try {
      if (resource === 'batch/jobs') await this.call('delete batch/jobs', () => this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Foreground' }));
      else if (resource === 'secrets') await this.call('delete secrets', () => this.core.deleteNamespacedSecret({ namespace, name }));
      else await this.call('delete persistentvolumeclaims', () => this.core.deleteNamespacedPersistentVolumeClaim({ namespace, name }));
      return true;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) return false;
      throw err;
    }
  }

  /** The objects of a kind that carry the labels of `labelSelector`. */
  async list(resource: 'batch/jobs', labelSelector: string): Promise<V1Job[]>;
  async list(resource: 'secrets', labelSelector: string): Promise<V1Secret[]>;
  async list(resource: 'persistentvolumeclaims', labelSelector: string): Promise<V1PersistentVolumeClaim[]>;
  async list(resource: 'batch/jobs' | 'secrets' | 'persistentvolumeclaims', labelSelector: string): Promise<Array<V1Job | V1Secret | V1PersistentVolumeClaim>> {
    const namespace = this.namespace;
    if (resource === 'batch/jobs') return (await this.call('list batch/jobs', () => this.batch.listNamespacedJob({ namespace, labelSelector }))).items;
    if (resource === 'secrets') return (await this.call('list secrets', () => this.core.listNamespacedSecret({ namespace, labelSelector }))).items;
    return (await this.call('list persistentvolumeclaims', () => this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }))).items;
  }

  /** The pods with `labelSelector`, and the resourceVersion to watch from. */
  async listPods(labelSelector: string): Promise<{ pods: V1Pod[]; resourceVersion: string }> {
    const list = await this.call('list pods', () => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }));
    return { pods: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  /**
   * Watches the pods with `labelSelector` from `resourceVersion` (with bookmarks). `onClose` is called
   * once, when the server or the network ends the watch (with the error, if any), never after `stop()`.
   */
  async watchPods(labelSelector: string, resourceVersion: string, onEvent: (event: PodWatchEvent) => void, onClose: (err: KubernetesApiError | undefined) => void): Promise<PodWatch> {
    let stopped = false;
    const watch = new Watch(this.kc);
    const controller = await watch.watch(
      `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`,
      { labelSelector, resourceVersion, allowWatchBookmarks: true },
      (type: string, object: unknown) => {
        if (stopped) return;
        if (type === 'ERROR') {
          const status = object as { code?: number; reason?: string; message?: string };
          onEvent({ type: 'ERROR', status: status?.code, reason: status?.reason, message: status?.message ?? 'watch error' });
        } else if (type === 'BOOKMARK') {
          onEvent({ type: 'BOOKMARK', resourceVersion: (object as V1Pod)?.metadata?.resourceVersion ?? '' });
        } else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
          onEvent({ type, pod: object as V1Pod });
        }
      },
      (err: unknown) => {
        if (stopped) return;
        stopped = true;
        onClose(err ? toApiError('watch pods', err) : undefined);
      },
    );
    return {
      stop() {
        stopped = true;
        controller.abort();
      },
    };
  }

  /**
   * Streams a container's log (stdout and stderr as the kubelet merged them) with `follow`, until the
   * container ends (the server ends the stream) or `signal` aborts. With `timestamps`, each line starts
   * with its RFC 3339 time and a space; `sinceTime` starts at that time (inclusive).
   */
  async followLog(
    pod: string,
    container: string,
    options: { sinceTime?: string; timestamps?: boolean },
    onData: (chunk: Buffer) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const call = 'get pods/log';
    const url = new URL(`${this.server}/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods/${encodeURIComponent(pod)}/log`);
    url.searchParams.set('container', container);
    url.searchParams.set('follow', 'true');
    if (options.timestamps) url.searchParams.set('timestamps', 'true');
    if (options.sinceTime) url.searchParams.set('sinceTime', options.sinceTime);
    const requestOptions: https.RequestOptions = { method: 'GET', headers: {} };
    await this.kc.applyToHTTPSOptions(requestOptions);
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const send = url.protocol === 'https:' ? https.request : http.request;
      const req = send(url, { ...requestOptions, signal }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d.length < 64 * 1024 ? d : ''));
          res.on('end', () => reject(statusError(call, res.statusCode, body)));
          res.on('error', (err) => reject(toApiError(call, err)));
          return;
        }
        res.on('data', onData);
        res.on('end', () => resolve());
        res.on('error', (err) => reject(signal.aborted ? signal.reason : toApiError(call, err)));
        res.on('close', () => (res.complete ? resolve() : reject(signal.aborted ? signal.reason : new KubernetesApiError(call, undefined, undefined, 'the log stream ended early'))));
      });
      req.on('error', (err) => reject(signal.aborted ? signal.reason : toApiError(call, err)));
      req.end();
    });
  }

  /** Whether this identity may do `permission` in the namespace (a SelfSubjectAccessReview). */
  async canI(permission: KubernetesPermission, verb: string): Promise<{ allowed: boolean; reason: string | undefined }> {
    const review = await this.call('create authorization.k8s.io/selfsubjectaccessreviews', () =>
      this.authorization.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { namespace: this.namespace, verb, group: permission.group, resource: permission.resource, ...(permission.subresource ? { subresource: permission.subresource } : {}) } },
        },
      }),
    );
    return { allowed: review.status?.allowed === true, reason: review.status?.reason || review.status?.evaluationError || undefined };
  }

  private async call<T>(call: string, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new KubernetesApiError(call, undefined, undefined, `no answer from ${this.server} within ${CALL_TIMEOUT_MS / 1000} s`)), CALL_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      throw toApiError(call, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
    try {
      return await promise;
    } catch (err) {
      if (err instanceof KubernetesApiError && err.status === 404) return undefined;
      throw err;
    }
  }
}

/** A KubernetesApiError from whatever the library or the network threw. */
function toApiError(call: string, err: unknown): KubernetesApiError {
  if (err instanceof KubernetesApiError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: string };
  const status = typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) return statusError(call, status, typeof e.body === 'string' ? e.body : e.body === undefined ? '' : JSON.stringify(e.body), err);
  const cause = (err as { cause?: { message?: string } })?.cause;
  const message = [e?.message, cause?.message].filter(Boolean).join(': ') || String(err);
  return new KubernetesApiError(call, undefined, undefined, `cannot reach the API server: ${message}`, { cause: err });
}

/** The API server's Status body as an error: its message and reason, or the HTTP status when it sent none. */
function statusError(call: string, status: number | undefined, body: string, cause?: unknown): KubernetesApiError {
  let reason: string | undefined;
  let message = '';
  try {
    const parsed = JSON.parse(body) as { reason?: unknown; message?: unknown };
    if (typeof parsed.reason === 'string') reason = parsed.reason;
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    message = body.trim().slice(0, 500);
  }
  if (status === 401) {
    reason ??= 'Unauthorized';
    message ||= 'the API server refused the credentials';
  }
  return new KubernetesApiError(call, status, reason, `HTTP ${status ?? '?'}${reason ? ` ${reason}` : ''}${message ? `: ${message}` : ''}`, { cause });
}
