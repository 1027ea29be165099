// Runs one dequeued job end to end (reference §4.4): redactor and log streamer, workspace, runtime setup,
// the steps in order, then teardown, workspace removal and the log flush, whatever happened before.
import type { ExecutorConfig } from '../config.js';
import type { CoordinatorClient, DequeuedJob } from '../client/coordinator-client.js';
import { dockerAuthRedactedValues } from '../runtimes/docker-auth.js';
import { runProcessGroup } from '../runtimes/process-group.js';
import { stepSpecsFor, type Runtime, type RuntimeJob } from '../runtimes/runtime.js';
import type { RunCommand } from '../workspace/spawn-command.js';
import { prepareWorkspace, type Workspace } from '../workspace/workspace.js';
import type { Logger } from '../../shared/logger.js';
import { formatGoDuration } from '../../shared/go-duration.js';
import type { JobAbortReason, JobHandler, JobOutcome } from './job-handler.js';
import type { LogEntryStream } from './log-entry-stream.js';
import { LogStreamer } from './log-streamer.js';
import { Redactor } from './redactor.js';

/**
 * The exit code a log entry gets when its command was stopped by an abort or never started: Go's
 * `ProcessState.ExitCode()` for a killed process, which the original logs.
 */
const ABORTED_EXIT_CODE = -1;

export interface JobRunnerOptions {
  config: Pick<ExecutorConfig, 'ownRedactedValues' | 'keepWorkspaces' | 'maximumRuntimePerJobMs' | 'workspaceParentDir'>;
  /** The coordinator: log entries, the git proxy's upstream, the files store. */
  client: CoordinatorClient;
  runtime: Runtime;
  logger: Logger;
  /** Extra CA certificates (PEM) for an https coordinator. Default the client's (`client.ca`). */
  ca?: ReadonlyArray<string | Buffer>;
  /** How often changed log entries are resent, in ms. Default 1 000 (reference §4.10). */
  logSyncIntervalMs?: number;
}

/** The JobHandler of the `shell`, `docker`, `vm` and `kubernetes` runtimes. */
export class JobRunner implements JobHandler {
  private readonly options: JobRunnerOptions;

  constructor(options: JobRunnerOptions) {
    this.options = options;
  }

  /** The runtime's limits, as it applies them (see Runtime.limits). */
  get limits(): Readonly<Record<string, string>> | undefined {
    return this.options.runtime.limits;
  }

  /** Stops the runtime's keep-for-later parts (the vm runtime's warm pool). */
  async stop(): Promise<void> {
    await this.options.runtime.stop?.();
  }

  /**
   * Runs `job`; never throws. Completed when every step exited 0; errored at the first step that did
   * not (`running command "<key>": command failed with exit code N`), on a setup failure, a timeout or
   * a shutdown, or when the final log write failed; failed when canceled or when the job cannot run here.
   */
  async handle(job: DequeuedJob, signal: AbortSignal): Promise<JobOutcome> {
    const { config, client, runtime } = this.options;
    const logger = this.options.logger.with({ jobId: job.id, queue: job.queue });
    // src-cli steps (the legacy handler, reference §4.8) need the `src` binary and a different spec
    // shape; this executor does not implement them, so such a job fails for good rather than retry.
    if (job.cliSteps.length > 0) {
      return { state: 'failed', message: 'src-cli steps (cliSteps) are not supported by this executor; use dockerSteps' };
    }

    // The job's registry credentials are the executor's to keep out of the log too (a step that runs
    // `cat $DOCKER_CONFIG/config.json`, a registry's error quoting the header).
    const redactor = Redactor.forJob({ ...dockerAuthRedactedValues(job.dockerAuthConfig), ...job.redactedValues }, config.ownRedactedValues);
    const logs = new LogStreamer({
      client,
      job,
      redactor,
      logger,
      syncIntervalMs: this.options.logSyncIntervalMs,
    });
    let outcome: JobOutcome | undefined;
    let workspace: Workspace | undefined;
    let runtimeJob: RuntimeJob | undefined;
    try {
      // A runtime that clones in its sandbox (kubernetes) gets a workspace that exists only there.
      workspace = runtime.sandboxWorkspace ? runtime.sandboxWorkspace(job) : await prepareWorkspace({
        job,
        client,
        tmpDir: config.workspaceParentDir,
        runCommand: loggedRunCommand(logs),
        signal,
        logger,
        ca: this.options.ca ?? client.ca,
        openLogEntry: (key, command) => {
          const entry = logs.entry(key, command);
          return { write: (text) => entry.write('stdout', text), finalize: (exitCode) => entry.finalize(exitCode) };
        },
      });
      const steps = stepSpecsFor(job, workspace, runtime.name);
      runtimeJob = await runtime.setup({ job, workspace, logger, signal, openLogEntry: (key, command) => logs.entry(key, command) });
      for (const step of steps) {
        signal.throwIfAborted();
        const entry = logs.entry(step.key, runtimeJob.commandFor(step));
        const { exitCode, failure } = await runLogged(entry, signal, () => runtimeJob!.runStep(step, (stream, chunk) => entry.write(stream, chunk), signal));
        if (exitCode !== 0) {
          // A runtime that knows why the step never ran (an image it could not pull) says so instead.
          outcome = { state: 'errored', message: failure ? `running command "${step.key}": ${failure}` : `running command "${step.key}": command failed with exit code ${exitCode}` };
          break;
        }
      }
      outcome ??= { state: 'completed' };
    } catch (err) {
      if (signal.aborted) {
        outcome = this.abortOutcome(signal.reason);
      } else {
        outcome = { state: 'errored', message: errorMessage(err) };
        logger.warn('job errored', { err: outcome.message });
      }
    } finally {
      // Cleanup runs after an abort too, and never changes the outcome (reference §4.13).
      if (runtimeJob) await runtimeJob.teardown().catch((err: unknown) => logger.warn('runtime teardown failed', { err }));
      if (workspace && !runtime.sandboxWorkspace) await removeWorkspace(workspace, config.keepWorkspaces, logs);
    }

    const flushed = await logs.flush();
    logs.close();
    const flushError = flushed.errors[0];
    const result: JobOutcome = outcome;
    if (result.state === 'completed' && !flushError) return result;
    // The stored log is incomplete: the job fails (reference §4.4 step 7), an earlier error kept first.
    const message = result.state === 'completed' ? flushError!.message : flushError ? `${result.message}; ${flushError.message}` : result.message;
    // Error messages may quote a command's argument or output: they are stored like the log, so redacted too.
    return { state: result.state === 'completed' ? 'errored' : result.state, message: redactor.redact(message) };
  }

  /** The outcome of an aborted job, by the reason the worker loop gave (JobAbortReason). */
  private abortOutcome(reason: unknown): JobOutcome {
    switch (reason as JobAbortReason) {
      case 'canceled':
        return { state: 'failed', message: 'job was canceled' };
      case 'timeout':
        return { state: 'errored', message: `job exceeded maximum execution time of ${formatGoDuration(this.options.config.maximumRuntimePerJobMs)}` };
      case 'shutdown':
        return { state: 'errored', message: 'executor is shutting down' };
      default:
        return { state: 'errored', message: `job was aborted: ${errorMessage(reason)}` };
    }
  }
}

/** A RunCommand for workspace preparation: each git command in its own log entry, output streamed. */
function loggedRunCommand(logs: LogStreamer): RunCommand {
  return async (key, argv, options) => {
    const entry = logs.entry(key, argv);
    return runLogged(entry, options.signal, () =>
      runProcessGroup({ argv, cwd: options.cwd, env: options.env, signal: options.signal, onOutput: (stream, chunk) => entry.write(stream, chunk) }),
    );
  };
}

/** Runs a command for `entry` and finalizes it with the exit code, or with -1 and the error when it threw. */
async function runLogged<R extends { exitCode: number }>(entry: LogEntryStream, signal: AbortSignal, run: () => Promise<R>): Promise<R> {
  try {
    const result = await run();
    entry.finalize(result.exitCode);
    return result;
  } catch (err) {
    if (!(signal.aborted && err === signal.reason)) entry.write('stderr', `${errorMessage(err)}\n`);
    entry.finalize(ABORTED_EXIT_CODE);
    throw err;
  }
}

/** The `teardown.fs` entry: always exit code 0, a failure only noted in it (reference §4.13). */
async function removeWorkspace(workspace: Workspace, keep: boolean, logs: LogStreamer): Promise<void> {
  const entry = logs.entry('teardown.fs', []);
  entry.write('stdout', keep ? `Preserving workspace files (${workspace.path}) as requested\n` : `Removing ${workspace.path}\n`);
  // Workspace.remove never throws; it logs its own failure.
  await workspace.remove(keep);
  entry.finalize(0);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
