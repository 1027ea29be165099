// Publishes each queue's size (queued + processing) to the configured clouds every 5 s, for the
// Terraform modules' autoscaling (reference §7.6): CloudWatch alarms on AWS, a managed instance group's
// autoscaler on GCP. A cloud that refuses is logged at most once a minute; nothing here is on a request's
// path, and a slow cloud only delays this reporter's own next round.
import type { Logger } from '../../shared/logger.js';
import type { AutoscalingConfig } from './autoscaling-config.js';

/** The original's interval for each queue's metric (cmd/worker/internal/executorqueue/reporter.go). */
export const QUEUE_SIZE_INTERVAL_MS = 5_000;
/** The original's interval for the combined metric of several queues. */
export const COMBINED_QUEUE_SIZE_INTERVAL_MS = 30_000;
/** A failing cloud is logged at most this often; the rounds in between are counted in the next line. */
export const FAILURE_LOG_INTERVAL_MS = 60_000;
/** One round's longest wait for a cloud: the next round would carry a newer value anyway. */
export const PUBLISH_TIMEOUT_MS = 10_000;

/** One queue's value for one cloud in one round. */
export interface QueueSizeSample {
  /** The `queueName` dimension/label: a queue, or several joined by `_` (sorted) for the combined metric. */
  queueName: string;
  size: number;
}

/** A cloud's monitoring API (cloudwatch-sink.ts, cloud-monitoring-sink.ts). */
export interface MetricSink {
  /** Which EXECUTOR_ALLOCATIONS share applies. */
  readonly cloud: 'aws' | 'gcp';
  /** For log lines: `CloudWatch (us-west-2, namespace sourcegraph-executor)`. */
  readonly description: string;
  /** Sends one round's samples, all taken at `at`; rejects when the cloud refused them. */
  publish(samples: readonly QueueSizeSample[], at: Date, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface QueueSizeReporterOptions {
  /** The served queues (COORDINATOR_QUEUES), in any order. */
  queues: readonly string[];
  /** Reads the sizes (JobStore.queueSizes); a queue missing from the map has size 0. */
  readSizes(): Promise<Map<string, number>>;
  sinks: readonly MetricSink[];
  allocations: AutoscalingConfig['allocations'];
  logger: Logger;
  /** Default QUEUE_SIZE_INTERVAL_MS. */
  intervalMs?: number;
  /** Default COMBINED_QUEUE_SIZE_INTERVAL_MS. */
  combinedIntervalMs?: number;
  /** Waits `ms`, then calls `run`; returns a cancel function. Default setTimeout (unref'd). Tests drive rounds themselves. */
  schedule?: (run: () => void, ms: number) => () => void;
  /** Default Date.now. */
  now?: () => number;
}

/** The combined metric's queue name, as the original and the Terraform modules spell it: sorted, joined by `_`. */
export function combinedQueueName(queues: readonly string[]): string {
  return [...queues].sort().join('_');
}

interface SinkState {
  sink: MetricSink;
  lastFailureLoggedAt: number | undefined;
  failuresSinceLog: number;
  failing: boolean;
}

export class QueueSizeReporter {
  private readonly intervalMs: number;
  private readonly combinedIntervalMs: number;
  private readonly schedule: NonNullable<QueueSizeReporterOptions['schedule']>;
  private readonly now: () => number;
  private readonly sinks: SinkState[];
  private readonly queues: string[];
  private readonly controller = new AbortController();
  private lastCombinedAt: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private round: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: QueueSizeReporterOptions) {
    this.intervalMs = options.intervalMs ?? QUEUE_SIZE_INTERVAL_MS;
    this.combinedIntervalMs = options.combinedIntervalMs ?? COMBINED_QUEUE_SIZE_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.schedule =
      options.schedule ??
      ((run, ms) => {
        const timer = setTimeout(run, ms);
        timer.unref();
        return () => clearTimeout(timer);
      });
    this.queues = [...new Set(options.queues)];
    this.sinks = options.sinks.map((sink) => ({ sink, lastFailureLoggedAt: undefined, failuresSinceLog: 0, failing: false }));
  }

  /** Starts the rounds: the first at once, each next one `intervalMs` after the previous ended. */
  start(): void {
    for (const { sink } of this.sinks) this.options.logger.info('publishing queue sizes for autoscaling', { to: sink.description, queues: this.queues.join(','), intervalMs: this.intervalMs });
    this.next(0);
  }

  private next(ms: number): void {
    if (this.controller.signal.aborted) return;
    this.cancelTimer = this.schedule(() => {
      this.round = this.runRound().finally(() => {
        this.round = undefined;
        // After the round ended, not on a fixed clock: rounds never overlap, and Cloud Monitoring takes
        // one point per time series per 5 s at most.
        this.next(this.intervalMs);
      });
    }, ms);
  }

  /** One round: read the sizes once, send them to every cloud at once. Never rejects. */
  async runRound(): Promise<void> {
    let sizes: Map<string, number>;
    try {
      sizes = await this.options.readSizes();
    } catch (err) {
      // The database is the coordinator's own problem, logged by its callers too; say it once a minute here.
      this.noteFailure(undefined, err);
      return;
    }
    const at = this.now();
    // Each sample with the queue whose EXECUTOR_ALLOCATIONS share applies to it.
    const samples = this.queues.map((queueName) => ({ queueName, size: sizes.get(queueName) ?? 0, shareOf: queueName }));
    if (this.queues.length > 1 && (this.lastCombinedAt === undefined || at - this.lastCombinedAt >= this.combinedIntervalMs)) {
      this.lastCombinedAt = at;
      // The combined metric takes the first queue's share, as the original does.
      const sorted = [...this.queues].sort();
      samples.push({ queueName: combinedQueueName(sorted), size: samples.reduce((sum, s) => sum + s.size, 0), shareOf: sorted[0]! });
    }
    await Promise.all(
      this.sinks.map(async (state) => {
        const own = samples.map((s) => ({ queueName: s.queueName, size: Math.floor(s.size * (this.options.allocations[s.shareOf]?.[state.sink.cloud] ?? 1)) }));
        const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(PUBLISH_TIMEOUT_MS)]);
        try {
          await state.sink.publish(own, new Date(at), signal);
          if (state.failing) {
            this.options.logger.info('publishing queue sizes again', { to: state.sink.description, failedRounds: state.failuresSinceLog });
            state.failing = false;
            state.failuresSinceLog = 0;
            state.lastFailureLoggedAt = undefined;
          }
        } catch (err) {
          if (this.controller.signal.aborted) return;
          this.noteFailure(state, err);
        }
      }),
    );
  }

  private readFailure: Omit<SinkState, 'sink'> = { lastFailureLoggedAt: undefined, failuresSinceLog: 0, failing: false };

  /** Logs a failure unless one was logged within FAILURE_LOG_INTERVAL_MS; counts it either way. */
  private noteFailure(state: SinkState | undefined, err: unknown): void {
    const s = state ?? this.readFailure;
    s.failing = true;
    s.failuresSinceLog += 1;
    const at = this.now();
    if (s.lastFailureLoggedAt !== undefined && at - s.lastFailureLoggedAt < FAILURE_LOG_INTERVAL_MS) return;
    const fields = { err: describeError(err), failedRounds: s.failuresSinceLog, nextLogInMs: FAILURE_LOG_INTERVAL_MS };
    if (state) this.options.logger.warn('could not publish queue sizes', { to: state.sink.description, ...fields });
    else this.options.logger.warn('could not read queue sizes to publish', fields);
    s.lastFailureLoggedAt = at;
    s.failuresSinceLog = 0;
  }

  /** Stops the rounds, abandons a publish in flight, closes the clients. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.controller.abort();
      this.cancelTimer?.();
      await this.round;
      await Promise.all(this.sinks.map((s) => s.sink.close().catch(() => {})));
    })();
    return this.stopping;
  }
}

/** An SDK error as one line: its name or code and message, never a stack or a request dump. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const label = err.name && err.name !== 'Error' ? err.name : typeof code === 'string' || typeof code === 'number' ? String(code) : '';
  const message = err.message.split('\n')[0] ?? '';
  return label && !message.startsWith(label) ? `${label}: ${message}` : message;
}
