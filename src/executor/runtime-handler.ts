// Picks the runtime that EXECUTOR_RUNTIME names and wraps it in the job runner.
import path from 'node:path';
import type { Logger } from '../shared/logger.js';
import type { CoordinatorClient } from './client/coordinator-client.js';
import type { ExecutorConfig } from './config.js';
import { dockerCliEnv } from './runtimes/docker/docker-cli.js';
import { DockerRuntime, dockerHostCpuLimit } from './runtimes/docker/docker-runtime.js';
import type { Runtime } from './runtimes/runtime.js';
import { ShellRuntime } from './runtimes/shell/shell-runtime.js';
import { trustedCertificatesFor } from './tls/coordinator-trust.js';
import { resolveGuestPlatform } from './runtimes/vm/guest-platform.js';
import { StepImageCache } from './runtimes/vm/step-image-cache.js';
import { VmRuntime } from './runtimes/vm/vm-runtime.js';
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
    case 'vm': {
      const platform = await resolveGuestPlatform({ cacheDir: config.vmCacheDir, allowEmulation: config.vmAllowEmulation });
      if (platform.accel === 'tcg') logger.warn('vm runtime: KVM does not work here; VMs run under software emulation (EXECUTOR_VM_ALLOW_EMULATION=true), many times slower');
      const images = new StepImageCache({ dir: path.join(config.vmCacheDir, 'images'), maxBytes: config.vmImageCacheBytes, logger });
      runtime = new VmRuntime({ config, platform, images });
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
  return runtime;
}

export async function createJobHandler(config: ExecutorConfig, client: CoordinatorClient, logger: Logger): Promise<JobHandler> {
  return new JobRunner({ config, client, runtime: await createRuntime(config, logger), logger });
}
