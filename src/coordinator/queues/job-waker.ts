// Wakes dequeues that wait for a job (the long-poll extension). A NOTIFY on JOB_QUEUED_CHANNEL names
// the queue; each notification wakes one waiter of that queue, and a generation counter per queue
// closes the race between "found nothing" and "started waiting".
import type { Logger } from '../../shared/logger.js';
import type { Database } from '../store/database.js';
import { JOB_QUEUED_CHANNEL } from '../store/job-store.js';

interface Waiter {
  queues: readonly string[];
  wake: () => void;
}

export class JobWaker {
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private unlisten: (() => Promise<void>) | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(
      JOB_QUEUED_CHANNEL,
      (queue) => this.notify(queue),
      () => {
        // Notifications may have been lost while disconnected: let every waiter look again.
        this.logger.info('LISTEN connection restored; waking all waiting dequeues');
        this.wakeAll();
      },
    );
  }

  /** A snapshot to pass to `wait`: a job enqueued after it wakes the waiter even if it came before `wait`. */
  generation(queues: readonly string[]): number {
    let sum = 0;
    for (const q of queues) sum += this.generations.get(q) ?? 0;
    return sum;
  }

  /**
   * Resolves when a job may have been enqueued on one of `queues` since `since`, when `deadlineMs`
   * (epoch ms) passes, when `signal` aborts, or when the waker stops. The caller tries to dequeue again.
   */
  wait(queues: readonly string[], since: number, deadlineMs: number, signal: AbortSignal): Promise<void> {
    if (this.stopping || signal.aborted || this.generation(queues) !== since) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = { queues, wake: finish };
      const timer = setTimeout(finish, Math.max(0, deadlineMs - Date.now()));
      signal.addEventListener('abort', finish, { once: true });
      this.waiters.add(waiter);
    });
  }

  /**
   * A woken waiter that got a job passes the wake on: one notification may stand for several jobs
   * (a burst, a reset of many), and the next waiter stops the chain when it finds nothing.
   */
  passOn(queues: readonly string[]): void {
    for (const waiter of this.waiters) {
      if (waiter.queues.some((q) => queues.includes(q))) {
        waiter.wake();
        return;
      }
    }
  }

  /** Called for each NOTIFY: bump the generation and wake the longest-waiting waiter of that queue. */
  notify(queue: string): void {
    this.generations.set(queue, (this.generations.get(queue) ?? 0) + 1);
    for (const waiter of this.waiters) {
      if (waiter.queues.includes(queue)) {
        waiter.wake();
        return;
      }
    }
  }

  private wakeAll(): void {
    for (const waiter of [...this.waiters]) waiter.wake();
  }

  /** Ends every wait at once (shutdown) and stops listening. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.wakeAll();
      await this.unlisten?.();
    })();
    return this.stopping;
  }
}
