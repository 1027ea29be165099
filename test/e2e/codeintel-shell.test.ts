// Auto-indexing end to end with the real tools on the shell runtime: bin/coordinator serves a TypeScript
// and a Python repository, POST /api/v1/codeintel/index-jobs infers and queues their index jobs,
// bin/executor runs them (scip-typescript / scip-python and this project's src from node_modules/.bin,
// the upload authenticated by the job's own token), the coordinator processes the uploads, and
// definitions, references and hover answer at known positions. Also: a broken sourcegraph.yaml, an
// indexer that fails (and the back-off after repeated failures), and the job token never in a log.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi } from '../helpers/api-client.js';
import { PY, PYTHON_FILES, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();

describe('auto-indexing on the shell runtime (bin/coordinator, bin/executor, real indexers)', () => {
  let env: E2eEnvironment;
  let admin: AdminApi;
  const repos: Record<string, { name: string; commit: string }> = {};

  const executorEnv = (jobs: number) =>
    env.executorEnv({
      EXECUTOR_QUEUE_NAME: 'codeintel',
      EXECUTOR_NUM_TOTAL_JOBS: String(jobs),
      // The shell runtime refuses to run jobs as the executor's own user unless told (issue 11).
      EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
    });
  const runJobs = async (n: number) => {
    const executor = spawnExecutor(executorEnv(n));
    expect(await executor.exited, executor.log()).toBe(0);
  };
  const schedule = async (repository: string, revision = 'HEAD') => admin.post('/api/v1/codeintel/index-jobs', { repository, revision });
  const uploadOf = (repository: string, jobId: number) =>
    waitFor(`the upload of job ${jobId}`, async () => {
      const res = await admin.get(`/api/v1/codeintel/uploads?${q({ repository })}`);
      const upload = res.json.uploads.find((u: { associatedIndexId: number }) => u.associatedIndexId === jobId);
      return upload && (upload.state === 'completed' || upload.state === 'errored') ? upload : undefined;
    }, 60_000);

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'codeintel-shell', runtime: 'shell' });
    admin = env.admin;
    const add = async (key: string, name: string, files: Record<string, string>) => {
      const source = await createSourceRepository(path.join(env.work, key), [{ message: 'initial', files }]);
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
      repos[key] = { name, commit: source.commits[0]! };
    };
    await add('ts', 'github.com/acme/demo-ts', TYPESCRIPT_FILES);
    await add('py', 'github.com/acme/demo-py', PYTHON_FILES);
    await add('broken', 'github.com/acme/broken', { 'sourcegraph.yaml': 'index_jobs:\n  - root: src\n    indexer_args: [scip-typescript, index]\n', 'a.ts': 'export {};\n' });
    await add('failing', 'github.com/acme/failing', {
      'sourcegraph.yaml': 'index_jobs:\n  - indexer: any-image\n    indexer_args: [sh, -c, "echo indexer exploded >&2; exit 3"]\n',
    });
    await add('empty', 'github.com/acme/empty', { 'README.md': 'nothing to index\n' });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('infers, runs and uploads the TypeScript and Python index jobs, then navigates both at known positions', async () => {
    const ts = await schedule(repos.ts!.name);
    expect(ts.status, ts.text).toBe(201);
    expect(ts.json).toMatchObject({ commit: repos.ts!.commit, source: 'inferred', outcome: 'queued' });
    expect(ts.json.jobs).toHaveLength(1);
    const py = await schedule(repos.py!.name);
    expect(py.status, py.text).toBe(201);
    expect(py.json.jobs).toHaveLength(1);

    // The same commit again is a duplicate, not a second job.
    const again = await schedule(repos.ts!.name);
    expect(again.status).toBe(200);
    expect(again.json.outcome).toBe('up_to_date');
    expect(again.json.skipped[0]).toMatchObject({ reason: 'duplicate', existingJobId: ts.json.jobs[0].id });

    await runJobs(2);
    const tsJobId = ts.json.jobs[0].id as number;
    const pyJobId = py.json.jobs[0].id as number;
    const tsJob = (await admin.jobWithOutput('codeintel', tsJobId)).json;
    expect(tsJob.state, JSON.stringify(tsJob.executionLogs, null, 1)).toBe('completed');
    expect(tsJob.executionLogs.map((e: { key: string }) => e.key)).toEqual(expect.arrayContaining(['step.docker.indexer', 'step.docker.upload']));
    // The upload step's token is in its environment, never in its log.
    const uploadEntry = tsJob.executionLogs.find((e: { key: string }) => e.key === 'step.docker.upload');
    expect(uploadEntry.out).toContain('View processing status');
    expect(JSON.stringify(tsJob.executionLogs)).not.toMatch(/Bearer [0-9a-f]{40}/);

    const tsUpload = await uploadOf(repos.ts!.name, tsJobId);
    expect(tsUpload, JSON.stringify(tsUpload)).toMatchObject({ state: 'completed', indexer: 'scip-typescript', uploadedBy: `job:${tsJobId}` });
    const pyUpload = await uploadOf(repos.py!.name, pyJobId);
    expect(pyUpload, JSON.stringify(pyUpload)).toMatchObject({ state: 'completed', indexer: 'scip-python' });

    const tsPos = { repository: repos.ts!.name, commit: repos.ts!.commit, ...TS.addCall };
    expect((await admin.get(`/api/v1/codeintel/definitions?${q(tsPos)}`)).json.locations).toEqual([{ repository: repos.ts!.name, commit: repos.ts!.commit, ...TS.addDefinition }]);
    expect((await admin.get(`/api/v1/codeintel/references?${q(tsPos)}`)).json.locations).toHaveLength(TS.addOccurrences.length);
    expect((await admin.get(`/api/v1/codeintel/hover?${q(tsPos)}`)).json.markdown).toContain(TS.hoverDoc);

    const pyPos = { repository: repos.py!.name, commit: repos.py!.commit, ...PY.greetCall };
    expect((await admin.get(`/api/v1/codeintel/definitions?${q(pyPos)}`)).json.locations).toEqual([{ repository: repos.py!.name, commit: repos.py!.commit, ...PY.greetDefinition }]);
    const pyRefs = (await admin.get(`/api/v1/codeintel/references?${q(pyPos)}`)).json.locations;
    expect(pyRefs.map((l: { path: string }) => l.path).sort()).toEqual(['pkg/main.py', 'pkg/main.py', 'pkg/util.py']);
    expect((await admin.get(`/api/v1/codeintel/hover?${q(pyPos)}`)).json.markdown).toContain(PY.hoverDoc);

    const listed = await admin.get(`/api/v1/codeintel/index-jobs?${q({ repository: repos.ts!.name })}`);
    expect(listed.json.indexJobs[0]).toMatchObject({ id: tsJobId, state: 'completed', uploadId: tsUpload.id, uploadState: 'completed', source: 'inferred' });
  });

  it('stores why nothing was queued: a broken sourcegraph.yaml, and a repository no indexer applies to', async () => {
    const broken = await schedule(repos.broken!.name);
    expect(broken.status).toBe(200);
    expect(broken.json.outcome).toBe('config_error');
    expect(broken.json.message).toMatch(/sourcegraph\.yaml .* is invalid: index_jobs\.0\.indexer/);
    const status = await admin.get(`/api/v1/codeintel/index-jobs?${q({ repository: repos.broken!.name })}`);
    expect(status.json.lastScheduling).toMatchObject({ outcome: 'config_error' });
    const empty = await schedule(repos.empty!.name);
    expect(empty.json).toMatchObject({ outcome: 'no_indexer', jobs: [] });
    expect(empty.json.message).toContain('no indexer applies');
  });

  it('fails a job whose indexer fails, and stops scheduling it after repeated failures until its configuration changes', async () => {
    const first = await schedule(repos.failing!.name);
    expect(first.status).toBe(201);
    await runJobs(1);
    const job = (await admin.jobWithOutput('codeintel', first.json.jobs[0].id)).json;
    expect(job.state).toBe('failed');
    const indexer = job.executionLogs.find((e: { key: string }) => e.key === 'step.docker.indexer');
    expect(indexer.out).toContain('indexer exploded');
    expect(indexer.exitCode).toBe(3);
    // Two more failures with the same configuration (COORDINATOR_CODEINTEL_MAX_CONSECUTIVE_FAILURES=3).
    for (let i = 0; i < 2; i++) {
      expect((await schedule(repos.failing!.name)).status).toBe(201);
      await runJobs(1);
    }
    const blocked = await schedule(repos.failing!.name);
    expect(blocked.status).toBe(200);
    expect(blocked.json.outcome).toBe('blocked');
    expect(blocked.json.message).toMatch(/last 3 jobs .* failed with this configuration .*indexer exploded|last 3 jobs/);
    // A configuration set through the API wins over the file, and is a new configuration: scheduled again.
    const put = await admin.put(`/api/v1/codeintel/configuration?${q({ repository: repos.failing!.name })}`, { index_jobs: [{ indexer: 'any-image', indexer_args: ['true'], outfile: 'none.scip' }] });
    expect(put.status).toBe(200);
    const changed = await schedule(repos.failing!.name);
    expect(changed.status).toBe(201);
    expect(changed.json.source).toBe('api');
  });
});
