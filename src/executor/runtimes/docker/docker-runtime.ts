// The docker runtime (reference §5.2): each step is a `docker run --rm` (§4.7) on the host's docker
// daemon, with the workspace mounted at /data. Containers share the host kernel: isolation is docker's.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../../../shared/backoff.js';
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { ExecutorConfig } from '../../config.js';
import { currentProcessOwner, type ProcessOwner } from '../../process-owner.js';
import { DOCKER_CONFIG_DIR_PREFIX, writeOwnerMarker } from '../../workspace/leftover-workspaces.js';
import { chooseDockerAuthConfig, writeDockerConfig, type DockerAuthSource } from '../docker-auth.js';
import { runProcessGroup } from '../process-group.js';
import type { Runtime, RuntimeJob, RuntimeSetupContext, StepOutput, StepSpec } from '../runtime.js';
import { CONTAINER_LABEL, containerLabels } from './container-labels.js';
import { dockerCliEnv, existingContainers, runDockerCli, toProcessEnv, type DockerCliEnv } from './docker-cli.js';
import { containerWorkingDir, dockerRunArgv, hostWorkspacePath, type DockerRunOptions } from './docker-run-command.js';
import { removeLeftoverContainers } from './leftover-containers.js';

/**
 * An image reference as docker parses one: `[host[:port]/]path[:tag][@digest]`. Anything else, above all
 * a value starting with `-` that `docker run` would read as a flag (`--privileged`), is refused.
 */
const IMAGE_REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/;

/** How long removing a canceled step's container may take before the step gives up on it, in ms. */
const REMOVE_TIMEOUT_MS = 10_000;
/** How long removeContainers keeps trying before it logs what is left, in ms. */
const REMOVE_DEADLINE_MS = 30_000;

/**
 * The docker CLI's words for a pull the registry refused, on a `docker: Error response from daemon:`
 * line: `unauthorized: authentication required` (credentials sent and refused) or `no basic auth
 * credentials` (none sent). Neither says which credentials docker had, nor where they came from.
 */
const PULL_AUTH_FAILURE = /^docker: .*(unauthorized|authentication required|no basic auth credentials)/im;

/** How much of a step's stderr is kept to look for PULL_AUTH_FAILURE, in bytes: docker's error is last. */
const STDERR_TAIL_BYTES = 4096;

/** Where a job's registry credentials came from, as a step's log names it (never the credentials). */
const AUTH_SOURCE_WORDS: Record<DockerAuthSource, string> = {
  job: "the job's dockerAuthConfig",
  executor: 'EXECUTOR_DOCKER_AUTH_CONFIG',
  host: "the executor user's docker config",
};

/**
 * The line a step's stderr gets when `docker run` exited 125 (docker itself failed, not the step) and
 * docker's stderr says the registry refused the pull: which source the credentials came from, since the
 * chosen source replaces the others and docker's own message cannot say. It names no credential.
 */
export function pullAuthFailureLine(image: string, exitCode: number, stderrTail: string, source: DockerAuthSource): string | undefined {
  if (exitCode !== 125) return undefined;
  const match = PULL_AUTH_FAILURE.exec(stderrTail);
  if (!match) return undefined;
  const why = /no basic auth credentials/i.test(match[0])
    ? `the registry asks for credentials and ${AUTH_SOURCE_WORDS[source]} has none for it (authentication failed)`
    : `the registry refused the credentials (authentication failed); they came from ${AUTH_SOURCE_WORDS[source]}`;
  return `executor: pulling ${image} failed: ${why}\n`;
}

/**
 * The job's failure message when `docker run` exited 125 because it could not pull the step's image:
 * `image "alpine:3" could not be pulled: <docker's reason>` (and where the credentials came from when
 * the registry refused them), instead of `command failed with exit code 125`, which says nothing of
 * the cause. Undefined when the exit was the step's own or docker failed for another reason.
 */
export function pullFailureMessage(image: string, exitCode: number, stderrTail: string, source: DockerAuthSource): string | undefined {
  if (exitCode !== 125) return undefined;
  // docker run says this before it pulls; a 125 without it is another failure (a bad mount, a bad flag).
  if (!/^Unable to find image '.*' locally$/m.test(stderrTail)) return undefined;
  const daemon = /^(?:docker: )?Error response from daemon: (.+)$/m.exec(stderrTail);
  const reason = (daemon?.[1] ?? stderrTail.trim().split('\n').filter((l) => !/^Unable to find image|^Run 'docker run --help'|^See 'docker run --help'/.test(l)).at(-1) ?? 'docker gave no reason')
    .trim()
    .replace(/\.$/, '');
  const auth = pullAuthFailureLine(image, exitCode, stderrTail, source);
  const why = auth ? `; ${auth.slice(auth.indexOf(' failed: ') + ' failed: '.length).trim()}` : '';
  return `image ${JSON.stringify(image)} could not be pulled: ${reason}${why}`;
}

export type DockerRuntimeConfig = Pick<
  ExecutorConfig,
  | 'name'
  | 'jobNumCpus'
  | 'jobMemoryText'
  | 'dockerAdditionalMounts'
  | 'dockerHostMountPath'
  | 'dockerAddHostGateway'
  | 'dockerAuthConfig'
  | 'workspaceParentDir'
>;

export interface DockerRuntimeOptions {
  config: DockerRuntimeConfig;
  /**
   * `--cpus` instead of EXECUTOR_JOB_NUM_CPUS: the docker host's CPU count where the configured number
   * is larger (docker refuses `--cpus` above it, which would fail every step). See dockerHostCpuLimit.
   */
  numCpus?: number;
  /** The docker CLI's environment. Default the executor's own forwarded variables (dockerCliEnv). */
  cliEnv?: DockerCliEnv;
  /** The docker CLI's SIGTERM → SIGKILL grace on abort, in ms. Default 500 (the container is removed anyway). */
  killGraceMs?: number;
  /** Default `os.hostname()`. */
  hostname?: string;
}

/** Runs each step in its own container on the host's docker daemon (EXECUTOR_RUNTIME=docker). */
export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  readonly limits: Readonly<Record<string, string>>;
  private readonly config: DockerRuntimeConfig;
  private readonly cliEnv: DockerCliEnv;
  private readonly hostname: string;
  private readonly owner: ProcessOwner;

  constructor(private readonly options: DockerRuntimeOptions) {
    this.config = options.config;
    this.cliEnv = options.cliEnv ?? dockerCliEnv();
    this.hostname = options.hostname ?? os.hostname();
    this.owner = currentProcessOwner(options.config.name);
    const cpus = options.numCpus ?? options.config.jobNumCpus;
    const lowered = options.numCpus !== undefined && options.numCpus !== options.config.jobNumCpus;
    this.limits = {
      jobCpus: cpus === 0 ? 'unlimited' : `${cpus}${lowered ? ` (the docker host's CPUs; EXECUTOR_JOB_NUM_CPUS=${options.config.jobNumCpus})` : ''}`,
      jobMemory: options.config.jobMemoryText === '0' ? 'unlimited' : options.config.jobMemoryText,
    };
  }

  /** Removes step containers that an executor process on this host, now dead, left behind. */
  removeLeftovers(logger: Logger): Promise<number> {
    return removeLeftoverContainers(this.hostname, this.cliEnv, logger);
  }

  /**
   * Writes the job's registry credentials, if any source has them (reference §8), to a private
   * directory beside the workspace; the steps' `docker --config` points at it.
   */
  async setup(ctx: RuntimeSetupContext): Promise<RuntimeJob> {
    ctx.signal.throwIfAborted();
    const { config } = this;
    const auth = chooseDockerAuthConfig(ctx.job.dockerAuthConfig, config.dockerAuthConfig);
    let dockerConfigDir: string | undefined;
    if (auth.config) {
      // Beside the workspace, never inside it: /data is the job's to read.
      dockerConfigDir = await fs.mkdtemp(path.join(config.workspaceParentDir, `${DOCKER_CONFIG_DIR_PREFIX}${ctx.job.id}-`));
      try {
        await fs.chmod(dockerConfigDir, 0o700);
        // The owner marker lets a later executor remove these credentials if this process is killed.
        await writeOwnerMarker(dockerConfigDir, this.owner);
        await writeDockerConfig(dockerConfigDir, auth.config);
      } catch (err) {
        await fs.rm(dockerConfigDir, { recursive: true, force: true });
        throw err;
      }
    }
    ctx.logger.debug('docker runtime: registry credentials', { source: auth.source });
    const suffix = randomBytes(4).toString('hex');
    return new DockerRuntimeJob({
      cliEnv: this.cliEnv,
      killGraceMs: this.options.killGraceMs ?? 500,
      logger: ctx.logger,
      jobId: ctx.job.id,
      executorName: config.name,
      dockerConfigDir,
      authSource: auth.source,
      run: {
        dockerConfigDir,
        addHostGateway: config.dockerAddHostGateway,
        numCpus: this.options.numCpus ?? config.jobNumCpus,
        memory: config.jobMemoryText,
        additionalMounts: config.dockerAdditionalMounts,
        hostWorkspaceDir: hostWorkspacePath(ctx.workspace.path, config.dockerHostMountPath),
        labels: containerLabels(this.owner, this.hostname, ctx.job),
      },
      containerName: (step) => `executor-job-${ctx.job.id}-${step.index}-${suffix}`,
    });
  }
}

interface DockerRuntimeJobOptions {
  cliEnv: DockerCliEnv;
  killGraceMs: number;
  logger: Logger;
  jobId: number;
  executorName: string;
  dockerConfigDir: string | undefined;
  authSource: DockerAuthSource;
  run: Omit<DockerRunOptions, 'containerName'>;
  containerName: (step: StepSpec) => string;
}

class DockerRuntimeJob implements RuntimeJob {
  /** Set when a step was stopped: its container may outlive its CLI, so teardown looks for the job's containers. */
  private sweepAtTeardown = false;

  constructor(private readonly options: DockerRuntimeJobOptions) {}

  commandFor(step: StepSpec): string[] {
    return dockerRunArgv(step, { ...this.options.run, containerName: this.options.containerName(step) });
  }

  async runStep(step: StepSpec, output: StepOutput, signal: AbortSignal): Promise<{ exitCode: number; failure?: string }> {
    signal.throwIfAborted();
    if (!IMAGE_REFERENCE.test(step.image)) {
      throw new AppError('runtime.invalid_step', `step ${step.index}: image ${JSON.stringify(step.image)} is not an image reference ([host[:port]/]name[:tag][@digest])`);
    }
    if (containerWorkingDir(step.dir) === undefined) {
      throw new AppError('workspace.path_outside', `step dir: ${JSON.stringify(step.dir)} leaves the workspace`);
    }
    const containerName = this.options.containerName(step);
    // The docker CLI does not stop its container when it is killed; the container is removed by name.
    let removal: Promise<void> | undefined;
    const onAbort = () => {
      removal = this.removeContainers([containerName]);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let stderrTail = '';
    try {
      const result = await runProcessGroup({
        argv: this.commandFor(step),
        env: toProcessEnv(this.options.cliEnv),
        signal,
        onOutput: (stream, chunk) => {
          if (stream === 'stderr') stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
          output(stream, chunk);
        },
        killGraceMs: this.options.killGraceMs,
      });
      const hint = pullAuthFailureLine(step.image, result.exitCode, stderrTail, this.options.authSource);
      if (hint) output('stderr', Buffer.from(hint));
      const failure = pullFailureMessage(step.image, result.exitCode, stderrTail, this.options.authSource);
      return failure ? { exitCode: result.exitCode, failure } : result;
    } catch (err) {
      // The CLI may have been killed between creating and starting the container: teardown sweeps.
      this.sweepAtTeardown = true;
      if (removal) await removal;
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async teardown(): Promise<void> {
    const { logger, dockerConfigDir } = this.options;
    if (this.sweepAtTeardown) {
      try {
        const listed = await runDockerCli(
          ['ps', '--all', '--quiet', '--filter', `label=${CONTAINER_LABEL.jobId}=${this.options.jobId}`, '--filter', `label=${CONTAINER_LABEL.executor}=${this.options.executorName}`],
          this.options.cliEnv,
          REMOVE_TIMEOUT_MS,
        );
        const ids = listed.stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await this.removeContainers(ids);
      } catch (err) {
        logger.warn('docker runtime: cannot look for the job\'s containers', { error: err });
      }
    }
    if (dockerConfigDir) await fs.rm(dockerConfigDir, { recursive: true, force: true }).catch((err: unknown) => logger.warn('docker runtime: cannot remove the docker config directory', { path: dockerConfigDir, error: err }));
  }

  /**
   * `docker rm --force` (SIGKILL, then remove) until none of `names` exists, for up to REMOVE_DEADLINE_MS.
   * One call is not always enough: the daemon may be removing the container itself already (`--rm`
   * after its CLI was signalled), and then answers "removal ... is already in progress" while the
   * container is still listed; under load a call can also outlive REMOVE_TIMEOUT_MS. A container already
   * gone is no error. Never rejects; what is left at the deadline is logged (and swept by the next executor).
   */
  private async removeContainers(names: string[]): Promise<void> {
    const { cliEnv, logger } = this.options;
    const deadline = Date.now() + REMOVE_DEADLINE_MS;
    let left = names;
    let lastError = '';
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await runDockerCli(['rm', '--force', ...left], cliEnv, REMOVE_TIMEOUT_MS);
        if (res.exitCode === 0) return;
        lastError = res.stderr.trim();
        left = await existingContainers(left, cliEnv, REMOVE_TIMEOUT_MS);
        if (left.length === 0) return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline) break;
      await sleep(Math.min(100 * 2 ** attempt, 1_000));
    }
    logger.warn('docker runtime: cannot remove a step container', { containers: left.join(','), error: lastError });
  }
}


/**
 * The `--cpus` to use: EXECUTOR_JOB_NUM_CPUS, or the docker host's CPU count (`docker info`) when that
 * is smaller, with a warning: docker refuses a larger `--cpus` ("Range of CPUs is from 0.01 to N"), and
 * the default of 4 would fail every step on a 2-CPU host. Undefined keeps the configured number (0 =
 * unbounded, or the daemon could not be asked: the first step then shows docker's own error).
 */
export async function dockerHostCpuLimit(configured: number, cliEnv: DockerCliEnv, logger: Logger): Promise<number | undefined> {
  if (configured === 0) return undefined;
  try {
    const info = await runDockerCli(['info', '--format', '{{.NCPU}}'], cliEnv, 20_000);
    const hostCpus = Number(info.stdout.trim());
    if (info.exitCode !== 0 || !Number.isInteger(hostCpus) || hostCpus <= 0) return undefined;
    if (configured <= hostCpus) return undefined;
    logger.warn(`EXECUTOR_JOB_NUM_CPUS=${configured} is more than the docker host's ${hostCpus} CPUs; steps run with --cpus ${hostCpus}`);
    return hostCpus;
  } catch {
    return undefined;
  }
}
