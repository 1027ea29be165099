// Scheduling index jobs on a real coordinator (PGlite and PostgreSQL): the Job an executor dequeues
// (pre-index, indexer and upload steps; the upload step authenticated by the job's own token, redacted),
// what that token may upload, the per-repository cap, an API configuration winning over sourcegraph.yaml,
// the indexer map, policies, and definitions across repositories through the packages an upload defines.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/protocol/job.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { runIndexer, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();

describe.each(BACKENDS)('scheduling index jobs on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let executor: ExecutorApi;
  let work: string;
  const repos: Record<string, { name: string; commit: string; dir: string }> = {};

  beforeAll(async () => {
    c = await startTestCoordinator(backend, { COORDINATOR_CODEINTEL_MAX_QUEUED_JOBS_PER_REPOSITORY: '2', COORDINATOR_CODEINTEL_FRONTEND_URL: 'http://coordinator.example:3080' });
    admin = new AdminApi(c.url, c.adminToken);
    executor = new ExecutorApi(c.url, c.executorToken, `codeintel-${backend}`);
    expect((await executor.heartbeat('codeintel')).status).toBe(200);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'codeintel-scheduling-'));
    const add = async (key: string, files: Record<string, string>) => {
      const dir = path.join(work, key);
      const source = await createSourceRepository(dir, [{ message: 'initial', files }]);
      const name = `github.com/acme/${key}`;
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
      repos[key] = { name, commit: source.commits[0]!, dir };
    };
    await add('app', TYPESCRIPT_FILES);
    await add('mono', { 'a/tsconfig.json': '{}', 'a/x.ts': '', 'b/tsconfig.json': '{}', 'b/y.ts': '', 'c/tsconfig.json': '{}', 'c/z.ts': '' });
    await add('configured', { 'tsconfig.json': '{}', 'sourcegraph.yaml': 'index_jobs:\n  - indexer: from-the-file:1\n    indexer_args: [index]\n' });
    // A library, and an application that vendors it (as an install step would put it in node_modules).
    await add('demo-lib', { ...TYPESCRIPT_FILES, 'package.json': '{ "name": "demo-lib", "version": "1.0.0", "types": "src/math.ts" }\n' });
    await add('consumer', {
      'package.json': '{ "name": "consumer", "version": "2.0.0" }\n',
      'tsconfig.json': '{ "compilerOptions": { "strict": true, "module": "commonjs" }, "include": ["src"] }\n',
      'node_modules/demo-lib/package.json': '{ "name": "demo-lib", "version": "1.0.0", "types": "src/math.ts" }\n',
      'node_modules/demo-lib/src/math.ts': TYPESCRIPT_FILES['src/math.ts']!,
      'src/use.ts': "import { add } from 'demo-lib';\n\nexport const four = add(2, 2);\n",
    });
  });
  afterAll(async () => {
    await c?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('queues an inferred job that an executor dequeues with its upload step, authenticated by the job token and redacted', async () => {
    const res = await admin.post('/api/v1/codeintel/index-jobs', { repository: repos.app!.name });
    expect(res.status, res.text).toBe(201);
    const jobId = res.json.jobs[0].id as number;
    const dequeued = await executor.dequeue('codeintel', { numCPUs: 2, memory: '4G', diskSpace: '10G' });
    expect(dequeued.status).toBe(200);
    const job = dequeued.json as Job;
    expect(job.id).toBe(jobId);
    expect(job.shallowClone).toBe(true);
    expect(job.dockerSteps.map((s) => s.key)).toEqual(['indexer', 'upload']);
    expect(job.dockerSteps[0]!.commands).toEqual(['scip-typescript index']);
    expect(job.dockerSteps[0]!.env).toEqual(expect.arrayContaining(['VM_CPUS=2', 'VM_MEM=4.0 GB', 'VM_DISK_GB=10']));
    const upload = job.dockerSteps[1]!;
    expect(upload.commands[0]).toBe(`src code-intel upload -no-progress -repo ${repos.app!.name} -commit ${repos.app!.commit} -root . -upload-route /.executors/lsif/upload -file index.scip -associated-index-id ${jobId}`);
    expect(upload.env).toEqual([
      'SRC_ENDPOINT=http://coordinator.example:3080',
      `SRC_HEADER_AUTHORIZATION=Bearer ${job.token}`,
      `SRC_HEADERS=X-Sourcegraph-Job-ID: ${jobId}\nX-Sourcegraph-Executor-Name: ${executor.executorName}`,
    ]);
    expect(job.redactedValues[job.token]).toBe('PASSWORD_REMOVED');
    expect(job.redactedValues[`Bearer ${job.token}`]).toBe('Bearer REDACTED');

    // What the token may upload: its own repository, as its own index; nothing else.
    const index = await runIndexer('scip-typescript', repos.app!.dir);
    const body = gzipSync(await fs.readFile(index));
    const up = (repository: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
      fetch(`${c.url}/.executors/lsif/upload?${q({ repository, commit: repos.app!.commit, indexerName: 'scip-typescript', ...extra })}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(jobId), 'x-sourcegraph-executor-name': executor.executorName, ...headers },
        body,
      });
    expect((await up(repos.mono!.name)).status).toBe(403);
    expect((await up(repos.app!.name, { associatedIndexId: String(jobId + 1000) })).status).toBe(403);
    expect((await up(repos.app!.name, {}, { 'x-sourcegraph-job-id': String(jobId + 1) })).status).toBe(403);
    const ok = await up(repos.app!.name);
    expect(ok.status).toBe(202);
    const { id } = (await ok.json()) as { id: string };
    expect((await admin.get(`/api/v1/codeintel/uploads/${id}`)).json).toMatchObject({ associatedIndexId: jobId, uploadedBy: `job:${jobId}` });
    // Once the job is finished its token is dead.
    expect((await executor.markComplete('codeintel', job)).status).toBe(204);
    expect((await up(repos.app!.name)).status).toBe(401);
    // A hand-made codeintel job (admin API) is left as it was asked: no upload step.
    const manual = await admin.enqueue('codeintel', { dockerSteps: [{ image: 'x', commands: ['true'] }] });
    const manualJob = (await executor.dequeue('codeintel')).json as Job;
    expect(manualJob.id).toBe(manual);
    expect(manualJob.dockerSteps.map((s) => s.key ?? '')).toEqual(['']);
    await executor.markComplete('codeintel', manualJob);
  });

  it('queues at most the per-repository cap and says which were left out', async () => {
    const res = await admin.post('/api/v1/codeintel/index-jobs', { repository: repos.mono!.name });
    expect(res.status).toBe(201);
    expect(res.json.jobs.map((j: { root: string }) => j.root)).toEqual(['a', 'b']);
    expect(res.json.skipped).toEqual([expect.objectContaining({ root: 'c', reason: 'capped' })]);
    expect(res.json.skipped[0].message).toContain('COORDINATOR_CODEINTEL_MAX_QUEUED_JOBS_PER_REPOSITORY=2');
  });

  it('takes sourcegraph.yaml over inference, and a configuration set through the API over both', async () => {
    const fromFile = await admin.post('/api/v1/codeintel/index-jobs', { repository: repos.configured!.name });
    expect(fromFile.json).toMatchObject({ source: 'sourcegraph.yaml', jobs: [{ indexer: 'from-the-file:1' }] });
    const bad = await admin.put(`/api/v1/codeintel/configuration?${q({ repository: repos.configured!.name })}`, { index_jobs: [{ root: 'x' }] });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('configuration');
    const put = await admin.put(`/api/v1/codeintel/configuration?${q({ repository: repos.configured!.name })}`, { index_jobs: [{ indexer: 'from-the-api:2', indexer_args: ['index'] }] });
    expect(put.status).toBe(200);
    const fromApi = await admin.post('/api/v1/codeintel/index-jobs', { repository: repos.configured!.name });
    expect(fromApi.json).toMatchObject({ source: 'api', jobs: [{ indexer: 'from-the-api:2' }] });
    expect((await admin.post('/api/v1/codeintel/index-jobs', { repository: 'github.com/acme/none' })).json.field).toBe('repository');
    expect((await admin.post('/api/v1/codeintel/index-jobs', { repository: repos.app!.name, revision: 'no-such-branch' })).json).toMatchObject({ field: 'revision' });
  });

  it('uses the indexer map for inferred jobs, and schedules through a policy once per interval', async () => {
    expect((await admin.put('/api/v1/codeintel/indexer-map', { typescript: 'registry.example.com/scip-typescript:custom' })).status).toBe(200);
    expect((await admin.put('/api/v1/codeintel/indexer-map', { typescript: 42 })).json.field).toBe('map');
    expect((await admin.post('/api/v1/codeintel/policies', { name: 'too often', repositoryPattern: '*', interval: '1s' })).json.field).toBe('interval');
    const policy = await admin.post('/api/v1/codeintel/policies', { name: 'libraries', repositoryPattern: 'github.com/acme/demo-*', branch: 'main', interval: '1h' });
    expect(policy.status).toBe(201);
    const scheduler = c.services.codeintel.scheduler;
    await scheduler.runPolicies();
    const jobs = (await admin.get(`/api/v1/codeintel/index-jobs?${q({ repository: repos['demo-lib']!.name })}`)).json;
    expect(jobs.indexJobs).toHaveLength(1);
    expect(jobs.indexJobs[0]).toMatchObject({ indexer: 'registry.example.com/scip-typescript:custom', commit: repos['demo-lib']!.commit });
    expect(jobs.lastScheduling.outcome).toBe('queued');
    // Not a repository the pattern names; and within the interval, nothing again.
    expect((await admin.get(`/api/v1/codeintel/index-jobs?${q({ repository: repos.consumer!.name })}`)).json.indexJobs).toHaveLength(0);
    await scheduler.runPolicies();
    expect((await admin.get(`/api/v1/codeintel/index-jobs?${q({ repository: repos['demo-lib']!.name })}`)).json.indexJobs).toHaveLength(1);
    expect((await admin.delete(`/api/v1/codeintel/policies/${policy.json.id}`)).status).toBe(204);
    await admin.put('/api/v1/codeintel/indexer-map', {});
  });

  it('resolves a definition in another repository through the package its upload defines', async () => {
    const upload = async (key: string) => {
      const index = await runIndexer('scip-typescript', repos[key]!.dir);
      const res = await fetch(`${c.url}/.api/scip/upload?${q({ repository: repos[key]!.name, commit: repos[key]!.commit, indexerName: 'scip-typescript' })}`, {
        method: 'POST',
        headers: { authorization: `token ${c.adminToken}` },
        body: gzipSync(await fs.readFile(index)),
      });
      const { id } = (await res.json()) as { id: string };
      for (let i = 0; i < 400; i++) {
        const u = (await admin.get(`/api/v1/codeintel/uploads/${id}`)).json;
        if (u.state === 'completed') return;
        if (u.state === 'errored') throw new Error(u.failureMessage);
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('upload did not finish');
    };
    await upload('demo-lib');
    await upload('consumer');
    const pos = { repository: repos.consumer!.name, commit: repos.consumer!.commit, path: 'src/use.ts', line: 2, character: 20 };
    const defs = await admin.get(`/api/v1/codeintel/definitions?${q(pos)}`);
    expect(defs.status, defs.text).toBe(200);
    expect(defs.json.locations).toEqual([{ repository: repos['demo-lib']!.name, commit: repos['demo-lib']!.commit, ...TS.addDefinition }]);
    // The library's documentation is the hover; its references include the consumer's use.
    expect((await admin.get(`/api/v1/codeintel/hover?${q(pos)}`)).json.markdown).toContain(TS.hoverDoc);
    const libRefs = await admin.get(`/api/v1/codeintel/references?${q({ repository: repos['demo-lib']!.name, commit: repos['demo-lib']!.commit, ...TS.addCall })}`);
    expect(libRefs.json.locations.map((l: { repository: string }) => l.repository)).toContain(repos.consumer!.name);
  });
});
