// The warm pool (EXECUTOR_VM_WARM_POOL_SIZE): guests restored from the snapshot ahead of demand and kept
// paused, so a dequeued job takes one that only needs its disks attached and its clock, seed and hostname
// set. Each guest serves one job and is destroyed after it; the pool refills in the background, retries a
// failing restore with a growing delay, empties itself after EXECUTOR_VM_WARM_POOL_IDLE_TIMEOUT without a
// job (and fills again at the next one), and destroys what it holds on stop. Generic over the guest so
// its bookkeeping is tested without QEMU (warm-pool.test.ts); the vm runtime supplies create/destroy.
import type { Logger } from '../../../../shared/logger.js';

export interface WarmPoolOptions<G> {
  /** Guests kept ready, at most. 0: no pool (take() always answers undefined). */
  size: number;
  /** After this long without a take, in ms, the pool empties; the next take refills it. 0: never. */
  idleTimeoutMs: number;
  /** Makes one ready guest; `signal` aborts when the pool stops. */
  create(signal: AbortSignal): Promise<G>;
  /** Destroys a guest the pool will not hand out. Never throws. */
  destroy(guest: G): Promise<void>;
  logger: Logger;
  /** After a failed create, wait this long before the next, in ms, doubling up to 60 s. Default 1 000. */
  retryDelayMs?: number;
}

/** Pool states: `filling`/`full` while it keeps guests ready; `idle` after the idle timeout; `stopped` for good. */
export type WarmPoolState = 'filling' | 'full' | 'idle' | 'stopped';

export class WarmPool<G> {
  private readonly ready: G[] = [];
  private creating = 0;
  private stateValue: WarmPoolState = 'filling';
  private readonly controller = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: WarmPoolOptions<G>) {}

  /** Starts filling the pool. */
  start(): void {
    if (this.options.size <= 0) return;
    this.armIdleTimer();
    this.fill();
  }

  get state(): WarmPoolState {
    return this.stateValue;
  }

  /** Guests ready to be taken now. */
  get readyCount(): number {
    return this.ready.length;
  }

  /** A ready guest, now, or undefined; the pool refills behind it. */
  take(): G | undefined {
    if (this.stateValue === 'stopped' || this.options.size <= 0) return undefined;
    if (this.stateValue === 'idle') {
      this.options.logger.info('vm warm pool: a job came; filling the pool again', { size: this.options.size });
      this.stateValue = 'filling';
    }
    this.armIdleTimer();
    const guest = this.ready.shift();
    this.fill();
    return guest;
  }

  /** Destroys the ready guests and those being made; idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stateValue = 'stopped';
      clearTimeout(this.retryTimer);
      clearTimeout(this.idleTimer);
      this.controller.abort(new Error('the warm pool is stopping'));
      await Promise.allSettled([...this.inFlight]);
      await Promise.all(this.ready.splice(0).map((g) => this.options.destroy(g)));
    })();
    return this.stopped;
  }

  private fill(): void {
    if (this.stateValue !== 'filling' && this.stateValue !== 'full') return;
    if (this.retryTimer) return;
    while (this.ready.length + this.creating < this.options.size) this.createOne();
    if (this.ready.length >= this.options.size) this.stateValue = 'full';
  }

  private createOne(): void {
    this.creating++;
    this.stateValue = 'filling';
    const task = (async () => {
      try {
        const guest = await this.options.create(this.controller.signal);
        this.failures = 0;
        if (this.stateValue === 'filling' && this.ready.length < this.options.size) {
          this.ready.push(guest);
        } else {
          // Stopped, or gone idle, while it was being made.
          await this.options.destroy(guest);
        }
      } catch (err) {
        if (this.controller.signal.aborted) return;
        this.failures++;
        const delayMs = Math.min((this.options.retryDelayMs ?? 1_000) * 2 ** (this.failures - 1), 60_000);
        this.options.logger.warn('vm warm pool: a guest could not be made; jobs restore or boot their own meanwhile', { error: err, retryInMs: delayMs });
        if (!this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.fill();
          }, delayMs);
          this.retryTimer.unref();
        }
      } finally {
        this.creating--;
      }
      if (this.stateValue === 'filling' && this.ready.length >= this.options.size) this.stateValue = 'full';
    })();
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** Empties the pool after idleTimeoutMs without a take. */
  private armIdleTimer(): void {
    if (this.options.idleTimeoutMs <= 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.stateValue === 'stopped') return;
      this.stateValue = 'idle';
      const guests = this.ready.splice(0);
      this.options.logger.info('vm warm pool: no job for a while; destroying the pooled guests until the next one', { destroyed: guests.length, idleMs: this.options.idleTimeoutMs });
      void Promise.all(guests.map((g) => this.options.destroy(g)));
    }, this.options.idleTimeoutMs);
    this.idleTimer.unref();
  }
}
