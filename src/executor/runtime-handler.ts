// Picks the runtime that EXECUTOR_RUNTIME names and wraps it in the job runner. `vm` and `kubernetes`
// are not built yet: they refuse with a message that says so instead of falling back silently.
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { CoordinatorClient } from './client/coordinator-client.js';
import type { ExecutorConfig } from './config.js';
import { dockerCliEnv } from './runtimes/docker/docker-cli.js';
import { DockerRuntime, dockerHostCpuLimit } from './runtimes/docker/docker-runtime.js';
import type { Runtime } from './runtimes/runtime.js';
import { ShellRuntime } from './runtimes/shell/shell-runtime.js';
import type { JobHandler } from './worker/job-handler.js';
import { JobRunner } from './worker/job-runner.js';

/** The runtime of `config`, with what earlier executor processes on this host left of theirs removed. */
export async function createRuntime(config: ExecutorConfig, logger: Logger): Promise<Runtime> {
  let runtime: Runtime;
  switch (config.runtime) {
    case 'shell':
      logger.warn('shell runtime: steps run as host processes without isolation; use it only where the executor itself is sandboxed');
      runtime = new ShellRuntime();
      break;
    case 'docker':
      runtime = new DockerRuntime({ config, numCpus: await dockerHostCpuLimit(config.jobNumCpus, dockerCliEnv(), logger) });
      break;
    default:
      throw new AppError(
        'executor.runtime_unavailable',
        `the ${config.runtime} runtime is not implemented yet in this build; set EXECUTOR_RUNTIME=docker (steps in containers) or EXECUTOR_RUNTIME=shell (host processes, no isolation)`,
      );
  }
  if (runtime.removeLeftovers) {
    const removed = await runtime.removeLeftovers(logger);
    logger.info(`removed leftovers of earlier executor processes (${runtime.name} runtime)`, { count: removed });
  }
  return runtime;
}

export async function createJobHandler(config: ExecutorConfig, client: CoordinatorClient, logger: Logger): Promise<JobHandler> {
  return new JobRunner({ config, client, runtime: await createRuntime(config, logger), logger });
}
