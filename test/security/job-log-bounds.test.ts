// Attacks on a job's log (issue 11, item 3), on both databases: a job that writes more entries or more
// bytes than any reader can take, and views that load every entry's whole output at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/protocol/job.js';
import { AdminApi, ExecutorApi } from '../helpers/api-client.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const MAX_ENTRIES = 5;
const MAX_BYTES = 4096;

describe.each(BACKENDS)("bounds on a job's log on %s", (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let e: ExecutorApi;

  beforeAll(async () => {
    c = await startTestCoordinator(backend, { COORDINATOR_MAX_LOG_ENTRIES_PER_JOB: String(MAX_ENTRIES), COORDINATOR_MAX_LOG_BYTES_PER_JOB: `${MAX_BYTES}B` });
    admin = new AdminApi(c.url, c.adminToken);
    e = new ExecutorApi(c.url, c.executorToken, `log-bounds-${backend}`);
    await e.heartbeat('batches');
  });
  afterAll(async () => {
    await c?.stop();
  });

  const startJob = async (): Promise<Job> => {
    await admin.enqueue('batches');
    const job = (await e.dequeue('batches')).json;
    expect(job.id).toBeGreaterThan(0);
    return job;
  };
  const entry = (key: string, out: string, exitCode?: number) => ({ key, command: ['echo', key], startTime: new Date().toISOString(), out, ...(exitCode === undefined ? {} : { exitCode, durationMs: 1 }) });
  const add = async (job: Job, key: string, out: string) => {
    const res = await e.jobPost<number>('batches', 'addExecutionLogEntry', job, entry(key, out));
    expect(res.status, res.text).toBe(200);
    return res.json;
  };
  const update = async (job: Job, entryId: number, key: string, out: string) => {
    const res = await e.jobPost('batches', 'updateExecutionLogEntry', job, { entryId, ...entry(key, out, 0) });
    expect(res.status, res.text).toBe(204);
  };
  /** Every page of one entry's output through the admin API, joined. */
  const readWhole = async (jobId: number, entryId: number) => {
    let out = '';
    for (let offset: number | null = 0, pages = 0; offset !== null; pages++) {
      expect(pages).toBeLessThan(100);
      const res: { status: number; text: string; json: { offset: number; out: string; nextOffset: number | null } } = await admin.get(`/api/v1/queues/batches/jobs/${jobId}/logs/${entryId}?offset=${offset}`);
      expect(res.status, res.text).toBe(200);
      expect(res.json.offset).toBe(offset);
      out += res.json.out;
      offset = res.json.nextOffset;
    }
    return out;
  };

  it('keeps at most COORDINATOR_MAX_LOG_ENTRIES_PER_JOB entries and ends the log with one that says how many were dropped', async () => {
    const job = await startJob();
    const ids: number[] = [];
    for (let i = 0; i < MAX_ENTRIES + 3; i++) ids.push(await add(job, `step.${i}`, `stdout: line ${i}\n`));
    // The executor is never refused (it would fail the job over its log): ids keep counting.
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, id] of ids.entries()) await update(job, id, `step.${i}`, `stdout: line ${i} again\n`);
    const view = (await admin.job('batches', job.id)).json;
    const logs = view.executionLogs as Array<{ key: string; entryId: number }>;
    expect(logs.map((l) => l.key)).toEqual([...Array.from({ length: MAX_ENTRIES }, (_, i) => `step.${i}`), 'coordinator.log.truncated']);
    const marker = logs.at(-1)!;
    expect(await readWhole(job.id, marker.entryId)).toBe(`<coordinator: log truncated after ${MAX_ENTRIES} entries (COORDINATOR_MAX_LOG_ENTRIES_PER_JOB); 3 more entries dropped>\n`);
    // Updates of dropped entries changed nothing; kept ones were updated.
    expect(await readWhole(job.id, logs[0]!.entryId)).toBe('stdout: line 0 again\n');
    expect((await e.markComplete('batches', job)).status).toBe(204);
  });

  it('caps the bytes of all entries of a job with a final truncation line, in adds and in updates', async () => {
    const job = await startJob();
    const line = (n: number, c: string) => `stdout: ${c.repeat(n - 9)}\n`;
    const first = line(3000, 'a');
    const firstId = await add(job, 'step.0', first);
    // The second entry grows past what is left (4096 - 3000 = 1096 bytes) through updates.
    const secondId = await add(job, 'step.1', '');
    await update(job, secondId, 'step.1', line(500, 'b'));
    const grown = line(500, 'b') + line(2000, 'c');
    await update(job, secondId, 'step.1', grown);
    // A third entry finds no room at all; so does its add with output.
    const thirdId = await add(job, 'step.2', line(100, 'd'));

    expect(await readWhole(job.id, firstId)).toBe(first);
    const second = await readWhole(job.id, secondId);
    const kept = 1096;
    expect(second).toBe(`${grown.slice(0, kept)}\n<coordinator: job log truncated at ${MAX_BYTES} bytes (COORDINATOR_MAX_LOG_BYTES_PER_JOB); ${Buffer.byteLength(grown) - kept} more bytes of this entry dropped>\n`);
    expect(await readWhole(job.id, thirdId)).toBe(`<coordinator: job log truncated at ${MAX_BYTES} bytes (COORDINATOR_MAX_LOG_BYTES_PER_JOB); 100 more bytes of this entry dropped>\n`);
    // Updating the full first entry again with the same output keeps it whole: its bytes are its own.
    await update(job, firstId, 'step.0', first);
    expect(await readWhole(job.id, firstId)).toBe(first);
    expect((await e.markComplete('batches', job)).status).toBe(204);
  });

  it('never cuts a multi-byte character in half', async () => {
    const job = await startJob();
    const text = 'é'.repeat(3000); // 6,000 bytes
    const id = await add(job, 'step.0', text);
    const out = await readWhole(job.id, id);
    expect(out).not.toContain('\uFFFD');
    expect(out.startsWith('é'.repeat(2048))).toBe(true);
    expect(out).toMatch(/\n<coordinator: job log truncated at 4096 bytes \(COORDINATOR_MAX_LOG_BYTES_PER_JOB\); 1904 more bytes of this entry dropped>\n$/);
    expect((await e.markComplete('batches', job)).status).toBe(204);
  });
});

describe.each(BACKENDS)("the job view without its outputs on %s", (backend) => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let e: ExecutorApi;
  let job: Job;
  const entries = 6;
  const outOf = (i: number) => `stdout: ${String(i).repeat(3)} ${'x'.repeat(1024 * 1024)}\n`;

  beforeAll(async () => {
    c = await startTestCoordinator(backend);
    admin = new AdminApi(c.url, c.adminToken);
    e = new ExecutorApi(c.url, c.executorToken, `log-view-${backend}`);
    await e.heartbeat('batches');
    await admin.enqueue('batches');
    job = (await e.dequeue('batches')).json;
    // Six entries of 1 MiB: the attack used 52 of 10 MiB (a 500 and 1.7 GB per view).
    for (let i = 0; i < entries; i++) {
      const res = await e.jobPost<number>('batches', 'addExecutionLogEntry', job, { key: `step.${i}`, command: ['big'], startTime: new Date().toISOString(), out: outOf(i), exitCode: 0, durationMs: 5 });
      expect(res.status, res.text).toBe(200);
    }
    expect((await admin.post('/api/v1/users', { username: 'viewer', password: 'viewer-password-123', siteAdmin: true })).status).toBe(201);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('leaves every output out of GET …/jobs/{id} and says how long each is', async () => {
    const res = await admin.job('batches', job.id);
    expect(res.status).toBe(200);
    expect(res.text.length).toBeLessThan(16 * 1024);
    const logs = res.json.executionLogs as Array<Record<string, unknown>>;
    expect(logs).toHaveLength(entries);
    for (const [i, log] of logs.entries()) {
      expect(log.out).toBeUndefined();
      expect(log).toMatchObject({ entryId: i + 1, key: `step.${i}`, exitCode: 0, durationMs: 5, outLength: outOf(i).length, outBytes: Buffer.byteLength(outOf(i)) });
    }
  });

  it('pages one entry\'s output with …/logs/{entryId}?offset= and the pages join to the whole output', async () => {
    const first = await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/3`);
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ entryId: 3, key: 'step.2', offset: 0, outLength: outOf(2).length });
    expect(first.json.out.length).toBeLessThan(outOf(2).length);
    let whole = first.json.out as string;
    for (let offset = first.json.nextOffset as number | null; offset !== null; ) {
      const page = await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/3?offset=${offset}&limit=100000`);
      expect(page.json.out.length).toBeLessThanOrEqual(100000);
      whole += page.json.out;
      offset = page.json.nextOffset;
    }
    expect(whole).toBe(outOf(2));
    const end = await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/3?offset=${outOf(2).length}`);
    expect(end.json).toMatchObject({ out: '', nextOffset: null });
  });

  it('answers a bad offset, limit or entry with a 400 or 404 naming it', async () => {
    const bad = await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/1?offset=-1`);
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('offset');
    expect((await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/1?limit=0`)).json.field).toBe('limit');
    const missing = await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/99`);
    expect(missing.status).toBe(404);
    expect((await admin.get(`/api/v1/queues/batches/jobs/${job.id}/logs/99999999999999999999`)).status).toBe(404);
  });

  it('keeps the web UI job page small: outputs are on their own pages', async () => {
    const cookies = new Map<string, string>();
    const keep = (res: Response) => {
      for (const cookie of res.headers.getSetCookie()) {
        const [pair] = cookie.split(';');
        const [k, v] = pair!.split('=');
        cookies.set(k!, v!);
      }
    };
    const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const signInPage = await fetch(`${c.url}/sign-in`);
    keep(signInPage);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await signInPage.text())?.[1] ?? '';
    const signedIn = await fetch(`${c.url}/sign-in`, {
      method: 'POST',
      headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded', origin: c.url },
      body: new URLSearchParams({ username: 'viewer', password: 'viewer-password-123', next: '/jobs', _csrf: csrf }).toString(),
      redirect: 'manual',
    });
    keep(signedIn);
    expect(signedIn.status).toBe(303);
    const page = await fetch(`${c.url}/jobs/batches/${job.id}`, { headers: { cookie: cookie() } });
    const html = await page.text();
    expect(page.status).toBe(200);
    // Each entry is listed with a link to its output, not 1 MiB of it.
    expect(html.length).toBeLessThan(512 * 1024);
    for (let i = 1; i <= entries; i++) expect(html).toContain(`/jobs/batches/${job.id}/entries/${i}`);
    const entryPage = await fetch(`${c.url}/jobs/batches/${job.id}/entries/2?page=1`, { headers: { cookie: cookie() } });
    expect(entryPage.status).toBe(200);
    expect(await entryPage.text()).toContain('111 ');
  });
});
