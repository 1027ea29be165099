// A code-intel index job end to end on the vm runtime: bin/coordinator queues the job a repository's
// sourcegraph.yaml configures, bin/executor runs it in a QEMU microvm guest under emulation — the indexer
// step (a busybox image that writes the index scip-typescript made of this repository beforehand, since a
// real indexer run under TCG takes minutes) and the coordinator's own upload step in executors-src-cli
// (`npm run indexer-images -- --local-base --only src-cli`, built here if missing), converted from the host's
// docker store. The upload step's `src code-intel upload` reaches the coordinator through the guest's
// uplink: its SRC_ENDPOINT rewritten to the uplink, the executor's proxy forwarding the upload route with
// the job's token — and nothing else: the indexer step's request to the dequeue route gets the proxy's 403,
// the coordinator's own address nothing. The coordinator processes the upload and navigation answers.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIndexerImages } from '../../scripts/build/indexer-images.js';
import type { AdminApi } from '../helpers/api-client.js';
import { runIndexer, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage, requireDockerDaemon } from '../helpers/docker.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { qemuProcessesWith } from '../helpers/qemu-processes.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();

interface LogEntry {
  key: string;
  command: string[];
  out: string | null;
  exitCode: number | null;
}

// The images come from docker: skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no
// docker, never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('a code-intel index job on the vm runtime (TCG), uploading through the uplink', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  let repo: { name: string; commit: string };

  beforeAll(async () => {
    await requireDockerDaemon();
    await ensureBusyboxImage();
    await buildIndexerImages({ localBase: true, quiet: true, only: ['src-cli'] });
    env = await startE2eEnvironment({ name: 'codeintel-vm', runtime: 'vm' });
    admin = env.admin;
    const port = new URL(env.coordinator.url).port;
    // The index the indexer step hands over: scip-typescript's, of these very files.
    const indexed = path.join(env.work, 'indexed');
    await fs.mkdir(path.join(indexed, 'src'), { recursive: true });
    for (const [name, content] of Object.entries(TYPESCRIPT_FILES)) await fs.writeFile(path.join(indexed, name), content);
    const index = await fs.readFile(await runIndexer('scip-typescript', indexed));
    const source = await createSourceRepository(path.join(env.work, 'source'), [
      {
        message: 'initial',
        files: {
          ...TYPESCRIPT_FILES,
          'prebuilt.scip.b64': `${index.toString('base64')}\n`,
          // Before the index is written, the step tries the coordinator's other routes through the uplink
          // and the coordinator itself (the host's 10.0.2.2 and the guest's own loopback): none answers.
          'sourcegraph.yaml': [
            'index_jobs:',
            `  - indexer: ${BUSYBOX_IMAGE}`,
            '    local_steps:',
            `      - 'wget -q -O - --post-data "" http://10.0.2.100/.executors/queue/codeintel/dequeue; echo "dequeue through the uplink: $?"'`,
            `      - 'wget -q -T 3 -O - http://10.0.2.2:${port}/.executors/queue/codeintel/dequeue; echo "the coordinator via the host: $?"'`,
            `      - 'wget -q -T 3 -O - http://127.0.0.1:${port}/; echo "the coordinator on loopback: $?"'`,
            '    indexer_args: [sh, -c, "base64 -d prebuilt.scip.b64 > index.scip"]',
            '',
          ].join('\n'),
        },
      },
    ]);
    repo = { name: 'github.com/acme/vm-codeintel', commit: source.commits[0]! };
    expect((await admin.post('/api/v1/repositories', { name: repo.name, url: source.path })).status).toBe(201);
  }, 900_000);
  afterAll(async () => {
    await env?.stop();
  });

  it("runs the job in a guest whose upload step reaches the coordinator's upload route through the uplink; navigation answers", async () => {
    const scheduled = await admin.post('/api/v1/codeintel/index-jobs', { repository: repo.name });
    expect(scheduled.status, scheduled.text).toBe(201);
    expect(scheduled.json.source).toBe('sourcegraph.yaml');
    const jobId = scheduled.json.jobs[0].id as number;
    const executor = spawnExecutor(
      env.executorEnv({
        EXECUTOR_QUEUE_NAME: 'codeintel',
        EXECUTOR_NUM_TOTAL_JOBS: '1',
        EXECUTOR_VM_ALLOW_EMULATION: 'true',
        EXECUTOR_JOB_NUM_CPUS: '1',
        // Node (src) in the guest wants more than busybox.
        EXECUTOR_JOB_MEMORY: '512m',
        EXECUTOR_FIRECRACKER_DISK_SPACE: '1G',
        EXECUTOR_VM_CACHE_DIR: path.join(env.work, 'vm-cache'),
        // One cold boot: no snapshot built alongside (the machine's CPUs go to the job).
        EXECUTOR_VM_SNAPSHOTS: 'false',
      }),
    );
    expect(await executor.exited, executor.log()).toBe(0);
    const job = (await admin.jobWithOutput('codeintel', jobId)).json as { state: string; executionLogs: LogEntry[] };
    const logs = JSON.stringify(job.executionLogs.map((e) => [e.key, e.exitCode, e.out?.slice(-1500)]), null, 1);
    expect(job.state, logs).toBe('completed');
    const entry = (key: string) => job.executionLogs.find((e) => e.key === key)!;
    const start = entry('setup.vm.start');
    expect(start.out).toContain("stdout: uplink: SRC_ENDPOINT → executor proxy to the coordinator's upload routes (http://10.0.2.100 in the guest, SRC_PROXY dropped) for step upload");
    expect(start.command.join(' ')).toContain('restrict=on');
    const indexer = entry('step.docker.indexer');
    expect(indexer.exitCode).toBe(0);
    expect(indexer.out).toContain('stderr: wget: server returned error: HTTP/1.1 403 Forbidden');
    expect(indexer.out).toContain('stdout: dequeue through the uplink: 1');
    expect(indexer.out).toContain('stdout: the coordinator via the host: 1');
    expect(indexer.out).toContain('stdout: the coordinator on loopback: 1');
    const upload = entry('step.docker.upload');
    expect(upload.command.join(' ')).toContain('executors-src-cli:');
    expect(upload.exitCode, logs).toBe(0);
    expect(upload.out).toContain('View processing status');
    // The upload's requests passed; the indexer step's one to the dequeue route did not.
    expect(entry('teardown.vm').out).toMatch(/uplink closed \([1-9]\d* requests? forwarded to the coordinator, 1 refused\)/);
    // 🚨 The job's token never reaches the log.
    expect(JSON.stringify(job.executionLogs)).not.toMatch(/Bearer [0-9a-f]{40}/);

    const uploaded = await waitFor('the upload to be processed', async () => {
      const list = (await admin.get(`/api/v1/codeintel/uploads?${q({ repository: repo.name })}`)).json.uploads as Array<{ associatedIndexId: number; state: string }>;
      const found = list.find((u) => u.associatedIndexId === jobId);
      return found && (found.state === 'completed' || found.state === 'errored') ? found : undefined;
    }, 60_000);
    expect(uploaded).toMatchObject({ state: 'completed', indexer: 'scip-typescript', uploadedBy: `job:${jobId}` });
    const position = { repository: repo.name, commit: repo.commit, ...TS.addCall };
    expect((await admin.get(`/api/v1/codeintel/definitions?${q(position)}`)).json.locations).toEqual([{ repository: repo.name, commit: repo.commit, ...TS.addDefinition }]);
    expect((await admin.get(`/api/v1/codeintel/hover?${q(position)}`)).json.markdown).toContain(TS.hoverDoc);
    expect(await qemuProcessesWith(`${env.work}/`)).toEqual([]);
    expect((await fs.readdir(env.work)).filter((n) => n.startsWith('executor-vm-'))).toEqual([]);
  }, 600_000);
});
