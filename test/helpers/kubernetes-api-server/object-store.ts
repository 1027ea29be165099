// The test API server's storage: namespaced objects of a few resources, a global resourceVersion counter
// as etcd's revision, and the event history watches resume from (compactable, so a resume can be "too
// old" and answered 410 as a real API server does after etcd compaction).
import { randomUUID } from 'node:crypto';
import { matchesSelector, parseSelector } from './label-selector.js';

/** The resources the server stores, by their REST names. */
export type Resource = 'secrets' | 'persistentvolumeclaims' | 'pods' | 'jobs';

/** A stored object: any JSON with Kubernetes metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
    finalizers?: string[];
    generateName?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  resource: Resource;
  namespace: string;
  type: WatchEventType;
  object: KubeObject;
  /** The resourceVersion this event produced. */
  revision: number;
}

const KIND: Record<Resource, { apiVersion: string; kind: string }> = {
  secrets: { apiVersion: 'v1', kind: 'Secret' },
  persistentvolumeclaims: { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  pods: { apiVersion: 'v1', kind: 'Pod' },
  jobs: { apiVersion: 'batch/v1', kind: 'Job' },
};

export function kindOf(resource: Resource): { apiVersion: string; kind: string } {
  return KIND[resource];
}

/** A deep copy: what leaves the store is never the stored object itself. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

export class ObjectStore {
  private revision = 1;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoreEvent[] = [];
  /** Events at or before this revision are forgotten (compacted). */
  private compactedRevision = 0;
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly pending: StoreEvent[] = [];
  private delivering = false;

  /** The current revision (a list's resourceVersion). */
  currentRevision(): number {
    return this.revision;
  }

  get(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    const found = this.objects.get(key(resource, namespace, name));
    return found ? clone(found) : undefined;
  }

  list(resource: Resource, namespace: string, labelSelector?: string): KubeObject[] {
    const selector = parseSelector(labelSelector ?? '');
    const prefix = `${resource}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(prefix) && matchesSelector(selector, o.metadata.labels ?? {}))
      .map(([, o]) => clone(o))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** Every object of every resource (for the garbage collector). */
  all(): Array<{ resource: Resource; namespace: string; object: KubeObject }> {
    return [...this.objects.entries()].map(([k, object]) => {
      const [resource, namespace] = k.split('/') as [Resource, string];
      return { resource, namespace, object: clone(object) };
    });
  }

  /** Stores a new object (uid, resourceVersion, creationTimestamp set); undefined when the name is taken. */
  create(resource: Resource, namespace: string, object: KubeObject): KubeObject | undefined {
    const k = key(resource, namespace, object.metadata.name);
    if (this.objects.has(k)) return undefined;
    const stored = clone(object);
    stored.apiVersion = kindOf(resource).apiVersion;
    stored.kind = kindOf(resource).kind;
    stored.metadata = { ...stored.metadata, namespace, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    return this.commit(resource, namespace, k, stored, 'ADDED');
  }

  /** Changes a stored object with `change` (on a copy); undefined when it does not exist. */
  update(resource: Resource, namespace: string, name: string, change: (object: KubeObject) => void): KubeObject | undefined {
    const k = key(resource, namespace, name);
    const existing = this.objects.get(k);
    if (!existing) return undefined;
    const next = clone(existing);
    change(next);
    return this.commit(resource, namespace, k, next, 'MODIFIED');
  }

  /** Removes an object for good (a DELETED event); undefined when it does not exist. */
  remove(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    const k = key(resource, namespace, name);
    const existing = this.objects.get(k);
    if (!existing) return undefined;
    this.objects.delete(k);
    const revision = ++this.revision;
    const object = clone(existing);
    object.metadata.resourceVersion = String(revision);
    this.emit({ resource, namespace, type: 'DELETED', object, revision });
    return clone(object);
  }

  /**
   * The events of `resource` in `namespace` after `fromRevision` matching `labelSelector`, or 'expired'
   * when they were compacted away.
   */
  eventsSince(resource: Resource, namespace: string, fromRevision: number, labelSelector?: string): StoreEvent[] | 'expired' {
    if (fromRevision < this.compactedRevision) return 'expired';
    const selector = parseSelector(labelSelector ?? '');
    return this.history.filter((e) => e.revision > fromRevision && e.resource === resource && e.namespace === namespace && matchesSelector(selector, e.object.metadata.labels ?? {})).map((e) => ({ ...e, object: clone(e.object) }));
  }

  /** Forgets the history so far, as etcd compaction does: resuming a watch from before now gets 410. */
  compact(): void {
    this.compactedRevision = this.revision;
    this.history.length = 0;
  }

  /** Calls `listener` with every event from now on; returns how to stop. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private commit(resource: Resource, namespace: string, k: string, object: KubeObject, type: WatchEventType): KubeObject {
    const revision = ++this.revision;
    object.metadata.resourceVersion = String(revision);
    this.objects.set(k, object);
    this.emit({ resource, namespace, type, object: clone(object), revision });
    return clone(object);
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > 10_000) {
      const dropped = this.history.splice(0, 1_000);
      this.compactedRevision = dropped.at(-1)!.revision;
    }
    // In revision order to every listener, also when a listener's reaction makes the next event.
    this.pending.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.pending.shift(); next; next = this.pending.shift()) {
        for (const listener of [...this.listeners]) listener(next);
      }
    } finally {
      this.delivering = false;
    }
  }
}

function key(resource: Resource, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}
