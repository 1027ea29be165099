// The executor's own Prometheus metrics, sent as text with every heartbeat (reference §7.7): jobs
// started and finished by outcome, and the jobs running now. A registry of its own, not prom-client's global one.
import { Counter, Gauge, Registry } from 'prom-client';
import type { JobOutcome } from './job-handler.js';

/** How a job's run ended for the metrics: its outcome, or `lost` when the coordinator took it back. */
export type FinishedJobOutcome = JobOutcome['state'] | 'lost';

/** Counters and a gauge of the worker loop, in a private registry. */
export class ExecutorMetrics {
  /** The registry behind `metricsText`; exposed so other parts (runtimes) may add their metrics. */
  readonly registry = new Registry();
  private readonly started: Counter<'queue'>;
  private readonly finished: Counter<'queue' | 'outcome'>;
  private readonly running: Gauge<'queue'>;

  constructor() {
    const registers = [this.registry];
    this.started = new Counter({ name: 'src_executor_jobs_started_total', help: 'Jobs dequeued and started by this executor.', labelNames: ['queue'], registers });
    this.finished = new Counter({
      name: 'src_executor_jobs_finished_total',
      help: 'Jobs this executor finished, by outcome (completed, errored, failed, lost).',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    this.running = new Gauge({ name: 'src_executor_processor_handlers', help: 'Jobs running on this executor now.', labelNames: ['queue'], registers });
  }

  /** A job was dequeued and handed to the handler. */
  jobStarted(queue: string): void {
    this.started.inc({ queue });
    this.running.inc({ queue });
  }

  /** A job's handler returned (and its mark call, if any, was made). */
  jobFinished(queue: string, outcome: FinishedJobOutcome): void {
    this.finished.inc({ queue, outcome });
    this.running.dec({ queue });
  }

  /** The Prometheus text exposition of every metric in the registry. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }
}
