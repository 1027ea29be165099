// SCIP uploads end to end on a real coordinator (PGlite and PostgreSQL): a real scip-typescript index of
// a real git repository uploaded by this project's `src` (single and multipart), processed, and then
// navigated (definitions, references with paging, hover); the original's upload errors; a garbage, a
// truncated and a wrong-commit upload errored with a readable reason and nothing of them stored; a newer
// upload replacing an older one; 404 naming the nearest indexed commit.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSrcCli } from '../../src/src-cli/main.js';
import { uploadIndex } from '../../src/src-cli/upload-client.js';
import { AdminApi } from '../helpers/api-client.js';
import { runIndexer, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const REPO = 'github.com/acme/demo-ts';

describe.each(BACKENDS)('SCIP uploads and navigation on %s', (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let work: string;
  let commits: string[];
  let index: string;

  const src = async (args: string[], env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runSrcCli(['code-intel', 'upload', ...args], { SRC_ENDPOINT: c.url, SRC_ACCESS_TOKEN: c.adminToken, ...env }, {
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      cwd: path.join(work, 'repo'),
      retryIntervalMs: 10,
    });
    return { code, stdout: out.join(''), stderr: err.join('') };
  };
  const uploadIdOf = (stdout: string) => {
    const m = /uploads\/([A-Za-z0-9_-]+)/.exec(stdout);
    return Number(Buffer.from(m![1]!, 'base64url').toString('utf8').split(':')[1]);
  };
  const settled = async (id: number) => {
    for (let i = 0; i < 600; i++) {
      const res = await admin.get(`/api/v1/codeintel/uploads/${id}`);
      if (res.json.state === 'completed' || res.json.state === 'errored') return res.json;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`upload ${id} did not finish`);
  };
  const q = (p: Record<string, string | number>) => new URLSearchParams(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, String(v)]))).toString();
  const storedRows = async (uploadId: number) => {
    const rows = await c.database.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM codeintel_documents WHERE upload_id = $1) + (SELECT count(*) FROM codeintel_symbols WHERE upload_id = $1)
         + (SELECT count(*) FROM codeintel_symbol_locations WHERE upload_id = $1) AS n`,
      [uploadId],
    );
    return Number(rows[0]!.n);
  };

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'codeintel-uploads-'));
    ({ commits } = await createSourceRepository(path.join(work, 'repo'), [
      { message: 'first', files: TYPESCRIPT_FILES },
      { message: 'second', files: { 'README.md': 'later\n' } },
    ]));
    await promisify(execFile)('git', ['checkout', '-q', commits[0]!], { cwd: path.join(work, 'repo') });
    expect((await admin.post('/api/v1/repositories', { name: REPO, url: path.join(work, 'repo') })).status).toBe(201);
    index = await runIndexer('scip-typescript', path.join(work, 'repo'));
  });
  afterAll(async () => {
    await c?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('uploads a real index with src, processes it, and answers definitions, references and hover at known positions', async () => {
    const up = await src(['-no-progress', '-repo', REPO, '-commit', commits[0]!, '-root', '', '-file', index, '-upload-route', '/.api/scip/upload']);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('indexer: scip-typescript');
    const upload = await settled(uploadIdOf(up.stdout));
    expect(upload.failureMessage).toBeNull();
    expect(upload).toMatchObject({ state: 'completed', repository: REPO, commit: commits[0], indexer: 'scip-typescript', uploadedBy: 'user:admin' });
    expect(upload.documents).toBe(2);

    const pos = { repository: REPO, commit: commits[0]!, ...TS.addCall };
    const defs = await admin.get(`/api/v1/codeintel/definitions?${q(pos)}`);
    expect(defs.status).toBe(200);
    expect(defs.json.locations).toEqual([{ repository: REPO, commit: commits[0], ...TS.addDefinition }]);

    const refs = await admin.get(`/api/v1/codeintel/references?${q(pos)}`);
    expect(refs.status).toBe(200);
    const starts = refs.json.locations.map((l: { path: string; range: { start: { line: number; character: number } } }) => ({ path: l.path, ...l.range.start })).sort((a: { path: string }, b: { path: string }) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    expect(starts).toEqual(TS.addOccurrences);
    expect(refs.json.next).toBeNull();

    // Paging: two at a time, with the cursor, gives the same four.
    const page1 = await admin.get(`/api/v1/codeintel/references?${q({ ...pos, first: 2 })}`);
    expect(page1.json.locations).toHaveLength(2);
    expect(page1.json.next).toEqual(expect.any(String));
    const page2 = await admin.get(`/api/v1/codeintel/references?${q({ ...pos, first: 2, after: page1.json.next })}`);
    expect(page2.json.locations).toHaveLength(2);
    expect(page2.json.next).toBeNull();
    expect([...page1.json.locations, ...page2.json.locations]).toEqual(expect.arrayContaining(refs.json.locations));

    const hover = await admin.get(`/api/v1/codeintel/hover?${q(pos)}`);
    expect(hover.status).toBe(200);
    expect(hover.json.markdown).toContain(TS.hoverDoc);
    expect(hover.json.markdown).toContain('function add(a: number, b: number): number');
    expect(hover.json.range).toEqual({ start: { line: 2, character: 21 }, end: { line: 2, character: 24 } });

    // Nothing at a blank position; a bad parameter names itself.
    expect((await admin.get(`/api/v1/codeintel/hover?${q({ ...pos, line: 1, character: 0 })}`)).status).toBe(404);
    const bad = await admin.get(`/api/v1/codeintel/definitions?${q({ ...pos, line: -1 })}`);
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('line');
  });

  it('answers a commit without an index with 404 naming the nearest indexed commit', async () => {
    const res = await admin.get(`/api/v1/codeintel/definitions?${q({ repository: REPO, commit: commits[1]!, ...TS.addCall })}`);
    expect(res.status).toBe(404);
    expect(res.json.field).toBe('commit');
    expect(res.json.error).toContain(`the nearest indexed commit is ${commits[0]}`);
  });

  it('uploads in parts when the compressed index is over the part size, and a newer upload replaces the older one', async () => {
    const before = (await admin.get(`/api/v1/codeintel/uploads?${q({ repository: REPO, state: 'completed' })}`)).json.uploads.filter((u: { replacedBy: number | null }) => u.replacedBy === null);
    expect(before.length).toBeGreaterThan(0);
    const logs: string[] = [];
    const id = await uploadIndex(
      index,
      { repo: REPO, commit: commits[0]!, root: '', indexer: 'scip-typescript', indexerVersion: '0.4.0', associatedIndexId: undefined },
      { endpoint: c.url, route: '/.api/scip/upload', accessToken: c.adminToken, additionalHeaders: {}, maxPayloadBytes: 300, maxRetries: 0, retryIntervalMs: 1, insecureSkipVerify: false, log: (l) => logs.push(l) },
    );
    expect(logs.join('\n')).toMatch(/Prepared multipart upload \d+ \((\d+) parts\)/);
    const upload = await settled(id);
    expect(upload.state).toBe('completed');
    expect(upload.numParts).toBeGreaterThan(1);
    expect(upload.uploadedParts).toBe(upload.numParts);
    // The older upload of the same commit, root and indexer is replaced at once (queries read only the
    // newer one), and the processor then deletes its rows.
    for (const old of before) {
      const again = await admin.get(`/api/v1/codeintel/uploads/${old.id}`);
      expect(again.json.replacedBy).toBe(id);
      for (let i = 0; i < 200 && (await storedRows(old.id)) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await storedRows(old.id)).toBe(0);
    }
    const defs = await admin.get(`/api/v1/codeintel/definitions?${q({ repository: REPO, commit: commits[0]!, ...TS.addCall })}`);
    expect(defs.json.locations).toEqual([{ repository: REPO, commit: commits[0], ...TS.addDefinition }]);
  });

  it('refuses bad upload requests with the original texts', async () => {
    const post = (query: Record<string, string>, body = '', auth = `token ${c.adminToken}`) =>
      fetch(`${c.url}/.api/scip/upload?${q(query)}`, { method: 'POST', headers: { authorization: auth }, body });
    let res = await post({ repository: REPO, commit: 'abc' });
    expect([res.status, await res.text()]).toEqual([400, 'failed to enqueue payload: commit must be a 40-character revhash\n']);
    res = await post({ repository: 'github.com/nope/nope', commit: commits[0]! });
    expect([res.status, await res.text()]).toEqual([404, 'failed to enqueue payload: unknown repository "github.com/nope/nope"\n']);
    res = await post({ repository: REPO, commit: commits[0]!, multiPart: 'true', numParts: '0' });
    expect([res.status, await res.text()]).toEqual([400, 'failed to enqueue payload: illegal number of parts: 0\n']);
    res = await post({ repository: REPO, commit: commits[0]!, multiPart: 'true', numParts: '2' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    res = await post({ uploadId: id, index: '2' }, 'x');
    expect([res.status, await res.text()]).toEqual([400, 'failed to enqueue payload: illegal part index: index 2 is outside the range [0, 2)\n']);
    res = await post({ uploadId: id, index: '0' }, 'part');
    expect(res.status).toBe(204);
    res = await post({ uploadId: id, done: 'true' });
    expect([res.status, await res.text()]).toEqual([400, 'failed to enqueue payload: upload is missing 1 parts\n']);
    res = await post({ uploadId: id });
    expect([res.status, await res.text()]).toEqual([400, 'failed to enqueue payload: unprocessable request: missing expected query arguments (uploadId, index, or done)\n']);
    res = await post({ uploadId: '999999', done: 'true' });
    expect([res.status, await res.text()]).toEqual([404, 'failed to enqueue payload: upload not found\n']);
    res = await post({ repository: REPO, commit: commits[0]! }, 'x', 'token nope');
    expect(res.status).toBe(401);
    // Executors' route: the shared token is accepted, a wrong one is not.
    res = await fetch(`${c.url}/.executors/scip/upload?${q({ repository: REPO, commit: commits[0]! })}`, { method: 'POST', headers: { authorization: 'token-executor wrong-token-wrong-token' }, body: 'x' });
    expect(res.status).toBe(401);
    expect((await fetch(`${c.url}/.executors/scip/upload`, { method: 'HEAD' })).status).toBe(200);
  });

  it('errors a garbage, a truncated and a wrong-commit upload with a readable reason and stores nothing of them', async () => {
    const raw = await fs.readFile(index);
    const cases = [
      { name: 'garbage', body: gzipSync(Buffer.from('this is not a SCIP index at all, just text\n'.repeat(50))), commit: commits[0]!, reason: /not valid SCIP/ },
      { name: 'truncated gzip', body: gzipSync(raw).subarray(0, Math.floor(gzipSync(raw).length / 2)), commit: commits[0]!, reason: /truncated/ },
      { name: 'truncated SCIP', body: gzipSync(raw.subarray(0, raw.length - 7)), commit: commits[0]!, reason: /truncated/ },
      { name: 'unknown commit', body: gzipSync(raw), commit: 'f'.repeat(40), reason: new RegExp(`commit ${'f'.repeat(40)} is not in repository ${REPO}`) },
    ];
    for (const t of cases) {
      const res = await fetch(`${c.url}/.api/scip/upload?${q({ repository: REPO, commit: t.commit, indexerName: 'scip-typescript' })}`, { method: 'POST', headers: { authorization: `token ${c.adminToken}` }, body: t.body });
      expect(res.status, t.name).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const upload = await settled(Number(id));
      expect(upload.state, t.name).toBe('errored');
      expect(upload.failureMessage, t.name).toMatch(t.reason);
      expect(await storedRows(Number(id)), t.name).toBe(0);
    }
    // The good upload still answers.
    const defs = await admin.get(`/api/v1/codeintel/definitions?${q({ repository: REPO, commit: commits[0]!, ...TS.addCall })}`);
    expect(defs.json.locations).toHaveLength(1);
  });
});
