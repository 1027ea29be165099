// Two coordinator processes on one PostgreSQL database share the queue: migrations under the advisory
// lock, no job handed out twice, tokens valid on either replica, long polls woken across processes.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { createPostgresDatabase } from '../helpers/test-database.js';

describe('two coordinator processes on one PostgreSQL', () => {
  const executorToken = randomBytes(16).toString('hex');
  const adminToken = randomBytes(16).toString('hex');
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let drop: () => Promise<void>;
  let dataDir: string;

  beforeAll(async () => {
    const database = await createPostgresDatabase();
    drop = database.drop;
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-replicas-'));
    const env = (name: string) => ({
      COORDINATOR_DATABASE_URL: database.url,
      COORDINATOR_DATA_DIR: path.join(dataDir, name),
      COORDINATOR_EXECUTORS_ACCESS_TOKEN: executorToken,
      COORDINATOR_ADMIN_TOKEN: adminToken,
    });
    // Started together on an empty database: the migration lock makes one wait for the other.
    [a, b] = await Promise.all([spawnCoordinator(env('a')), spawnCoordinator(env('b'))]);
  });
  afterAll(async () => {
    a?.child.kill('SIGKILL');
    b?.child.kill('SIGKILL');
    await drop?.();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('migrated once: exactly one of the two applied the schema', () => {
    const applied = [a.log(), b.log()].filter((log) => log.includes('applied migration'));
    expect(applied).toHaveLength(1);
  });

  it('hands each job to exactly one executor across both replicas, and accepts its token on either', async () => {
    const admin = new AdminApi(a.url, adminToken);
    const ids = await Promise.all(Array.from({ length: 60 }, () => admin.enqueue('batches')));
    const executors = Array.from({ length: 8 }, (_, i) => new ExecutorApi(i % 2 ? a.url : b.url, executorToken, `replica-executor-${i}`));
    await Promise.all(executors.map((e) => e.heartbeat('batches')));
    const got = await Promise.all(
      executors.map(async (e, i) => {
        const other = new ExecutorApi(i % 2 ? b.url : a.url, executorToken, e.executorName);
        const mine: number[] = [];
        for (;;) {
          const r = await e.dequeue('batches');
          if (r.status === 204) return mine;
          mine.push(r.json.id);
          expect((await other.markComplete('batches', r.json)).status).toBe(204);
        }
      }),
    );
    const all = got.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
    const listed = await new AdminApi(b.url, adminToken).get('/api/v1/queues/batches/jobs?state=completed&limit=500');
    expect(listed.json.jobs).toHaveLength(60);
  });

  it('wakes a dequeue waiting on one replica when a job is enqueued through the other', async () => {
    const waiter = new ExecutorApi(b.url, executorToken, 'replica-waiter');
    await waiter.heartbeat('codeintel');
    const waiting = waiter.dequeue('codeintel', { waitMs: 25_000 });
    await new Promise((r) => setTimeout(r, 300));
    const id = await new AdminApi(a.url, adminToken).enqueue('codeintel');
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(id);
  });

  it('on SIGTERM answers waiting dequeues with 204 and exits 0', async () => {
    const waiter = new ExecutorApi(a.url, executorToken, 'replica-shutdown-waiter');
    const waiting = waiter.dequeue('batches', { waitMs: 25_000 });
    await new Promise((r) => setTimeout(r, 300));
    a.child.kill('SIGTERM');
    expect((await waiting).status).toBe(204);
    expect(await a.exited).toBe(0);
  });
});
