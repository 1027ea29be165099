// Picks the job handler for the configured runtime. Only `shell` is built so far; the others
// (docker, vm, kubernetes) refuse with a message that says so instead of falling back silently.
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { CoordinatorClient } from './client/coordinator-client.js';
import type { ExecutorConfig } from './config.js';
import { ShellRuntime } from './runtimes/shell/shell-runtime.js';
import type { JobHandler } from './worker/job-handler.js';
import { JobRunner } from './worker/job-runner.js';

export function createJobHandler(config: ExecutorConfig, client: CoordinatorClient, logger: Logger): JobHandler {
  if (config.runtime !== 'shell') {
    throw new AppError(
      'executor.runtime_unavailable',
      `the ${config.runtime} runtime is not implemented yet in this build; set EXECUTOR_RUNTIME=shell to run steps as host processes (no isolation)`,
    );
  }
  logger.warn('shell runtime: steps run as host processes without isolation; use it only where the executor itself is sandboxed');
  return new JobRunner({ config, client, runtime: new ShellRuntime(), logger });
}
