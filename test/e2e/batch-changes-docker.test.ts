// Batch changes end to end on the docker runtime: the helper steps in the local executors-src-cli image
// (`npm run indexer-images -- --local-base`, built here if missing: node, git and src), the user's steps in
// a local busybox image, bin/executor running them. The upload step reaches the coordinator through a UNIX
// socket mounted into its container (SRC_PROXY, from COORDINATOR_CODEINTEL_SRC_PROXY), forwarded here to
// the coordinator's loopback port, as the codeintel docker test does.
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIndexerImages } from '../../scripts/build/indexer-images.js';
import { AdminApi } from '../helpers/api-client.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage, requireDockerDaemon } from '../helpers/docker.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';
import { forwardUnixSocketToPort } from '../helpers/socket-forwarder.js';

const SOCKET_IN_CONTAINER = '/run/executors-coordinator/coordinator.sock';
const SECRET_VALUE = 'docker-secret-value-9876543210';

describe.skipIf(!dockerTestsEnabled())('batch changes on the docker runtime (executors-src-cli helper image)', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let work: string;
  let socketDir: string;
  let forwarder: net.Server;

  beforeAll(async () => {
    await requireDockerDaemon();
    await buildIndexerImages({ localBase: true, quiet: true, only: ['src-cli'] });
    await ensureBusyboxImage();
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'batch-changes-docker-')));
    c = await startTestCoordinator('postgres', { COORDINATOR_CODEINTEL_SRC_PROXY: SOCKET_IN_CONTAINER });
    admin = new AdminApi(c.url, c.adminToken);
    socketDir = path.join(work, 'socket');
    await fs.mkdir(socketDir, { recursive: true });
    forwarder = await forwardUnixSocketToPort(path.join(socketDir, 'coordinator.sock'), Number(new URL(c.url).port));
    for (const name of ['github.com/acme/dock-a', 'github.com/acme/dock-b']) {
      const source = await createSourceRepository(path.join(work, name.replaceAll('/', '_')), [{ message: 'initial', files: { 'config.txt': 'mode=foo\n' } }]);
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
    }
    alice = await createTestUser(admin, 'alice');
    expect((await alice.api.post(`/api/v1/users/${alice.id}/secrets`, { key: 'DOCK_TOKEN', value: SECRET_VALUE, scope: 'batches' })).status).toBe(201);
  }, 900_000);
  afterAll(async () => {
    forwarder?.close();
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('runs the helper and the user\'s steps in containers and stores a diff that uses an output and a secret', async () => {
    const spec = `name: dock
description: on docker
on:
  - repositoriesMatchingQuery: repo:^github\\.com/acme/dock-
steps:
  - run: sed -i 's/mode=foo/mode=bar/' config.txt && printf %s "$(grep -c mode=bar config.txt)"
    container: ${BUSYBOX_IMAGE}
    outputs:
      count:
        value: \${{ step.stdout }}
  - run: echo "count=\${{ outputs.count }} secret_length=\${#DOCK_TOKEN}" > status.txt
    container: ${BUSYBOX_IMAGE}
    env:
      - DOCK_TOKEN
changesetTemplate:
  title: t
  body: b
  branch: dock
  commit:
    message: m
`;
    expect((await alice.api.post('/api/v1/batch-changes', { spec })).status).toBe(201);
    expect((await alice.api.post('/api/v1/batch-changes/dock/execute', {})).status).toBe(201);
    const executor = spawnExecutor({
      EXECUTOR_FRONTEND_URL: c.url,
      EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
      EXECUTOR_QUEUE_NAME: 'batches',
      EXECUTOR_RUNTIME: 'docker',
      EXECUTOR_NUM_TOTAL_JOBS: '2',
      EXECUTOR_JOB_NUM_CPUS: '0',
      EXECUTOR_JOB_MEMORY: '0',
      EXECUTOR_DOCKER_ADDITIONAL_MOUNTS: `type=bind,source=${socketDir},target=${path.dirname(SOCKET_IN_CONTAINER)}`,
      TMPDIR: work,
    });
    expect(await executor.exited, executor.log()).toBe(0);
    const done = await waitFor('the execution to settle', async () => {
      const v = (await alice.api.get('/api/v1/batch-changes/dock')).json;
      return v.execution && ['COMPLETED', 'FAILED', 'CANCELED'].includes(v.execution.state) ? v : undefined;
    });
    if (done.execution.state !== 'COMPLETED') {
      const job = (await admin.jobWithOutput('batches', done.workspaces[0].jobId)).json;
      throw new Error(`execution ${done.execution.state}: ${JSON.stringify(done.workspaces)}\n${JSON.stringify(job.executionLogs, null, 1)}`);
    }
    for (const w of done.workspaces) {
      const detail = (await alice.api.get(`/api/v1/batch-changes/dock/workspaces/${w.id}`)).json;
      expect(detail.result.outputs).toEqual({ count: '1' });
      expect(detail.result.diff).toContain('-mode=foo\n+mode=bar\n');
      expect(detail.result.diff).toContain(`+count=1 secret_length=${SECRET_VALUE.length}\n`);
      expect(detail.result.steps.map((r: { index: number; modifiedFiles: string[]; addedFiles: string[] }) => [r.index, r.modifiedFiles, r.addedFiles])).toEqual([
        [0, ['config.txt'], []],
        [1, [], ['status.txt']],
      ]);
      const entries = (await admin.jobWithOutput('batches', w.jobId)).json.executionLogs as Array<{ key: string; out: string }>;
      expect(JSON.stringify(entries)).not.toContain(SECRET_VALUE);
      // The last step has no outputs: the helper's shell form uploaded, with the image's curl, through SRC_PROXY's socket.
      expect(entries.find((e) => e.key === 'step.docker.step.1.post')?.out).toContain('uploaded the result: the diff and step 1 (shell helper)');
    }
  });
});
