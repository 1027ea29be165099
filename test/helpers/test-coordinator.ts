// Starts a real coordinator in-process on a free port, over a test database, with short intervals.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadCoordinatorConfig, type CoordinatorConfig } from '../../src/coordinator/config.js';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import type { HttpServices } from '../../src/coordinator/http/services.js';
import type { ChangesetHook } from '../../src/coordinator/batches/changeset-hook.js';
import { createLogger, silentLogger, type Logger } from '../../src/shared/logger.js';
import { openTestDatabase, type Backend, type TestDatabase } from './test-database.js';

export interface TestCoordinator {
  url: string;
  coordinator: Coordinator;
  services: HttpServices;
  config: CoordinatorConfig;
  database: TestDatabase;
  executorToken: string;
  adminToken: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startTestCoordinator(
  backend: Backend,
  env: Record<string, string | undefined> = {},
  options: { logger?: Logger; changesetHook?: ChangesetHook } = {},
): Promise<TestCoordinator> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-coordinator-test-'));
  const executorToken = 'executor-' + randomBytes(16).toString('hex');
  const adminToken = 'admin-' + randomBytes(16).toString('hex');
  const config = loadCoordinatorConfig({
    COORDINATOR_ADDR: '127.0.0.1:0',
    COORDINATOR_DATA_DIR: dataDir,
    COORDINATOR_EXECUTORS_ACCESS_TOKEN: executorToken,
    COORDINATOR_ADMIN_TOKEN: adminToken,
    // Tests drive the resetter with runOnce(); keep the timer out of the way.
    COORDINATOR_RESETTER_INTERVAL: '1h',
    ...env,
  });
  const database = await openTestDatabase(backend);
  const logger = options.logger ?? (process.env.TEST_LOG ? createLogger({ level: 'debug', name: 'coordinator' }) : silentLogger);
  const coordinator = new Coordinator({ config, logger, database: database.db, changesetHook: options.changesetHook });
  await coordinator.start();
  return {
    url: coordinator.url,
    coordinator,
    services: coordinator.services!,
    config,
    database,
    executorToken: config.executorsAccessToken ?? executorToken,
    adminToken,
    dataDir,
    async stop() {
      await coordinator.stop();
      await database.dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
