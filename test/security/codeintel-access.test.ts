// Code intelligence and repository visibility, over real HTTP (PGlite and PostgreSQL): a plain user gets
// 404 — as for a repository that is not registered — from every code-intel route and page naming a
// restricted repository they may not use (navigation, uploads, index jobs, the user upload route, the
// Code intelligence pages), and lists leave it out; a granted user and site admins still see it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../helpers/api-client.js';
import { runIndexer, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const REPO = 'github.com/acme/secret-ts';
const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();

describe.each(BACKENDS)('code intelligence honours repository visibility on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let work: string;
  let commit: string;
  let index: string;
  let uploadId: number;
  let mallory: TestUser;
  let bob: TestUser;

  /** A signed-in web session's cookie header for `user`. */
  const signIn = async (user: TestUser) => {
    const cookies = new Map<string, string>();
    const keep = (res: Response) => {
      for (const line of res.headers.getSetCookie()) {
        const [k, v] = line.split(';')[0]!.split('=');
        cookies.set(k!, v!);
      }
    };
    const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const form = await fetch(`${c.url}/sign-in`);
    keep(form);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    const signed = await fetch(`${c.url}/sign-in`, {
      method: 'POST',
      headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded', origin: c.url },
      body: new URLSearchParams({ username: user.username, password: user.password, next: '/', _csrf: csrf }).toString(),
      redirect: 'manual',
    });
    keep(signed);
    expect(signed.status).toBe(303);
    return cookie();
  };

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'codeintel-access-'));
    commit = (await createSourceRepository(path.join(work, 'repo'), [{ message: 'first', files: TYPESCRIPT_FILES }])).commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: REPO, url: path.join(work, 'repo') })).status).toBe(201);
    mallory = await createTestUser(admin, 'mallory');
    bob = await createTestUser(admin, 'bob');
    expect((await admin.put(`/api/v1/repositories/${REPO}/access`, { visibility: 'restricted', users: ['bob'] })).status).toBe(200);
    index = await runIndexer('scip-typescript', path.join(work, 'repo'));
    const up = await fetch(`${c.url}/.api/scip/upload?${q({ repository: REPO, commit, root: '', indexerName: 'scip-typescript', indexerVersion: '0' })}`, {
      method: 'POST',
      headers: { authorization: `token ${c.adminToken}` },
      body: gzipSync(await fs.readFile(index)),
    });
    expect(up.status).toBe(202);
    uploadId = Number(((await up.json()) as { id: string }).id);
    for (let i = 0; i < 600; i++) {
      const res = await admin.get(`/api/v1/codeintel/uploads/${uploadId}`);
      if (res.json.state === 'completed') break;
      expect(res.json.state).not.toBe('errored');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await admin.post('/api/v1/codeintel/index-jobs', { repository: REPO })).status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const pos = () => ({ repository: REPO, commit, ...TS.addCall });

  it('answers navigation for a restricted repository with 404 as if it were not registered', async () => {
    for (const route of ['definitions', 'references', 'hover']) {
      const denied = await mallory.api.get(`/api/v1/codeintel/${route}?${q(pos())}`);
      expect(denied.status, route).toBe(404);
      expect(denied.json, route).toEqual({ error: `repository "${REPO}" is not registered`, field: 'repository' });
      // The same with a revision to resolve, and for a name that is not registered at all.
      expect((await mallory.api.get(`/api/v1/codeintel/${route}?${q({ ...pos(), commit: 'HEAD' })}`)).status, route).toBe(404);
      const unknown = await mallory.api.get(`/api/v1/codeintel/${route}?${q({ ...pos(), repository: 'github.com/acme/nothing' })}`);
      expect(unknown.status).toBe(404);
      expect(unknown.json.field).toBe('repository');
      // A granted user and a site admin still navigate.
      expect((await bob.api.get(`/api/v1/codeintel/${route}?${q(pos())}`)).status, route).toBe(200);
      expect((await admin.get(`/api/v1/codeintel/${route}?${q(pos())}`)).status, route).toBe(200);
    }
    const defs = await bob.api.get(`/api/v1/codeintel/definitions?${q(pos())}`);
    expect(defs.json.locations).toEqual([{ repository: REPO, commit, ...TS.addDefinition }]);
  });

  it('answers uploads and index jobs of a restricted repository with 404 and leaves them out of lists', async () => {
    for (const route of ['uploads', 'index-jobs']) {
      const denied = await mallory.api.get(`/api/v1/codeintel/${route}?${q({ repository: REPO })}`);
      expect(denied.status, route).toBe(404);
      expect(denied.json, route).toEqual({ error: `repository "${REPO}" is not registered`, field: 'repository' });
      expect((await bob.api.get(`/api/v1/codeintel/${route}?${q({ repository: REPO })}`)).status, route).toBe(200);
    }
    const all = await mallory.api.get('/api/v1/codeintel/uploads');
    expect(all.status).toBe(200);
    expect(all.json.uploads).toEqual([]);
    const jobs = await mallory.api.get('/api/v1/codeintel/index-jobs');
    expect(jobs.status).toBe(200);
    expect(jobs.json.indexJobs).toEqual([]);
    expect((await bob.api.get('/api/v1/codeintel/uploads')).json.uploads.map((u: { id: number }) => u.id)).toContain(uploadId);
    expect((await admin.get('/api/v1/codeintel/index-jobs')).json.indexJobs.length).toBeGreaterThan(0);
    expect((await mallory.api.get(`/api/v1/codeintel/uploads/${uploadId}`)).status).toBe(404);
    expect((await bob.api.get(`/api/v1/codeintel/uploads/${uploadId}`)).status).toBe(200);
  });

  it('fills a page of uploads with what the caller may read, however many newer ones it may not', async () => {
    const PUBLIC = 'github.com/acme/public-app';
    const publicCommit = (await createSourceRepository(path.join(work, 'public'), [{ message: 'first', files: TYPESCRIPT_FILES }])).commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: PUBLIC, url: path.join(work, 'public') })).status).toBe(201);
    const upload = async (repository: string, at: string) => {
      const res = await fetch(`${c.url}/.api/scip/upload?${q({ repository, commit: at, root: '', indexerName: 'scip-typescript', indexerVersion: '0' })}`, {
        method: 'POST',
        headers: { authorization: `token ${c.adminToken}` },
        body: gzipSync(await fs.readFile(index)),
      });
      expect(res.status).toBe(202);
      return Number(((await res.json()) as { id: string }).id);
    };
    const publicId = await upload(PUBLIC, publicCommit);
    // Newer than the public one: a page of one, filtered after the query, would be empty.
    const restrictedIds = [await upload(REPO, commit), await upload(REPO, commit)];
    expect(Math.min(...restrictedIds)).toBeGreaterThan(publicId);
    const page = await mallory.api.get(`/api/v1/codeintel/uploads?${q({ limit: '1' })}`);
    expect(page.status).toBe(200);
    expect(page.json.uploads.map((u: { id: number }) => u.id)).toEqual([publicId]);
    expect(page.json.nextBefore).toBe(publicId);
    expect((await mallory.api.get(`/api/v1/codeintel/uploads?${q({ limit: '1', before: String(publicId) })}`)).json.uploads).toEqual([]);
    // Bob, who may read both, pages through the restricted ones first.
    expect((await bob.api.get(`/api/v1/codeintel/uploads?${q({ limit: '2' })}`)).json.uploads.map((u: { id: number }) => u.id)).toEqual([...restrictedIds].reverse());
  });

  it('refuses a user upload for a restricted repository as for an unknown one', async () => {
    const upload = (user: TestUser, repository: string) =>
      fetch(`${c.url}/.api/scip/upload?${q({ repository, commit, root: 'other', indexerName: 'scip-typescript', indexerVersion: '0' })}`, {
        method: 'POST',
        headers: { authorization: `token ${user.token}` },
        body: gzipSync(Buffer.from('x')),
      });
    const denied = await upload(mallory, REPO);
    expect(denied.status).toBe(404);
    expect(await denied.text()).toBe(`failed to enqueue payload: unknown repository ${JSON.stringify(REPO)}\n`);
    const rows = await c.database.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM codeintel_uploads WHERE uploaded_by = 'user:mallory'`);
    expect(Number(rows[0]!.n)).toBe(0);
    expect((await upload(bob, REPO)).status).toBe(202);
  });

  it('keeps the Code intelligence pages of a restricted repository from a user who may not use it', async () => {
    const cookie = await signIn(mallory);
    const list = await fetch(`${c.url}/code-intelligence`, { headers: { cookie } });
    expect(list.status).toBe(200);
    expect(await list.text()).not.toContain(REPO);
    const repoPage = await fetch(`${c.url}/code-intelligence/repository?${q({ name: REPO })}`, { headers: { cookie } });
    expect(repoPage.status).toBe(404);
    const filePage = await fetch(`${c.url}/code-intelligence/file?${q({ repository: REPO, commit, path: 'src/math.ts' })}`, { headers: { cookie } });
    expect(filePage.status).toBe(404);
    expect(await filePage.text()).not.toContain('Adds two numbers');

    const bobCookie = await signIn(bob);
    expect(await (await fetch(`${c.url}/code-intelligence`, { headers: { cookie: bobCookie } })).text()).toContain(REPO);
    expect((await fetch(`${c.url}/code-intelligence/repository?${q({ name: REPO })}`, { headers: { cookie: bobCookie } })).status).toBe(200);
    expect((await fetch(`${c.url}/code-intelligence/file?${q({ repository: REPO, commit, path: 'src/math.ts' })}`, { headers: { cookie: bobCookie } })).status).toBe(200);
  });
});
