// Streams one job's log entries to the coordinator while its commands run (the original's cmdlogger,
// reference §4.10): adds entries in order, resends changed entries every second, flushes at the end.
import type { ExecutionLogEntry } from '../../protocol/execution-log-entry.js';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { CoordinatorJobNotHeldError } from '../client/client-errors.js';
import type { CoordinatorClient, JobCredentials } from '../client/coordinator-client.js';
import { LogEntryStream } from './log-entry-stream.js';
import type { Redactor } from './redactor.js';

/** Warnings kept for `flush`; more are logged but not kept (a coordinator down for 30 min means 1 800 per entry). */
const MAX_KEPT_WARNINGS = 100;

/** What the streamer needs of the coordinator client. */
export type LogEntryClient = Pick<CoordinatorClient, 'addExecutionLogEntry' | 'updateExecutionLogEntry'>;

export interface LogStreamerOptions {
  client: LogEntryClient;
  job: JobCredentials;
  /** The job's redactor (`Redactor.forJob`): applied to keys, commands and output. */
  redactor: Redactor;
  logger: Logger;
  /** How often changed entries are resent, in ms. Default 1000 (reference §4.10). */
  syncIntervalMs?: number;
  /** Cap on each entry's output in bytes. Default DEFAULT_MAX_OUTPUT_BYTES (10 MiB). */
  maxOutputBytes?: number;
  /**
   * Aborts every request of the streamer, final updates included: the executor's forced exit. Not the
   * job's cancel or timeout signal: a canceled job's log is still flushed (STYLE.md "Lifecycle").
   */
  signal?: AbortSignal;
}

/** A log call that failed: which entry, and whether it was the add, a periodic update or the final one. */
export class LogEntryWriteError extends AppError {
  constructor(
    /** The entry's (redacted) key. */
    readonly key: string,
    readonly operation: 'add' | 'update' | 'final-update',
    cause: unknown,
  ) {
    const what = operation === 'add' ? 'adding' : operation === 'update' ? 'updating' : 'writing the final state of';
    super('executor.log_entry_write_failed', `${what} log entry ${JSON.stringify(key)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** What `flush` learned. */
export interface LogFlushResult {
  /** Failed final updates: the stored log is incomplete, so the job must fail (reference §4.10). */
  errors: LogEntryWriteError[];
  /** Failed adds and periodic updates, already logged; they do not fail the job. */
  warnings: LogEntryWriteError[];
}

/** One entry and what the coordinator has of it. */
interface EntryRecord {
  stream: LogEntryStream;
  /** `adding` until addExecutionLogEntry resolves; `failed`: never added, so never updated. */
  state: 'adding' | 'added' | 'failed';
  /** The coordinator's id, once added. */
  entryId: number | undefined;
  /** The revision the coordinator has; -1 before the add. */
  sentRevision: number;
  /** The one request in flight for this entry, if any. */
  inFlight: Promise<void> | undefined;
  /** Why the final update sent at `finalize` failed (after the client's retries); `flush` reports it. */
  finalError: unknown;
}

/**
 * The log of one job. `entry` returns a LogEntryStream at once; its add goes out through a queue, in
 * the order entries were created, and no update of an entry is sent before its add resolved. Every
 * `syncIntervalMs` each changed entry is resent whole, one request per entry at a time. `flush`, when
 * the job ends, sends the final state of every entry and returns what failed; `close` stops it all.
 * Nothing here waits on the network while a command writes: writes only append in memory.
 */
export class LogStreamer {
  private readonly options: LogStreamerOptions;
  private readonly logger: Logger;
  private readonly controller = new AbortController();
  private readonly signal: AbortSignal;
  private readonly records: EntryRecord[] = [];
  private readonly warnings: LogEntryWriteError[] = [];
  private addQueue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<LogFlushResult> | undefined;
  private closed = false;
  /** Set once the coordinator said the job is no longer ours: periodic updates stop. */
  private jobLost = false;

  constructor(options: LogStreamerOptions) {
    this.options = options;
    this.logger = options.logger.with({ jobId: options.job.id, queue: options.job.queue });
    this.signal = options.signal ? AbortSignal.any([this.controller.signal, options.signal]) : this.controller.signal;
    const syncIntervalMs = options.syncIntervalMs ?? 1000;
    this.timer = setInterval(() => this.sync(), syncIntervalMs);
    // The job's own work keeps the process alive; a forgotten streamer must not.
    this.timer.unref();
  }

  /**
   * Starts the log entry of one command: `startTime` is now; `key` and `command` are redacted. Throws
   * once `flush` or `close` was called (a bug in the caller: the entry would never be sent).
   */
  entry(key: string, command: readonly string[]): LogEntryStream {
    if (this.flushing || this.closed) throw new Error(`log entry ${JSON.stringify(key)} created after the job's log was flushed or closed`);
    const record: EntryRecord = { stream: undefined!, state: 'adding', entryId: undefined, sentRevision: -1, inFlight: undefined, finalError: undefined };
    record.stream = new LogEntryStream({
      key,
      command,
      redactor: this.options.redactor,
      maxOutputBytes: this.options.maxOutputBytes,
      onFinalize: () => this.sendFinalState(record),
    });
    this.records.push(record);
    this.addQueue = this.addQueue.then(() => this.add(record));
    return record.stream;
  }

  /**
   * Sends the final state of every entry the coordinator does not have yet (after the adds still
   * queued and the updates in flight), and stops the periodic sync. Final updates are retried by the
   * client. Resolves, never rejects; calling it again returns the same promise.
   */
  flush(): Promise<LogFlushResult> {
    this.flushing ??= this.doFlush();
    return this.flushing;
  }

  /** Stops the periodic sync and aborts requests in flight. Idempotent; `flush` first to keep the log. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    this.controller.abort(new Error('the log streamer was closed'));
  }

  private async doFlush(): Promise<LogFlushResult> {
    this.stopTimer();
    await this.addQueue;
    const errors: LogEntryWriteError[] = [];
    await Promise.all(
      this.records.map(async (record) => {
        if (record.state !== 'added') return;
        // The periodic update in flight may already carry the final state; wait for it and compare.
        await record.inFlight;
        if (record.stream.revision === record.sentRevision) return;
        try {
          // The final update already went out at `finalize` and failed after its retries: report that.
          if (record.finalError !== undefined) throw record.finalError;
          await this.send(record, true);
        } catch (err) {
          const error = new LogEntryWriteError(record.stream.key, 'final-update', err);
          this.logger.error('could not write the final state of a log entry; the job fails', { key: record.stream.key, err: error.message });
          errors.push(error);
        }
      }),
    );
    return { errors, warnings: [...this.warnings] };
  }

  private async add(record: EntryRecord): Promise<void> {
    if (this.signal.aborted) {
      record.state = 'failed';
      return;
    }
    const revision = record.stream.revision;
    try {
      record.entryId = await this.options.client.addExecutionLogEntry(this.options.job, record.stream.snapshot(), this.signal);
      record.state = 'added';
      record.sentRevision = revision;
      // Finalized while the add was on its way: the final state goes out now.
      if (record.stream.finalized) this.sendFinalState(record);
    } catch (err) {
      record.state = 'failed';
      this.warn(record, 'add', err);
    }
  }

  /**
   * Sends a finalized entry's final state at once rather than at the next tick or the flush, so the job
   * is not marked a round trip later than it ended. It is the final update (retried by the client); if
   * it still fails, `flush` reports that failure, which fails the job.
   */
  private sendFinalState(record: EntryRecord): void {
    if (record.state !== 'added' || record.inFlight || this.jobLost || this.signal.aborted) return;
    if (record.stream.revision === record.sentRevision) return;
    record.inFlight = this.send(record, true)
      .catch((err: unknown) => {
        record.finalError = err ?? new Error('final update failed');
      })
      .finally(() => (record.inFlight = undefined));
  }

  /** One tick: resend each added, changed entry that has no request in flight. */
  private sync(): void {
    if (this.jobLost || this.signal.aborted) return;
    for (const record of this.records) {
      if (record.state !== 'added' || record.inFlight || record.stream.revision === record.sentRevision) continue;
      record.inFlight = this.send(record, false)
        .catch((err: unknown) => this.warn(record, 'update', err))
        .finally(() => (record.inFlight = undefined));
    }
  }

  /** Sends the entry as it is now; on success the coordinator has that revision. */
  private async send(record: EntryRecord, final: boolean): Promise<void> {
    const revision = record.stream.revision;
    const entry: ExecutionLogEntry = record.stream.snapshot();
    await this.options.client.updateExecutionLogEntry(this.options.job, record.entryId!, entry, this.signal, { final });
    record.sentRevision = revision;
  }

  private warn(record: EntryRecord, operation: 'add' | 'update', err: unknown): void {
    if (this.closed) return; // aborted by close(): nothing went wrong with the coordinator
    const warning = new LogEntryWriteError(record.stream.key, operation, err);
    if (this.warnings.length < MAX_KEPT_WARNINGS) this.warnings.push(warning);
    if (err instanceof CoordinatorJobNotHeldError) {
      if (!this.jobLost) this.logger.warn('the coordinator says the job is no longer ours; log updates stop', { key: record.stream.key, err: warning.message });
      this.jobLost = true;
      return;
    }
    this.logger.warn(operation === 'add' ? 'could not add a log entry; its output is not sent' : 'could not update a log entry; the next sync retries', {
      key: record.stream.key,
      err: warning.message,
    });
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
