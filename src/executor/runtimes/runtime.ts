// The seam every runtime (shell, docker, vm, kubernetes) implements: set up a job's sandbox, run its
// steps one by one, tear it down. The job runner owns workspace, logs and outcome; a runtime only runs.
import type { ExecutorRuntime } from '../config.js';
import type { DequeuedJob } from '../client/coordinator-client.js';
import type { OutputStream } from '../worker/log-entry-stream.js';
import type { Workspace } from '../workspace/workspace.js';
import type { Logger } from '../../shared/logger.js';

/** One docker step as a runtime runs it (reference §4.4 step 5, `NewRunnerSpecs`). */
export interface StepSpec {
  /** Its log entry key: `step.<runtime>.<step.key or index>` (reference §4.11), e.g. `step.docker.0`. */
  readonly key: string;
  /** Position in `job.dockerSteps`, from 0. */
  readonly index: number;
  /** The container image (unused by the shell runtime). */
  readonly image: string;
  /** The step's script, relative to the workspace (`.sourcegraph-executor/<name>.sh`, reference §4.6). */
  readonly scriptPath: string;
  /** Working directory relative to the workspace; `''` is the workspace itself. */
  readonly dir: string;
  /** `NAME=value` pairs, the step's whole environment as the job gives it. */
  readonly env: readonly string[];
}

/** A log entry of the job that a runtime writes itself (e.g. `setup.vm.start`, `teardown.vm`). */
export interface RuntimeLogEntry {
  write(stream: OutputStream, chunk: Buffer | string): void;
  /** Sets the exit code and duration; once. */
  finalize(exitCode: number): void;
  readonly finalized: boolean;
}

/** What `Runtime.setup` gets. */
export interface RuntimeSetupContext {
  job: DequeuedJob;
  workspace: Workspace;
  logger: Logger;
  /** The job's signal: aborting it stops setup (rejecting with `signal.reason`). */
  signal: AbortSignal;
  /** Opens a log entry of the job, shown in order with the others; usable until teardown ends. */
  openLogEntry(key: string, command: string[]): RuntimeLogEntry;
}

/** Receives a step's output as it comes, chunk by chunk, split anywhere. */
export type StepOutput = (stream: OutputStream, chunk: Buffer) => void;

/** How a step ended. */
export interface StepResult {
  exitCode: number;
  /** Why it failed before its commands ran, e.g. `image "alpine:3" could not be pulled: <reason>`; the job's failure message. */
  failure?: string;
}

/** One job's sandbox, set up: runs its steps, then is torn down. */
export interface RuntimeJob {
  /** The argv shown in the step's log entry (`command`); redacted by the log entry, not here. */
  commandFor(step: StepSpec): string[];
  /**
   * Runs one step to its end and resolves with its exit code, whatever it is. When `signal` aborts, the
   * step's processes are stopped (interrupt, grace, kill) and it rejects with `signal.reason`; it also
   * rejects when the step cannot be started (e.g. its `dir` escapes the workspace). `failure` says why a
   * step failed when its commands never ran (its image could not be pulled): the job's failure message.
   */
  runStep(step: StepSpec, output: StepOutput, signal: AbortSignal): Promise<StepResult>;
  /**
   * A file of the workspace as the steps left it, `relativePath` inside the workspace: so that jobs that
   * produce an index or a diff can hand it over. Call it after the last step and before teardown (the
   * vm runtime powers the VM off to read its workspace disk). Runtimes whose workspace is the host
   * directory itself do not need it.
   */
  readWorkspaceFile?(relativePath: string): Promise<Buffer>;
  /** Removes what setup created. Always called, also after an abort; never throws (reference §4.13). */
  teardown(): Promise<void>;
}

/** A way to run jobs' steps, chosen by EXECUTOR_RUNTIME (reference §5.1). */
export interface Runtime {
  readonly name: ExecutorRuntime;
  /**
   * The limits each job runs under as this runtime applies them, for the executor's start line, when
   * they differ from the configured ones (the docker runtime lowers `--cpus` to the host's CPUs).
   */
  readonly limits?: Readonly<Record<string, string>>;
  /**
   * For a runtime that prepares the workspace in the sandbox itself (kubernetes: the job pod's first init
   * container), the workspace as the steps will see it: the job runner then prepares nothing on this host
   * and writes no `teardown.fs` entry, and `setup` does the cloning. Its `remove` does nothing.
   */
  sandboxWorkspace?(job: DequeuedJob): Workspace;
  /** Prepares the sandbox of one job whose workspace is ready (reference §4.4 step 4). */
  setup(ctx: RuntimeSetupContext): Promise<RuntimeJob>;
  /**
   * Removes what executor processes on this host that are gone left of their jobs (containers, VMs),
   * at start (reference §4.13); resolves with how many it removed. Never throws.
   */
  removeLeftovers?(logger: Logger): Promise<number>;
  /**
   * Releases what the runtime keeps for jobs to come (the vm runtime's warm pool of guests), once no job
   * will be set up any more. Idempotent; never throws.
   */
  stop?(): Promise<void>;
}

/**
 * The log key of a step (`CommandKey` in the original): `step.kubernetes.<key|index>` for the kubernetes
 * runtime, `step.docker.<key|index>` for all others, shell and vm included (reference §4.11).
 */
export function stepKey(runtime: ExecutorRuntime, key: string | undefined, index: number): string {
  return `step.${runtime === 'kubernetes' ? 'kubernetes' : 'docker'}.${key ? key : index}`;
}

/**
 * One StepSpec per `job.dockerSteps` entry, in order, with the script `prepareWorkspace` wrote for it.
 * `runtime` only picks the key prefix (default `docker`, as for docker, shell and vm).
 */
export function stepSpecsFor(job: Pick<DequeuedJob, 'dockerSteps'>, workspace: Pick<Workspace, 'scriptPaths'>, runtime: ExecutorRuntime = 'docker'): StepSpec[] {
  if (workspace.scriptPaths.length !== job.dockerSteps.length) {
    throw new Error(`stepSpecsFor: ${job.dockerSteps.length} docker steps but ${workspace.scriptPaths.length} scripts in the workspace`);
  }
  return job.dockerSteps.map((step, index) => ({
    key: stepKey(runtime, step.key, index),
    index,
    image: step.image,
    scriptPath: workspace.scriptPaths[index]!,
    dir: step.dir ?? '',
    env: [...(step.env ?? [])],
  }));
}
