// Code intelligence shows a repository's code — symbol names, hover text, paths — so it follows the rule
// a job's repository follows: a user reads a restricted repository's navigation, uploads and index jobs
// only when it is granted to them (or an organization of theirs); otherwise it answers as an unknown
// repository (404) and is left out of lists. Attacked over real HTTP on a real coordinator (PGlite and
// PostgreSQL) with a real scip-typescript index uploaded by this project's `src`.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSrcCli } from '../../src/src-cli/main.js';
import { AdminApi } from '../helpers/api-client.js';
import { runIndexer, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const REPO = 'github.com/acme/secret-ts';

describe.each(BACKENDS)('code intelligence of a restricted repository, on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let bob: TestUser;
  let work: string;
  let commit: string;
  let index: string;
  let uploadId: number;

  const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();
  const upload = async (token: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runSrcCli(['code-intel', 'upload', '-no-progress', '-repo', REPO, '-commit', commit, '-root', '', '-file', index, '-upload-route', '/.api/scip/upload'], { SRC_ENDPOINT: c.url, SRC_ACCESS_TOKEN: token }, {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      cwd: path.join(work, 'repo'),
      retryIntervalMs: 10,
    });
    return { code, stdout: out.join(''), stderr: err.join('') };
  };

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    bob = await createTestUser(admin, 'bob');
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'codeintel-access-'));
    commit = (await createSourceRepository(path.join(work, 'repo'), [{ message: 'first', files: TYPESCRIPT_FILES }])).commits[0]!;
    await promisify(execFile)('git', ['checkout', '-q', commit], { cwd: path.join(work, 'repo') });
    expect((await admin.post('/api/v1/repositories', { name: REPO, url: path.join(work, 'repo'), visibility: 'restricted' })).status).toBe(201);
    index = await runIndexer('scip-typescript', path.join(work, 'repo'));
    const up = await upload(c.adminToken);
    expect(up.code).toBe(0);
    uploadId = Number(Buffer.from(/uploads\/([A-Za-z0-9_-]+)/.exec(up.stdout)![1]!, 'base64url').toString('utf8').split(':')[1]);
    for (let i = 0; i < 600; i++) {
      const res = await admin.get(`/api/v1/codeintel/uploads/${uploadId}`);
      if (res.json.state === 'completed') break;
      expect(res.json.state).not.toBe('errored');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(async () => {
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const pos = () => ({ repository: REPO, commit, ...TS.addCall });

  it("answers a user who may not read the repository as if it did not exist: no definitions, references, hover, uploads or index jobs", async () => {
    for (const route of ['definitions', 'references', 'hover']) {
      const res = await bob.api.get(`/api/v1/codeintel/${route}?${q(pos())}`);
      expect(res.status, route).toBe(404);
      expect(JSON.stringify(res.json), route).not.toContain('add');
      expect(res.json, route).toMatchObject({ field: 'repository', error: `repository "${REPO}" is not registered` });
    }
    expect((await bob.api.get(`/api/v1/codeintel/uploads?${q({ repository: REPO })}`)).status).toBe(404);
    expect((await bob.api.get(`/api/v1/codeintel/index-jobs?${q({ repository: REPO })}`)).status).toBe(404);
    expect((await bob.api.get(`/api/v1/codeintel/uploads/${uploadId}`)).status).toBe(404);
    // Lists without a repository leave it out.
    const all = await bob.api.get('/api/v1/codeintel/uploads');
    expect(all.status).toBe(200);
    expect(all.json.uploads.map((u: { repository: string }) => u.repository)).not.toContain(REPO);
    // While the site admin sees it all.
    expect((await admin.get(`/api/v1/codeintel/definitions?${q(pos())}`)).json.locations).toEqual([{ repository: REPO, commit, ...TS.addDefinition }]);
    expect((await admin.get('/api/v1/codeintel/uploads')).json.uploads.map((u: { repository: string }) => u.repository)).toContain(REPO);
  });

  it('refuses an upload by a user who may not read the repository, naming it as unknown', async () => {
    const up = await upload(bob.token);
    expect(up.code).not.toBe(0);
    expect(up.stderr).toContain(`unknown repository "${REPO}"`);
  });

  it('shows the navigation once the repository is granted to the user', async () => {
    expect((await admin.put(`/api/v1/repositories/${REPO}/access`, { visibility: 'restricted', users: ['bob'] })).status).toBe(200);
    const defs = await bob.api.get(`/api/v1/codeintel/definitions?${q(pos())}`);
    expect(defs.status).toBe(200);
    expect(defs.json.locations).toEqual([{ repository: REPO, commit, ...TS.addDefinition }]);
    expect((await bob.api.get(`/api/v1/codeintel/hover?${q(pos())}`)).json.markdown).toContain(TS.hoverDoc);
    expect((await bob.api.get(`/api/v1/codeintel/uploads/${uploadId}`)).status).toBe(200);
    expect((await bob.api.get(`/api/v1/codeintel/uploads`)).json.uploads.map((u: { repository: string }) => u.repository)).toContain(REPO);
  });
});
