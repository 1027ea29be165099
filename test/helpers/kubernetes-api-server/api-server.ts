// A Kubernetes API server for tests, on node:http(s): no real one (kube-apiserver, kind, k3s) can run on
// these machines, so this one speaks the real API's shapes for the endpoints the kubernetes runtime calls
// — objects with uids and resourceVersions, Status bodies for 401/403/404/409/415/422, watches as
// newline-delimited JSON events resumable from a resourceVersion (410 Expired once compacted), pod logs
// with `follow`, `timestamps` and `sinceTime`, SelfSubjectAccessReviews — authorizes every request with the
// Role the repository ships, validates every object it is sent against the Kubernetes OpenAPI schemas
// (kubernetes-models), and runs each job pod's containers with the local docker engine (cluster.ts).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestCa } from '../test-ca.js';
import { TestCluster, type TestNode } from './cluster.js';
import { matchesSelector, parseSelector } from './label-selector.js';
import { clone, kindOf, ObjectStore, type KubeObject, type Resource } from './object-store.js';
import { validateObject, type Cause } from './object-validation.js';
import { allows, type Attributes, type PolicyRule } from './rbac.js';

export interface TestKubernetesApiServerOptions {
  /** The Role rules every request is authorized with (loadRoleRules of the shipped Role). */
  rules: PolicyRule[];
  /** Namespaces that exist. Default `['executors']`. */
  namespaces?: string[];
  /** The node pods are scheduled on. Default `test-node`, 8 CPUs, 64 GiB, labels kubernetes.io/hostname and os, no taints. */
  node?: Partial<TestNode>;
  /** How long the kubelet waits before trying again (missing image, secret), in ms. Default 500. */
  kubeletRetryMs?: number;
  /** Serve plain HTTP instead of HTTPS with a test CA. Default false. */
  insecure?: boolean;
}

export interface TestKubernetesApiServer {
  url: string;
  /** The bearer token of the executor's service account. */
  token: string;
  /** PEM of the CA that signed the server's certificate (undefined with `insecure`). */
  caPem: string | undefined;
  /** The user the token authenticates, as RBAC messages name it. */
  user: string;
  store: ObjectStore;
  cluster: TestCluster;
  /** Every request authorized (by the Role), in order. */
  readonly grants: Attributes[];
  /** Every request refused by RBAC. */
  readonly denials: Attributes[];
  /** Every watch request's query (resourceVersion, labelSelector). */
  readonly watches: Array<{ resource: Resource; resourceVersion: string; labelSelector: string }>;
  /** Every object sent in a create or patch that failed validation, with why. */
  readonly invalid: Array<{ resource: string; causes: Cause[] }>;
  /** Every object created through the API (as stored), in order. */
  readonly created: Array<{ resource: Resource; object: KubeObject }>;
  /** Replaces the rules requests are authorized with. */
  setRules(rules: PolicyRule[]): void;
  /** Ends every open watch from the server side (as an API server does on restart or timeout). */
  dropWatches(): number;
  /** Ends every open log stream from the server side, before the container ends. */
  cutLogStreams(): number;
  /** Writes a kubeconfig for this server into `file` (namespace `namespace`); returns `file`. */
  writeKubeconfig(file: string, options?: { token?: string; namespace?: string }): Promise<string>;
  /** Stops the server and the cluster (containers removed, volumes deleted). */
  close(): Promise<void>;
}

const GROUP_OF: Record<Resource, string> = { secrets: '', persistentvolumeclaims: '', pods: '', jobs: 'batch' };

interface Route {
  resource: Resource | 'selfsubjectaccessreviews' | 'version';
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Parses a request path into what it addresses; undefined for paths this server does not serve. */
function route(pathname: string): Route | undefined {
  if (pathname === '/version') return { resource: 'version' };
  if (pathname === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') return { resource: 'selfsubjectaccessreviews' };
  let m = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|persistentvolumeclaims|pods)(?:\/([^/]+)(?:\/(log))?)?$/.exec(pathname);
  if (m) return { resource: m[2] as Resource, namespace: decodeURIComponent(m[1]!), name: m[3] && decodeURIComponent(m[3]), subresource: m[4] };
  m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(pathname);
  if (m) return { resource: 'jobs', namespace: decodeURIComponent(m[1]!), name: m[2] && decodeURIComponent(m[2]) };
  return undefined;
}

/** A Status body, as the API server answers every failure. */
function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** `jobs.batch`, `secrets`: the resource as NotFound and AlreadyExists messages name it. */
function qualified(resource: Resource): string {
  return GROUP_OF[resource] ? `${resource}.${GROUP_OF[resource]}` : resource;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The defaults the API server fills in, so what clients read back looks like a real server's. */
function applyDefaults(resource: Resource, object: KubeObject): void {
  if (resource === 'secrets') {
    object.type ??= 'Opaque';
    const stringData = object.stringData as Record<string, string> | undefined;
    if (stringData) {
      const data = (object.data ?? {}) as Record<string, string>;
      for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString('base64');
      object.data = data;
      delete object.stringData;
    }
  }
  if (resource === 'persistentvolumeclaims') {
    const spec = object.spec as Record<string, unknown>;
    spec.volumeMode ??= 'Filesystem';
    object.status = { phase: 'Pending' };
  }
  if (resource === 'jobs') {
    const spec = object.spec as Record<string, unknown>;
    spec.completions ??= 1;
    spec.parallelism ??= 1;
    spec.completionMode ??= 'NonIndexed';
    spec.suspend ??= false;
    spec.backoffLimit ??= 6;
    const podSpec = (spec.template as { spec: Record<string, unknown> }).spec;
    podSpec.dnsPolicy ??= 'ClusterFirst';
    podSpec.schedulerName ??= 'default-scheduler';
    podSpec.terminationGracePeriodSeconds ??= 30;
    podSpec.securityContext ??= {};
    for (const c of [...((podSpec.initContainers ?? []) as Array<Record<string, unknown>>), ...((podSpec.containers ?? []) as Array<Record<string, unknown>>)]) {
      const image = String(c.image ?? '');
      const tagged = /:[^/]+$/.test(image) || image.includes('@');
      c.imagePullPolicy ??= !tagged || image.endsWith(':latest') ? 'Always' : 'IfNotPresent';
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      c.resources ??= {};
    }
    object.status = {};
  }
}

/** Starts the server on a random loopback port. */
export async function startTestKubernetesApiServer(options: TestKubernetesApiServerOptions): Promise<TestKubernetesApiServer> {
  const runId = randomBytes(4).toString('hex');
  const rootDir = await fs.mkdtemp(path.join(os.tmpdir(), `kube-api-${runId}-`));
  const namespaces = new Set(options.namespaces ?? ['executors']);
  const token = randomBytes(24).toString('base64url');
  const user = `system:serviceaccount:${[...namespaces][0]}:executor`;
  let rules = options.rules;
  const store = new ObjectStore();
  const node: TestNode = {
    name: 'test-node',
    labels: { 'kubernetes.io/hostname': 'test-node', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    taints: [],
    allocatable: { cpu: 8, memory: 64 * 2 ** 30 },
    ...options.node,
  };
  const cluster = new TestCluster({ store, node, runId, rootDir: path.join(rootDir, 'cluster'), retryMs: options.kubeletRetryMs ?? 500 });
  cluster.start();

  const grants: Attributes[] = [];
  const denials: Attributes[] = [];
  const watches: TestKubernetesApiServer['watches'] = [];
  const invalid: TestKubernetesApiServer['invalid'] = [];
  const created: TestKubernetesApiServer['created'] = [];
  /** Each open watch's cleanup (unsubscribe) and its response. */
  const openWatches = new Map<() => void, http.ServerResponse>();
  const openLogs = new Set<AbortController>();

  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve(body));
      req.on('error', reject);
    });

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const r = route(url.pathname);
    if (!r) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (r.resource === 'version') return send(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-executors-test', platform: 'linux/amd64' });

    if (r.resource === 'selfsubjectaccessreviews') {
      if (req.method !== 'POST') return send(res, 405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
      const review = JSON.parse(await readBody(req)) as { spec?: { resourceAttributes?: { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string } } };
      const causes = validateObject('selfsubjectaccessreviews', review);
      if (causes.length > 0) return send(res, 422, status(422, 'Invalid', `SelfSubjectAccessReview.authorization.k8s.io is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`));
      const a = review.spec?.resourceAttributes ?? {};
      const allowed = namespaces.has(a.namespace ?? '') && allows(rules, { verb: a.verb ?? '', group: a.group ?? '', resource: a.resource ?? '', subresource: a.subresource, name: a.name });
      return send(res, 201, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        metadata: { creationTimestamp: null },
        spec: review.spec,
        status: allowed ? { allowed: true, reason: `RBAC: allowed by RoleBinding "executor/${a.namespace}" of Role "executor" to ServiceAccount "executor/${a.namespace}"` } : { allowed: false },
      });
    }

    const resource = r.resource;
    const namespace = r.namespace!;
    const group = GROUP_OF[resource];
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const verb =
      req.method === 'GET' ? (r.name ? 'get' : watch ? 'watch' : 'list') : req.method === 'POST' ? 'create' : req.method === 'PATCH' ? 'patch' : req.method === 'PUT' ? 'update' : req.method === 'DELETE' ? (r.name ? 'delete' : 'deletecollection') : req.method ?? '';
    const attributes: Attributes = { verb, group, resource, ...(r.subresource ? { subresource: r.subresource } : {}), ...(r.name ? { name: r.name } : {}) };
    if (!allows(rules, attributes)) {
      denials.push(attributes);
      const what = r.subresource ? `${resource}/${r.subresource}` : resource;
      return send(res, 403, status(403, 'Forbidden', `${qualified(resource)}${r.name ? ` "${r.name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "${what}" in API group "${group}" in the namespace "${namespace}"`, { ...(r.name ? { name: r.name } : {}), group, kind: resource }));
    }
    grants.push(attributes);
    const notFound = () => send(res, 404, status(404, 'NotFound', `${qualified(resource)} "${r.name}" not found`, { name: r.name, group, kind: resource }));

    if (req.method === 'GET' && !r.name) {
      const labelSelector = url.searchParams.get('labelSelector') ?? '';
      try {
        parseSelector(labelSelector);
      } catch (err) {
        return send(res, 400, status(400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`));
      }
      if (!watch) {
        return send(res, 200, { kind: `${kindOf(resource).kind}List`, apiVersion: kindOf(resource).apiVersion, metadata: { resourceVersion: String(store.currentRevision()) }, items: store.list(resource, namespace, labelSelector) });
      }
      const resourceVersion = url.searchParams.get('resourceVersion') ?? '';
      watches.push({ resource, resourceVersion, labelSelector });
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      const write = (type: string, object: unknown) => {
        if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
      };
      let unsubscribe = () => {};
      const end = () => {
        unsubscribe();
        clearInterval(bookmarks);
        openWatches.delete(end);
      };
      openWatches.set(end, res);
      res.on('close', end);
      let bookmarks: NodeJS.Timeout | undefined;
      if (resourceVersion === '' || resourceVersion === '0') {
        for (const object of store.list(resource, namespace, labelSelector)) write('ADDED', object);
      } else {
        const events = store.eventsSince(resource, namespace, Number(resourceVersion), labelSelector);
        if (events === 'expired') {
          write('ERROR', status(410, 'Expired', `too old resource version: ${resourceVersion} (${store.currentRevision()})`));
          end();
          return res.end();
        }
        for (const e of events) write(e.type, e.object);
      }
      const selector = parseSelector(labelSelector);
      unsubscribe = store.subscribe((e) => {
        if (e.resource !== resource || e.namespace !== namespace) return;
        const labels = e.object.metadata.labels ?? {};
        if (!matchesSelector(selector, labels)) return;
        write(e.type, e.object);
      });
      if (url.searchParams.get('allowWatchBookmarks') === 'true') {
        bookmarks = setInterval(() => write('BOOKMARK', { kind: kindOf(resource).kind, apiVersion: kindOf(resource).apiVersion, metadata: { resourceVersion: String(store.currentRevision()) } }), 1_000);
      }
      const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
      if (timeoutSeconds > 0) setTimeout(() => res.end(), timeoutSeconds * 1000).unref();
      return;
    }

    if (req.method === 'GET' && r.subresource === 'log') {
      const pod = store.get('pods', namespace, r.name!);
      if (!pod) return notFound();
      const spec = pod.spec as { initContainers?: Array<{ name: string }>; containers: Array<{ name: string }> };
      const names = [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.name);
      const container = url.searchParams.get('container') ?? (spec.containers.length === 1 && !spec.initContainers?.length ? spec.containers[0]!.name : undefined);
      if (!container) return send(res, 400, status(400, 'BadRequest', `a container name must be specified for pod ${r.name}, choose one of: [${spec.containers.map((c) => c.name).join(' ')}] or one of the init containers: [${(spec.initContainers ?? []).map((c) => c.name).join(' ')}]`));
      if (!names.includes(container)) return send(res, 400, status(400, 'BadRequest', `container ${container} is not valid for pod ${r.name}`));
      const podStatus = pod.status as { initContainerStatuses?: Array<{ name: string; containerID?: string; state?: { waiting?: { reason?: string } } }>; containerStatuses?: typeof podStatus.initContainerStatuses };
      const cs = [...(podStatus?.initContainerStatuses ?? []), ...(podStatus?.containerStatuses ?? [])].find((c) => c.name === container);
      if (!cs?.containerID) return send(res, 400, status(400, 'BadRequest', `container "${container}" in pod "${r.name}" is waiting to start: ${cs?.state?.waiting?.reason ?? 'ContainerCreating'}`));
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      const controller = new AbortController();
      openLogs.add(controller);
      res.on('close', () => controller.abort());
      await cluster.followLogs(
        cs.containerID.replace(/^docker:\/\//, ''),
        { follow: url.searchParams.get('follow') === 'true', timestamps: url.searchParams.get('timestamps') === 'true', sinceTime: url.searchParams.get('sinceTime') ?? undefined },
        (chunk) => res.write(chunk),
        controller.signal,
      );
      openLogs.delete(controller);
      return res.end();
    }

    if (req.method === 'GET') {
      const object = store.get(resource, namespace, r.name!);
      return object ? send(res, 200, object) : notFound();
    }

    if (req.method === 'POST' && !r.name) {
      if (!namespaces.has(namespace)) return send(res, 404, status(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' }));
      let object: KubeObject;
      try {
        object = JSON.parse(await readBody(req)) as KubeObject;
      } catch {
        return send(res, 400, status(400, 'BadRequest', 'the object provided is unrecognized (not JSON)'));
      }
      if (object.metadata?.namespace !== undefined && object.metadata.namespace !== namespace) {
        return send(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
      }
      const causes = validateObject(resource, object);
      if (causes.length > 0) {
        invalid.push({ resource, causes });
        return send(res, 422, status(422, 'Invalid', `${kindOf(resource).kind}${group ? `.${group}` : ''} "${object.metadata?.name ?? ''}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { name: object.metadata?.name, group, kind: kindOf(resource).kind, causes: causes.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.field })) }));
      }
      applyDefaults(resource, object);
      const stored = store.create(resource, namespace, object);
      if (!stored) return send(res, 409, status(409, 'AlreadyExists', `${qualified(resource)} "${object.metadata.name}" already exists`, { name: object.metadata.name, group, kind: resource }));
      created.push({ resource, object: stored });
      return send(res, 201, stored);
    }

    if (req.method === 'PATCH' && r.name) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (type !== 'application/merge-patch+json') return send(res, 415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (this test server), got ${type}`));
      const patch = JSON.parse(await readBody(req)) as unknown;
      const existing = store.get(resource, namespace, r.name);
      if (!existing) return notFound();
      const next = mergePatch(existing, patch) as KubeObject;
      const causes = validateObject(resource, next);
      if (causes.length > 0) {
        invalid.push({ resource, causes });
        return send(res, 422, status(422, 'Invalid', `${kindOf(resource).kind} "${r.name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`));
      }
      const updated = store.update(resource, namespace, r.name, (o) => {
        Object.assign(o, next, { metadata: { ...next.metadata, uid: o.metadata.uid, creationTimestamp: o.metadata.creationTimestamp, name: o.metadata.name, namespace: o.metadata.namespace } });
      });
      return updated ? send(res, 200, updated) : notFound();
    }

    if (req.method === 'DELETE' && r.name) {
      const body = await readBody(req);
      let propagation = url.searchParams.get('propagationPolicy') ?? undefined;
      if (body.trim() !== '') propagation = (JSON.parse(body) as { propagationPolicy?: string }).propagationPolicy ?? propagation;
      const before = store.get(resource, namespace, r.name);
      if (!before) return notFound();
      const after = cluster.delete(resource, namespace, r.name, propagation);
      const still = store.get(resource, namespace, r.name);
      if (still) return send(res, 200, still);
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: r.name, group, kind: resource, uid: after?.metadata.uid ?? before.metadata.uid } });
    }

    return send(res, 405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, status(500, 'InternalError', `test API server: ${(err as Error).message}`));
      else res.end();
    });
  };

  let server: http.Server;
  let caPem: string | undefined;
  if (options.insecure) {
    server = http.createServer(listener);
  } else {
    const ca = await createTestCa(path.join(rootDir, 'tls'));
    caPem = await fs.readFile(ca.caCertFile, 'utf8');
    server = https.createServer({ cert: await fs.readFile(ca.serverCertFile), key: await fs.readFile(ca.serverKeyFile) }, listener);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `${options.insecure ? 'http' : 'https'}://127.0.0.1:${port}`;

  return {
    url,
    token,
    caPem,
    user,
    store,
    cluster,
    grants,
    denials,
    watches,
    invalid,
    created,
    setRules(next) {
      rules = next;
    },
    dropWatches() {
      const n = openWatches.size;
      for (const [end, res] of [...openWatches]) {
        end();
        res.end();
      }
      return n;
    },
    cutLogStreams() {
      const n = openLogs.size;
      for (const c of [...openLogs]) c.abort();
      return n;
    },
    async writeKubeconfig(file, kubeconfigOptions = {}) {
      const cluster: Record<string, string> = { server: url };
      if (caPem) cluster['certificate-authority-data'] = Buffer.from(caPem).toString('base64');
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster }],
        users: [{ name: 'executor', user: { token: kubeconfigOptions.token ?? token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'executor', namespace: kubeconfigOptions.namespace ?? [...namespaces][0] } }],
        'current-context': 'test',
      };
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, JSON.stringify(config, null, 2));
      return file;
    },
    async close() {
      for (const [end, res] of [...openWatches]) {
        end();
        res.end();
      }
      for (const c of [...openLogs]) c.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cluster.stop();
      await fs.rm(rootDir, { recursive: true, force: true });
    },
  };
}
