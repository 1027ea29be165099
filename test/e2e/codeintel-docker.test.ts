// Auto-indexing end to end on the docker runtime, with the local indexer images (`npm run
// indexer-images -- --local-base`, built here if missing): bin/executor runs inferred TypeScript and
// Python index jobs in executors-scip-typescript / executors-scip-python and the upload step in
// executors-src-cli; the coordinator processes the uploads; navigation answers at known positions.
//
// The upload step reaches the coordinator through a UNIX socket mounted into its container (src's
// SRC_PROXY, set by COORDINATOR_CODEINTEL_SRC_PROXY), forwarded here to the coordinator's loopback
// port: no container traffic to any network address.
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIndexerImages } from '../../scripts/build/indexer-images.js';
import type { AdminApi } from '../helpers/api-client.js';
import { PY, PYTHON_FILES, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { dockerTestsEnabled, requireDockerDaemon } from '../helpers/docker.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { forwardUnixSocketToPort } from '../helpers/socket-forwarder.js';

const SOCKET_IN_CONTAINER = '/run/executors-coordinator/coordinator.sock';
const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();

describe.skipIf(!dockerTestsEnabled())('auto-indexing on the docker runtime with the local indexer images', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let forwarder: net.Server;
  let socketDir: string;
  const repos: Record<string, { name: string; commit: string }> = {};

  beforeAll(async () => {
    await requireDockerDaemon();
    await buildIndexerImages({ localBase: true, quiet: true });
    env = await startE2eEnvironment({ name: 'codeintel-docker', runtime: 'docker', coordinatorEnv: { COORDINATOR_CODEINTEL_SRC_PROXY: SOCKET_IN_CONTAINER } });
    admin = env.admin;
    socketDir = path.join(env.work, 'socket');
    await fs.mkdir(socketDir, { recursive: true });
    forwarder = await forwardUnixSocketToPort(path.join(socketDir, 'coordinator.sock'), Number(new URL(env.coordinator.url).port));
    for (const [key, files] of [['ts', TYPESCRIPT_FILES], ['py', PYTHON_FILES]] as const) {
      const source = await createSourceRepository(path.join(env.work, key), [{ message: 'initial', files }]);
      const name = `github.com/acme/docker-${key}`;
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
      repos[key] = { name, commit: source.commits[0]! };
    }
  }, 900_000);
  afterAll(async () => {
    forwarder?.close();
    await env?.stop();
  });

  it('runs the inferred TypeScript and Python jobs in the indexer images, uploads through the job token, and navigates', async () => {
    const jobIds: Record<string, number> = {};
    for (const key of ['ts', 'py']) {
      const res = await admin.post('/api/v1/codeintel/index-jobs', { repository: repos[key]!.name });
      expect(res.status, res.text).toBe(201);
      expect(res.json.jobs[0].indexer).toBe(key === 'ts' ? 'executors-scip-typescript:0.4.0' : 'executors-scip-python:0.6.6');
      jobIds[key] = res.json.jobs[0].id;
    }
    const executor = spawnExecutor(
      env.executorEnv({
        EXECUTOR_QUEUE_NAME: 'codeintel',
        EXECUTOR_NUM_TOTAL_JOBS: '2',
        EXECUTOR_JOB_NUM_CPUS: '0',
        EXECUTOR_JOB_MEMORY: '0',
        EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: `type=bind,source=${socketDir},target=${path.dirname(SOCKET_IN_CONTAINER)}`,
      }),
    );
    expect(await executor.exited, executor.log()).toBe(0);
    for (const key of ['ts', 'py']) {
      const job = (await admin.jobWithOutput('codeintel', jobIds[key]!)).json;
      expect(job.state, JSON.stringify(job.executionLogs.map((e: { key: string; out: string }) => [e.key, e.out?.slice(-800)]), null, 1)).toBe('completed');
      const upload = job.executionLogs.find((e: { key: string }) => e.key === 'step.docker.upload');
      expect(upload.command.join(' ')).toContain('executors-src-cli:0.1.0');
      expect(JSON.stringify(job.executionLogs)).not.toMatch(/Bearer [0-9a-f]{40}/);
    }
    const uploadOf = (key: string) =>
      waitFor(`the ${key} upload`, async () => {
        const list = (await admin.get(`/api/v1/codeintel/uploads?${q({ repository: repos[key]!.name })}`)).json.uploads;
        const u = list.find((x: { associatedIndexId: number }) => x.associatedIndexId === jobIds[key]);
        return u && (u.state === 'completed' || u.state === 'errored') ? u : undefined;
      }, 60_000);
    expect(await uploadOf('ts')).toMatchObject({ state: 'completed', indexer: 'scip-typescript' });
    expect(await uploadOf('py')).toMatchObject({ state: 'completed', indexer: 'scip-python' });

    const tsPos = { repository: repos.ts!.name, commit: repos.ts!.commit, ...TS.addCall };
    expect((await admin.get(`/api/v1/codeintel/definitions?${q(tsPos)}`)).json.locations).toEqual([{ repository: repos.ts!.name, commit: repos.ts!.commit, ...TS.addDefinition }]);
    expect((await admin.get(`/api/v1/codeintel/references?${q(tsPos)}`)).json.locations).toHaveLength(TS.addOccurrences.length);
    expect((await admin.get(`/api/v1/codeintel/hover?${q(tsPos)}`)).json.markdown).toContain(TS.hoverDoc);
    const pyPos = { repository: repos.py!.name, commit: repos.py!.commit, ...PY.greetCall };
    expect((await admin.get(`/api/v1/codeintel/definitions?${q(pyPos)}`)).json.locations).toEqual([{ repository: repos.py!.name, commit: repos.py!.commit, ...PY.greetDefinition }]);
    expect((await admin.get(`/api/v1/codeintel/hover?${q(pyPos)}`)).json.markdown).toContain(PY.hoverDoc);
  });
});
