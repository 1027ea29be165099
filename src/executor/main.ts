// The executor's command line (reference §6.3): `run` (the default) loads the config, builds the
// coordinator client and the job handler, and runs the worker loop under the signal ladder.
import { buildInfo, versionLine } from '../shared/build-info.js';
import { ConfigError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { formatGoDuration } from '../shared/go-duration.js';
import { installSignalLadder } from '../shared/signal-ladder.js';
import { CoordinatorFatalError } from './client/client-errors.js';
import type { CoordinatorClient } from './client/coordinator-client.js';
import { runInstallCommand } from './commands/install-command.js';
import { runPrepareWorkspaceCommand } from './commands/prepare-workspace-command.js';
import { runTestVmCommand } from './commands/test-vm-command.js';
import type { ExecutorConfig } from './config.js';
import { loadExecutorConfigWithDefaultRuntime } from './default-runtime.js';
import { startHealthServer, type HealthServer } from './health-server.js';
import type { JobHandler } from './worker/job-handler.js';
import { coordinatorClientFor } from './tls/coordinator-trust.js';
import { runValidate } from './validate.js';
import { EXECUTOR_VERSION } from './worker/telemetry.js';
import { WorkerLoop, type WorkerLoopOptions } from './worker/worker-loop.js';
import { removeLeftoverWorkspaces } from './workspace/leftover-workspaces.js';

export interface ExecutorCliOptions {
  /** Builds the handler that runs each job (the JobRunner over the configured runtime). Required by `run`. */
  handlerFactory?(config: ExecutorConfig, client: CoordinatorClient, logger: Logger): JobHandler | Promise<JobHandler>;
  /** Where usage and errors go. Default process.stdout / process.stderr. */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Default a logger at SRC_LOG_LEVEL writing to stderr. */
  logger?: Logger;
  /** Install the SIGTERM/SIGINT ladder during `run`. Default true; tests turn it off. */
  installSignals?: boolean;
  /** Test hooks passed to the WorkerLoop (heartbeat interval, dequeue wait, telemetry). */
  workerLoop?: Pick<WorkerLoopOptions, 'heartbeatIntervalMs' | 'dequeueWaitMs' | 'pingIntervalMs' | 'telemetry'>;
  /** Called with the loop once it is built, e.g. so a test can stop it. */
  onWorkerLoop?: (loop: WorkerLoop) => void;
}

const USAGE = `Usage: executor [command]

Commands:
  run        Run the executor: dequeue jobs from the coordinator and run them (default)
  validate   Check the configuration, git, the runtime's tools and the coordinator's password
  install    Install what the vm runtime needs and the systemd service: install tools|kernel|initramfs|image REF...|service|all
  test-vm    Boot a VM as a job would and leave it running with a shell: test-vm [--repo NAME --revision REV]
             [--name-only]; test-vm --remove NAME stops it
  prepare-workspace  Used by the kubernetes runtime's job pods: clone and write a job's workspace there
  help       Show this help
  --version  Print the version and the commit it was built from

Main settings (environment):
  EXECUTOR_FRONTEND_URL          scheme://host[:port] of the Sourcegraph instance or coordinator (required)
  EXECUTOR_FRONTEND_PASSWORD     the site setting executors.accessToken (required)
  EXECUTOR_QUEUE_NAME(S)         the queue, or comma-separated queues, to take jobs from (required)
  EXECUTOR_MAXIMUM_NUM_JOBS      jobs run at once (default 1)
  EXECUTOR_QUEUE_POLL_INTERVAL   between dequeues when the coordinator does not long-poll (default 1s)
  EXECUTOR_MAXIMUM_RUNTIME_PER_JOB   a job's deadline (default 30m)
  EXECUTOR_NUM_TOTAL_JOBS        stop after this many jobs (default 0: never)
  EXECUTOR_MAX_ACTIVE_TIME       stop dequeuing after this long (default 0: never)
  EXECUTOR_RUNTIME               vm | docker | shell | kubernetes
  EXECUTOR_SHELL_USER            shell: users steps run as, one per job at once (required unless
                                 EXECUTOR_SHELL_ALLOW_SAME_USER=true: steps as the executor's user can read its token)
  SRC_PROF_HTTP                  host:port or :port of /healthz, /ready and /metrics (default: off)
  EXECUTOR_VM_PRELOAD_IMAGES     step images \`install all\` converts for the vm runtime ahead of the first job (comma-separated)

Signals: the first SIGTERM/SIGINT stops dequeuing and lets running jobs finish, the second cancels
them (their logs are flushed), the third exits at once.
`;

/**
 * Runs the `executor` command line; resolves to the exit status: 0 done, 1 the coordinator refused the
 * password (`validate`: a check failed), 2 bad usage or configuration. `argv` is the arguments after the program name.
 */
export async function runExecutorCli(argv: readonly string[], env: Record<string, string | undefined>, options: ExecutorCliOptions = {}): Promise<number> {
  const stdout = options.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const [command = 'run', ...rest] = argv;
  switch (command) {
    case 'help':
    case '--help':
    case '-h':
      stdout(USAGE);
      return 0;
    case '--version':
    case 'version':
      stdout(versionLine('executor') + '\n');
      return 0;
    case 'run':
      if (rest.length > 0) {
        stderr(`executor run: ${rest.includes('--verify') ? '--verify is not implemented yet' : `unexpected arguments: ${rest.join(' ')}`}\n`);
        return 2;
      }
      return runCommand(env, options, stderr);
    case 'validate':
      if (rest.length > 0) {
        stderr(`executor validate: unexpected arguments: ${rest.join(' ')}\n`);
        return 2;
      }
      return runValidate(env, { stdout, stderr });
    case 'install':
      return runInstallCommand(rest, env, { stdout, stderr, logger: options.logger });
    case 'test-vm':
      return runTestVmCommand(rest, env, { stdout, stderr, logger: options.logger });
    case 'prepare-workspace':
      return runPrepareWorkspaceCommand(rest, env, { stdout, stderr });
    default:
      stderr(`executor: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

async function runCommand(env: Record<string, string | undefined>, options: ExecutorCliOptions, stderr: (text: string) => void): Promise<number> {
  let config: ExecutorConfig;
  try {
    config = await loadExecutorConfigWithDefaultRuntime(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr(`executor: ${err.message}\n`);
    return 2;
  }
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat, name: 'executor' });
  if (!options.handlerFactory) {
    throw new Error(`executor run: runtime not available: no job runner is wired for the ${config.runtime} runtime in this build`);
  }
  const { client, trust } = coordinatorClientFor(config, logger, {
    resources: { numCPUs: config.jobNumCpus, memory: config.jobMemoryText, diskSpace: config.vmDiskSpaceText },
  });
  if (trust) logger.info('trusting CA certificates for the coordinator', { count: trust.pems.length, from: trust.foundIn.join(',') || 'none' });
  let removeLadder = () => {};
  let health: HealthServer | undefined;
  try {
    // Workspaces of an earlier executor process on this host that died before its teardown (reference
    // §4.13). EXECUTOR_KEEP_WORKSPACES keeps workspaces on purpose, for debugging: leave them then.
    if (config.keepWorkspaces) {
      logger.info('EXECUTOR_KEEP_WORKSPACES is set: not removing leftover workspaces', { path: config.workspaceParentDir });
    } else {
      const removed = await removeLeftoverWorkspaces(config.workspaceParentDir, logger);
      logger.info('removed leftover workspaces of earlier executor processes', { count: removed, path: config.workspaceParentDir });
    }
    const handler = await options.handlerFactory(config, client, logger);
    const loop = new WorkerLoop({ config, client, handler, logger, coordinatorUrl: config.frontendUrl, ...options.workerLoop });
    options.onWorkerLoop?.(loop);
    if (config.debugServerAddress) health = await startHealthServer({ address: config.debugServerAddress, ready: () => loop.ready, metrics: () => loop.metrics.metricsText(), logger });
    if (options.installSignals ?? true) {
      removeLadder = installSignalLadder(
        [
          { description: 'signal 1 of 3: draining: no new jobs, running jobs finish; send it again to cancel them', run: () => loop.stop() },
          { description: 'signal 2 of 3: canceling running jobs and flushing their logs; a third signal exits at once', run: () => loop.abortRunningJobs('shutdown') },
        ],
        logger,
      );
    }
    logger.info('executor started', { ...startFields(config), ...handler.limits });
    try {
      await loop.run();
    } finally {
      // The vm runtime's pooled guests: they would die with this process anyway (pdeathsig), but not their disks.
      await handler.stop?.();
    }
    logger.info('executor exited', { code: 0 });
    return 0;
  } catch (err) {
    if (!(err instanceof CoordinatorFatalError)) throw err;
    logger.error('executor exited: the coordinator cannot be used until this is fixed', { code: 1 });
    stderr(`executor: ${err.message}\n`);
    return 1;
  } finally {
    removeLadder();
    await health?.close();
    client.close();
    logger.flush();
  }
}

/** What the start line says: which build, where it takes jobs from, how many at once, and the limits each job runs under. */
export function startFields(config: ExecutorConfig): Record<string, unknown> {
  const limits = (() => {
    const cpus = config.jobNumCpus === 0 ? 'unlimited' : String(config.jobNumCpus);
    const memory = config.jobMemoryBytes === 0 ? 'unlimited' : config.jobMemoryText;
    switch (config.runtime) {
      case 'shell':
        // The shell runtime runs steps as host processes: nothing bounds their CPUs or memory.
        return { jobCpus: 'not limited (shell runtime)', jobMemory: 'not limited (shell runtime)' };
      case 'vm':
        return { jobCpus: cpus, jobMemory: memory, jobDisk: config.vmDiskSpaceText };
      default:
        return { jobCpus: cpus, jobMemory: memory };
    }
  })();
  return {
    version: buildInfo().version,
    protocolVersion: EXECUTOR_VERSION,
    name: config.name,
    runtime: config.runtime,
    queues: config.queueNames.join(','),
    coordinator: config.frontendUrl,
    slots: config.maximumNumJobs,
    ...limits,
    maximumRuntimePerJob: formatGoDuration(config.maximumRuntimePerJobMs),
    ...(config.numTotalJobs > 0 ? { numTotalJobs: config.numTotalJobs } : {}),
    ...(config.maxActiveTimeMs > 0 ? { maxActiveTime: formatGoDuration(config.maxActiveTimeMs) } : {}),
  };
}
