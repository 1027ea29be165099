// The 5 s heartbeat (reference §4.3): reports the running jobs and telemetry, aborts the jobs the
// coordinator cancels, and drops the ones it no longer gives us. One failed heartbeat cancels nothing.
import type { Telemetry } from '../../protocol/requests.js';
import { sleep } from '../../shared/backoff.js';
import type { Logger } from '../../shared/logger.js';
import { CoordinatorFatalError } from '../client/client-errors.js';
import type { CoordinatorClient, HeartbeatResult, JobRef } from '../client/coordinator-client.js';

/** The original's interval, hard-coded in `cmd/executor/internal/run/util.go`. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;

export interface HeartbeatLoopOptions {
  client: Pick<CoordinatorClient, 'heartbeat'>;
  /** Between the end of one heartbeat and the next, in ms. Default 5000. */
  intervalMs?: number;
  /** The jobs running now; read at each beat. */
  runningJobs: () => JobRef[];
  /** The telemetry to send, read at each beat (the metrics text changes). */
  telemetry: () => Promise<Partial<Telemetry>>;
  /** A running job is in `cancelIds`: abort it. */
  onCancel: (job: JobRef) => void;
  /** A job we sent is missing from `knownIds`: it is no longer ours. */
  onLost: (job: JobRef) => void;
  /** The coordinator refused the password: the executor must stop. */
  onFatal: (err: CoordinatorFatalError) => void;
  logger: Logger;
  /** The coordinator's URL, for the log. */
  coordinatorUrl?: string;
}

const refKey = (job: JobRef) => `${job.queue}\u0000${job.id}`;

/** Sends a heartbeat every `intervalMs` between `start()` and `stop()`. */
export class HeartbeatLoop {
  private readonly intervalMs: number;
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  /** Heartbeats that failed in a row; the next success says the coordinator answers again. */
  private failedBeats = 0;

  constructor(private readonly options: HeartbeatLoopOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  }

  /** Starts beating; the first beat is one interval from now (the ping just ran). Idempotent. */
  start(): void {
    if (this.loop || this.controller.signal.aborted) return;
    const signal = this.controller.signal;
    this.loop = (async () => {
      while (await sleep(this.intervalMs, signal)) await this.beat(signal);
    })();
  }

  /** Stops beating, aborting a beat in flight; resolves when the loop has ended. Idempotent. */
  async stop(): Promise<void> {
    this.controller.abort(new Error('heartbeat loop stopped'));
    await this.loop;
  }

  /** One heartbeat; never throws. Exposed for tests. */
  async beat(signal: AbortSignal): Promise<void> {
    const sent = this.options.runningJobs();
    let result: HeartbeatResult;
    try {
      result = await this.options.client.heartbeat(sent, await this.options.telemetry(), signal);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof CoordinatorFatalError) {
        this.options.onFatal(err);
        return;
      }
      // Since SG PR #44685 a failed heartbeat cancels nothing; the next tick tries again. The fields
      // stay the same from beat to beat, so the logger folds the repeats into one line with a count.
      this.failedBeats++;
      this.options.logger.warn('heartbeat failed; trying again at the next tick', { url: this.options.coordinatorUrl, err: err instanceof Error ? err.message : String(err) });
      return;
    }
    if (this.failedBeats > 0) {
      this.options.logger.info('heartbeats reach the coordinator again', { url: this.options.coordinatorUrl, failedHeartbeats: this.failedBeats });
      this.failedBeats = 0;
    }
    const known = new Set(result.knownIds.map(refKey));
    for (const job of sent) if (!known.has(refKey(job))) this.options.onLost(job);
    for (const job of result.cancelIds) this.options.onCancel(job);
  }
}
