// Picks the runtime that EXECUTOR_RUNTIME names and wraps it in the job runner.
import path from 'node:path';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { CoordinatorClient } from './client/coordinator-client.js';
import type { ExecutorConfig } from './config.js';
import { dockerCliEnv } from './runtimes/docker/docker-cli.js';
import { DockerRuntime, dockerHostCpuLimit } from './runtimes/docker/docker-runtime.js';
import type { Runtime } from './runtimes/runtime.js';
import { ShellRuntime } from './runtimes/shell/shell-runtime.js';
import { resolveShellUsers, shellUserProblems } from './runtimes/shell/shell-users.js';
import { trustedCertificatesFor } from './tls/coordinator-trust.js';
import { resolveGuestPlatform } from './runtimes/vm/guest/guest-platform.js';
import { StepImageCache } from './runtimes/vm/images/step-image-cache.js';
import { VmRuntime } from './runtimes/vm/vm-runtime.js';
import type { JobHandler } from './worker/job-handler.js';
import { JobRunner } from './worker/job-runner.js';

/** The runtime of `config`, with what earlier executor processes on this host left of theirs removed. */
export async function createRuntime(config: ExecutorConfig, logger: Logger): Promise<Runtime> {
  let runtime: Runtime;
  switch (config.runtime) {
    case 'shell': {
      if (config.shellUsers.length === 0) {
        logger.warn(
          "shell runtime as the executor's own user (EXECUTOR_SHELL_ALLOW_SAME_USER=true): steps can read EXECUTOR_FRONTEND_PASSWORD from /proc/<pid>/environ and with it take any job; use it only where the executor itself is a throw-away sandbox",
        );
        runtime = new ShellRuntime();
        break;
      }
      const users = await resolveShellUsers(config.shellUsers);
      const problems = await shellUserProblems(users, config.workspaceParentDir);
      if (problems.length > 0) throw new AppError('executor.runtime_unavailable', `the shell runtime cannot run steps as EXECUTOR_SHELL_USER: ${problems.join('; ')}`);
      logger.warn('shell runtime: steps run as host processes without a sandbox, as other users than the executor', { users: users.map((u) => u.name).join(',') });
      runtime = new ShellRuntime({ users });
      break;
    }
    case 'docker':
      runtime = new DockerRuntime({ config, numCpus: await dockerHostCpuLimit(config.jobNumCpus, dockerCliEnv(), logger) });
      break;
    case 'vm': {
      const platform = await resolveGuestPlatform({ cacheDir: config.vmCacheDir, allowEmulation: config.vmAllowEmulation });
      if (platform.accel === 'tcg') logger.warn('vm runtime: KVM does not work here; VMs run under software emulation (EXECUTOR_VM_ALLOW_EMULATION=true), many times slower');
      const images = new StepImageCache({ dir: path.join(config.vmCacheDir, 'images'), maxBytes: config.vmImageCacheBytes, logger });
      // Each job's uplink reaches the coordinator as the executor's own client does (its URL, its CA certificates).
      runtime = new VmRuntime({ config, platform, images, logger, coordinator: { url: config.frontendUrl, ca: trustedCertificatesFor(config)?.pems } });
      break;
    }
    case 'kubernetes': {
      // Loaded only here: the Kubernetes client takes ~600 ms to import.
      const { createKubernetesRuntime } = await import('./runtimes/kubernetes/create-kubernetes-runtime.js');
      runtime = await createKubernetesRuntime(config, logger, trustedCertificatesFor(config)?.pems);
      break;
    }
  }
  if (runtime.removeLeftovers) {
    const removeLeftovers = runtime.removeLeftovers.bind(runtime);
    const removed = await removeLeftovers(logger);
    logger.info(`removed leftovers of earlier executor processes (${runtime.name} runtime)`, { count: removed });
    // The janitor again every EXECUTOR_CLEANUP_TASK_INTERVAL (reference §6.1); it never keeps the process alive.
    let sweeping = false;
    setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      void removeLeftovers(logger).finally(() => (sweeping = false));
    }, config.cleanupTaskIntervalMs).unref();
  }
  // After the sweep: the snapshot is built and the warm pool filled in the background; jobs boot their guests meanwhile.
  if (runtime instanceof VmRuntime) runtime.start();
  return runtime;
}

export async function createJobHandler(config: ExecutorConfig, client: CoordinatorClient, logger: Logger): Promise<JobHandler> {
  return new JobRunner({ config, client, runtime: await createRuntime(config, logger), logger });
}
