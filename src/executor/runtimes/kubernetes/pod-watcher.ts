// The state of a job's pod, kept current by a list and then a watch. A watch the server or the network
// closes is resumed from the last resourceVersion seen; one the server says is too old (410 Expired) is
// replaced by a fresh list, whose differences count as events. Waiters re-check on every change.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../../shared/logger.js';
import { KubernetesApiError, type KubernetesApi, type PodWatch, type PodWatchEvent } from './kubernetes-api.js';

/** What a waiter sees. */
export interface PodState {
  /** The job's pod as last seen; undefined before the Job controller made it. */
  pod: V1Pod | undefined;
  /** The pod was deleted (it is gone from the API). */
  deleted: boolean;
}

export interface PodWatcherOptions {
  api: Pick<KubernetesApi, 'listPods' | 'watchPods'>;
  labelSelector: string;
  logger: Logger;
  /** Pause before re-watching after a close, doubling per close without an event in between, up to 5 s, in ms. Default 200. */
  retryMs?: number;
}

/** HTTP statuses after which trying again cannot help: the credentials or the Role are wrong. */
const PERMANENT_STATUSES = new Set([401, 403]);

/** Watches the pods of one label selector (the `job-name` of one Job). */
export class PodWatcher {
  private readonly options: PodWatcherOptions;
  private pod: V1Pod | undefined;
  private deleted = false;
  private resourceVersion = '';
  private watch: PodWatch | undefined;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private fatal: KubernetesApiError | undefined;
  private readonly waiters = new Set<() => void>();
  /** How many watches were opened, and from which resourceVersion each (for logs and tests). */
  readonly watchesFrom: string[] = [];

  constructor(options: PodWatcherOptions) {
    this.options = options;
  }

  /** Lists, then watches. Rejects when the first list fails (e.g. the Role does not allow it). */
  async start(): Promise<void> {
    await this.relist();
    this.openWatch();
  }

  /** The current state. */
  state(): PodState {
    return { pod: this.pod, deleted: this.deleted };
  }

  /**
   * Resolves with the first non-undefined value `check` returns, checked now, after every change and on
   * `poke()`. Rejects with `signal.reason` on abort, or with the API error when watching cannot go on.
   */
  waitFor<T>(check: (state: PodState) => T | undefined, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const recheck = () => {
        if (this.fatal) return finish(() => reject(this.fatal));
        let value: T | undefined;
        try {
          value = check(this.state());
        } catch (err) {
          return finish(() => reject(err));
        }
        if (value !== undefined) finish(() => resolve(value));
      };
      const onAbort = () => finish(() => reject(signal.reason));
      const finish = (settle: () => void) => {
        this.waiters.delete(recheck);
        signal.removeEventListener('abort', onAbort);
        settle();
      };
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(recheck);
      recheck();
    });
  }

  /** Re-runs every waiter's check (for conditions that change with time, not events). */
  poke(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Ends the watch. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.watch?.stop();
    this.watch = undefined;
  }

  private async relist(): Promise<void> {
    const { pods, resourceVersion } = await this.options.api.listPods(this.options.labelSelector);
    const pod = pods[0];
    if (pod) {
      this.pod = pod;
    } else if (this.pod) {
      // Gone between the watch and this list: its deletion event was missed.
      this.deleted = true;
    }
    this.resourceVersion = resourceVersion;
    this.poke();
  }

  private openWatch(): void {
    if (this.stopped) return;
    const from = this.resourceVersion;
    this.watchesFrom.push(from);
    this.options.api
      .watchPods(this.options.labelSelector, from, (event) => this.onEvent(event), (err) => this.onClose(err))
      .then(
        (watch) => {
          if (this.stopped) watch.stop();
          else this.watch = watch;
        },
        (err: unknown) => this.onClose(err instanceof KubernetesApiError ? err : undefined),
      );
  }

  private onEvent(event: PodWatchEvent): void {
    if (event.type === 'ERROR') {
      // 410: the resourceVersion is too old to resume from; only a new list can tell what changed.
      if (event.status === 410) {
        this.options.logger.debug('pod watch expired; listing again', { message: event.message });
        this.resourceVersion = '';
      } else {
        this.options.logger.warn('pod watch error', { status: event.status, reason: event.reason, message: event.message });
      }
      this.watch?.stop();
      this.watch = undefined;
      this.onClose(undefined);
      return;
    }
    this.failures = 0;
    if (event.type === 'BOOKMARK') {
      if (event.resourceVersion) this.resourceVersion = event.resourceVersion;
      return;
    }
    const rv = event.pod.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (this.pod && this.pod.metadata?.name !== event.pod.metadata?.name) return;
    this.pod = event.pod;
    if (event.type === 'DELETED') this.deleted = true;
    this.poke();
  }

  private onClose(err: KubernetesApiError | undefined): void {
    if (this.stopped) return;
    this.watch = undefined;
    if (err && err.status !== undefined && PERMANENT_STATUSES.has(err.status)) {
      this.fatal = err;
      this.poke();
      return;
    }
    // Every close counts until an event arrives: a server that keeps closing at once is not hammered.
    this.failures++;
    const delayMs = Math.min(5_000, (this.options.retryMs ?? 200) * 2 ** (this.failures - 1));
    this.options.logger.debug('pod watch closed; resuming', { resourceVersion: this.resourceVersion, delayMs, error: err?.message });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      if (this.resourceVersion !== '') return this.openWatch();
      this.relist().then(
        () => this.openWatch(),
        (listErr: unknown) => this.onClose(listErr instanceof KubernetesApiError ? listErr : new KubernetesApiError('list pods', undefined, undefined, String(listErr))),
      );
    }, delayMs);
  }
}
