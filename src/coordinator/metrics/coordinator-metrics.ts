// The coordinator's own Prometheus metrics: queue sizes for autoscaling (reference §7.6), jobs by
// state, oldest queued age, dequeue and request latency — and the executors' forwarded metrics (§7.7).
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../../shared/logger.js';
import type { QueueConfig } from '../queues/queue-config.js';
import { JOB_STATES } from '../queues/job-state.js';
import type { ExecutorStore } from '../store/executor-store.js';
import type { JobStore } from '../store/job-store.js';
import { FORWARDED_METRIC_PREFIXES, familySampleNames, type ForwardingRules } from './executor-metrics.js';
import { ForwardedMetrics, type ForwardedExposition } from './forwarded-metrics.js';

/** Forwarded executor metrics are shown while the executor is seen within this window. */
const FORWARDED_METRICS_MAX_AGE_MS = 5 * 60_000;

export interface CoordinatorMetricsOptions {
  queues: readonly QueueConfig[];
  jobs: JobStore;
  executors: ExecutorStore;
  logger: Logger;
  /** COORDINATOR_MAX_EXECUTOR_METRICS_SIZE: one executor's labelled metrics, in bytes. */
  maxExecutorMetricsBytes: number;
  /** COORDINATOR_MAX_FORWARDED_METRICS_SIZE: all executors' together, in bytes. */
  maxForwardedMetricsBytes: number;
  /** How often /metrics looks for dumps other replicas stored, in ms; default 5 000. */
  forwardedRefreshIntervalMs?: number;
}

/** What /metrics serves: the coordinator's own registry, then the executors' families. */
export interface MetricsPage {
  own: string;
  forwarded: ForwardedExposition;
}

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

  /** The executors' metrics, merged at heartbeat time and cached (forwarded-metrics.ts). */
  readonly forwarded: ForwardedMetrics;

  /** What a heartbeat's dump may contain (executor-metrics.ts); fixed once the registry is complete. */
  readonly forwardingRules: ForwardingRules;

  /** COORDINATOR_MAX_EXECUTOR_METRICS_SIZE, in bytes of labelled text. */
  readonly maxExecutorMetricsBytes: number;

  constructor(options: CoordinatorMetricsOptions) {
    const { queues, jobs } = options;
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

    this.maxExecutorMetricsBytes = options.maxExecutorMetricsBytes;
    // Every name this registry exposes, with the sample names of histograms and summaries: an executor
    // that sends `src_executor_total` must not move the autoscaler.
    const reservedNames = new Set(this.registry.getMetricsAsArray().flatMap((metric) => familySampleNames(metric.name)));
    // Twice the labelled cap: a dump may shrink when go_* and other families are dropped.
    this.forwardingRules = { allowedPrefixes: FORWARDED_METRIC_PREFIXES, reservedNames, maxInputBytes: 2 * options.maxExecutorMetricsBytes };
    this.forwarded = new ForwardedMetrics(options.executors, options.logger, {
      maxTotalBytes: options.maxForwardedMetricsBytes,
      maxAgeMs: FORWARDED_METRICS_MAX_AGE_MS,
      refreshIntervalMs: options.forwardedRefreshIntervalMs,
    });
  }

  /** The whole /metrics page: the coordinator's registry, then the executors' forwarded families. */
  async render(): Promise<MetricsPage> {
    const [own, forwarded] = await Promise.all([this.registry.metrics(), this.forwarded.exposition()]);
    return { own: forwarded.bytes > 0 ? `${own.trimEnd()}\n` : own, forwarded };
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
