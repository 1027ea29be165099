// Which queue a multi-queue dequeue takes from (reference §7.3): queues under their recent-dequeue
// limit are candidates (all of them when every queue is at its limit), and one is picked by weighted
// random choice. The window of recent dequeues is kept in memory per coordinator replica: the
// original keeps it in Redis; per replica, fairness holds per replica, which is what spreads load
// across replicas anyway, and no extra service is needed.
import type { QueueConfig } from './queue-config.js';

export class MultiQueueSelector {
  private readonly recent = new Map<string, number[]>();

  constructor(
    private readonly queues: ReadonlyMap<string, QueueConfig>,
    private readonly windowMs: number,
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  /** Picks one of `withJobs` (queues known to have dequeueable jobs); undefined if empty. */
  choose(withJobs: readonly string[]): string | undefined {
    if (withJobs.length <= 1) return withJobs[0];
    const below = withJobs.filter((q) => this.countRecent(q) < (this.queues.get(q)?.limit ?? Infinity));
    const candidates = below.length > 0 ? below : withJobs;
    if (candidates.length === 1) return candidates[0];
    const weights = candidates.map((q) => this.queues.get(q)?.weight ?? 1);
    let pick = this.random() * weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < candidates.length; i++) {
      pick -= weights[i]!;
      if (pick < 0) return candidates[i];
    }
    return candidates[candidates.length - 1];
  }

  /** Records a dequeue from `queue` made through the multi-queue route. */
  record(queue: string): void {
    const list = this.recent.get(queue) ?? [];
    list.push(this.now());
    this.recent.set(queue, list);
  }

  private countRecent(queue: string): number {
    const list = this.recent.get(queue);
    if (!list) return 0;
    const cutoff = this.now() - this.windowMs;
    // Timestamps are appended in order, so expired ones are a prefix.
    let expired = 0;
    while (expired < list.length && list[expired]! <= cutoff) expired++;
    if (expired > 0) list.splice(0, expired);
    return list.length;
  }
}
