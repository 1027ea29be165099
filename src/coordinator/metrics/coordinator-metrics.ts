// The coordinator's own Prometheus metrics: queue sizes for autoscaling (reference §7.6), jobs by
// state, oldest queued age, dequeue and request latency — and the executors' forwarded metrics (§7.7).
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueConfig } from '../queues/queue-config.js';
import { JOB_STATES } from '../queues/job-state.js';
import type { ExecutorStore } from '../store/executor-store.js';
import type { JobStore } from '../store/job-store.js';
import { mergeExpositions } from './executor-metrics.js';

/** Forwarded executor metrics are shown while the executor is seen within this window. */
const FORWARDED_METRICS_MAX_AGE_MS = 5 * 60_000;

export class CoordinatorMetrics {
  readonly registry = new Registry();

  readonly requestDurationSeconds = new Histogram({
    name: 'executors_coordinator_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    registers: [this.registry],
  });

  readonly dequeueDurationSeconds = new Histogram({
    name: 'executors_coordinator_dequeue_duration_seconds',
    help: 'Time to answer a dequeue, including any long-poll wait, by outcome (job or empty).',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 15, 30],
    registers: [this.registry],
  });

  constructor(
    queues: readonly QueueConfig[],
    jobs: JobStore,
    private readonly executors: ExecutorStore,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'executors_coordinator_' });
    const queueNames = queues.map((q) => q.name);
    let statsPromise: ReturnType<JobStore['stats']> | undefined;
    // One query per scrape feeds all three gauges.
    const stats = () => {
      statsPromise ??= jobs.stats().finally(() => setTimeout(() => (statsPromise = undefined), 0));
      return statsPromise;
    };
    new Gauge({
      name: 'src_executor_total',
      help: 'Jobs queued or processing per queue: the size autoscalers use (reference §7.6).',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        const rows = await stats();
        for (const queue of queueNames) {
          const n = rows.filter((r) => r.queue === queue && (r.state === 'queued' || r.state === 'processing')).reduce((a, r) => a + r.count, 0);
          this.set({ queue }, n);
        }
      },
    });
    new Gauge({
      name: 'src_executor_queued_duration_seconds_total',
      help: 'Age in seconds of the oldest queued job per queue (0 when none).',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        const rows = await stats();
        for (const queue of queueNames) {
          this.set({ queue }, rows.find((r) => r.queue === queue && r.state === 'queued')?.oldestQueuedAgeSeconds ?? 0);
        }
      },
    });
    new Gauge({
      name: 'executors_coordinator_jobs',
      help: 'Jobs per queue and state.',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        const rows = await stats();
        for (const queue of queueNames) {
          for (const state of JOB_STATES) this.set({ queue, state }, rows.find((r) => r.queue === queue && r.state === state)?.count ?? 0);
        }
      },
    });
  }

  /** The whole /metrics page: the coordinator's registry, then the executors' forwarded families. */
  async render(): Promise<string> {
    const [own, dumps] = await Promise.all([this.registry.metrics(), this.executors.prometheusDumps(FORWARDED_METRICS_MAX_AGE_MS)]);
    const forwarded = dumps.length > 0 ? mergeExpositions(dumps) : '';
    return forwarded ? `${own.trimEnd()}\n${forwarded}` : own;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
