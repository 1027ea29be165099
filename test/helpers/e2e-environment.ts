// What every end-to-end test of bin/executor starts from: bin/coordinator as a real process on a scratch
// PostgreSQL database, a work directory for its data and the executors' workspaces, and the environment
// an executor needs to serve it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutorRuntime } from '../../src/executor/config.js';
import { AdminApi } from './api-client.js';
import { spawnCoordinator, type CoordinatorProcess } from './coordinator-process.js';
import { createPostgresDatabase } from './test-database.js';

export interface E2eEnvironment {
  coordinator: CoordinatorProcess;
  /** The admin API with COORDINATOR_ADMIN_TOKEN (plain HTTP only: fetch cannot trust a test CA). */
  admin: AdminApi;
  /** A fresh directory: the coordinator's data in `coordinator/`, the executors' workspaces (TMPDIR). */
  work: string;
  databaseUrl: string;
  executorToken: string;
  adminToken: string;
  /** The variables of an executor serving the `batches` queue of this coordinator, plus `extra`. */
  executorEnv(extra?: Record<string, string>): Record<string, string>;
  /** Kills the coordinator, drops the database, removes the work directory. */
  stop(): Promise<void>;
}

export async function startE2eEnvironment(options: { name: string; runtime: ExecutorRuntime; coordinatorEnv?: Record<string, string> }): Promise<E2eEnvironment> {
  const executorToken = randomBytes(16).toString('hex');
  const adminToken = randomBytes(16).toString('hex');
  const work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), `executors-${options.name}-`)));
  const database = await createPostgresDatabase();
  let coordinator: CoordinatorProcess;
  try {
    coordinator = await spawnCoordinator({
      COORDINATOR_DATABASE_URL: database.url,
      COORDINATOR_DATA_DIR: path.join(work, 'coordinator'),
      COORDINATOR_EXECUTORS_ACCESS_TOKEN: executorToken,
      COORDINATOR_ADMIN_TOKEN: adminToken,
      // Longer than the executor's 5 s heartbeat, or running jobs would be reset under it.
      COORDINATOR_STALLED_JOB_MAX_AGE: '8s',
      COORDINATOR_RESETTER_INTERVAL: '1s',
      ...options.coordinatorEnv,
    });
  } catch (err) {
    await database.drop();
    await fs.rm(work, { recursive: true, force: true });
    throw err;
  }
  return {
    coordinator,
    admin: new AdminApi(coordinator.url, adminToken),
    work,
    databaseUrl: database.url,
    executorToken,
    adminToken,
    executorEnv: (extra = {}) => ({
      EXECUTOR_FRONTEND_URL: coordinator.url,
      EXECUTOR_FRONTEND_PASSWORD: executorToken,
      EXECUTOR_QUEUE_NAME: 'batches',
      EXECUTOR_RUNTIME: options.runtime,
      // Steps on shell write to the work directory: as the executor's user (test/security runs them as another).
      ...(options.runtime === 'shell' ? { EXECUTOR_SHELL_ALLOW_SAME_USER: 'true' } : {}),
      TMPDIR: work,
      ...extra,
    }),
    async stop() {
      coordinator.child.kill('SIGKILL');
      await coordinator.exited;
      await database.drop();
      await fs.rm(work, { recursive: true, force: true });
    },
  };
}
