// A CoordinatorClient for a test coordinator, built from an executor config the way the executor builds it.
import { CoordinatorClient, type CoordinatorClientOptions } from '../../src/executor/client/coordinator-client.js';
import { loadExecutorConfig, type ExecutorConfig, type ExecutorConfigOptions } from '../../src/executor/config.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { TestCoordinator } from './test-coordinator.js';

export type ConnectExecutorClientOptions = Partial<CoordinatorClientOptions> & {
  /** Ping once the client is built (default true); false leaves that to the test or a WorkerLoop. */
  ping?: boolean;
  /** The signal for that ping; default one that never aborts. */
  signal?: AbortSignal;
  /** Passed to loadExecutorConfig. */
  configOptions?: ExecutorConfigOptions;
};

/**
 * Loads an executor config for `c` (queue `batches` unless `env` says otherwise; `env` wins) and a
 * CoordinatorClient for it (`options` override its settings), then pings the coordinator with it.
 */
export async function connectExecutorClient(
  c: TestCoordinator,
  env: Record<string, string> = {},
  options: ConnectExecutorClientOptions = {},
): Promise<{ config: ExecutorConfig; client: CoordinatorClient }> {
  const { ping = true, signal = new AbortController().signal, configOptions = {}, ...clientOptions } = options;
  const config = loadExecutorConfig(
    { EXECUTOR_FRONTEND_URL: c.url, EXECUTOR_FRONTEND_PASSWORD: c.executorToken, EXECUTOR_QUEUE_NAME: 'batches', ...env },
    configOptions,
  );
  const client = new CoordinatorClient({
    baseUrl: config.frontendUrl,
    password: config.frontendPassword,
    executorName: config.name,
    executorVersion: '5.3.0',
    queues: config.queueNames,
    logger: silentLogger,
    ...clientOptions,
  });
  // Job routes accept a job's token only from an executor that has heartbeated (reference §2.2).
  if (ping) await client.ping(signal);
  return { config, client };
}
