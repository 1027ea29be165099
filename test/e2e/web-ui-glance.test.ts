// The numbers at a glance, in a real browser (Debian's Chromium driven by playwright-core) against real
// bin/coordinator and bin/executor processes: the Jobs page's charts per queue (queue size, jobs finished
// per minute, last hour and day) from the coordinator's time series; the Executors page's chart of active
// executors and each executor's running jobs; a job's timeline, its times in the viewer's time zone, and
// its finished time and failure message appearing while it is watched; the message column wrapping; the
// username kept after a wrong password. Past history is seeded into the time-series table (the test
// cannot wait a day); what happens during the test is recorded by the coordinator itself.
// With EXECUTORS_SCREENSHOTS_DIR set, it saves the screenshots the README shows.
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi } from '../helpers/api-client.js';
import { goArch, goOs } from '../../src/executor/worker/telemetry.js';
import { launchBrowser, saveScreenshot } from '../helpers/browser.js';
import type { CoordinatorProcess } from '../helpers/coordinator-process.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor, type ExecutorProcess } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const run = promisify(execFile);
const SCREENSHOTS = process.env.EXECUTORS_SCREENSHOTS_DIR;
const TIME_ZONE = 'Asia/Tokyo';

/** The seeded past: a load that rises and falls, a few errors and failures, 3–5 executors. */
function seededMinute(minutesAgo: number) {
  return {
    queued: Math.round(8 + 6 * Math.sin(minutesAgo / 7)),
    processing: 2 + (minutesAgo % 3),
    completed: (minutesAgo * 7) % 5,
    errored: minutesAgo % 13 === 0 ? 1 : 0,
    failed: minutesAgo % 17 === 0 ? 1 : 0,
  };
}
const SEEDED_MINUTES = Array.from({ length: 50 }, (_, i) => i + 6); // 6 to 55 minutes ago: inside the hour for minutes

describe('the web UI at a glance, in Chromium', () => {
  const password = 'glance-admin-password-1234';
  let env: E2eEnvironment;
  let coordinator: CoordinatorProcess;
  let admin: AdminApi;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const executors: ExecutorProcess[] = [];
  let source: { path: string; commits: string[] };

  const shot = async (name: string) => {
    if (SCREENSHOTS) await saveScreenshot(page, path.join(SCREENSHOTS, `${name}.png`));
  };
  const psql = (sql: string) => run('psql', [env.databaseUrl, '-qc', sql]);
  const spawn = (extra: Record<string, string> = {}) => {
    const executor = spawnExecutor(env.executorEnv(extra));
    executors.push(executor);
    return executor;
  };
  const jobView = async (id: number) => (await admin.job('batches', id)).json as { state: string; failureMessage: string | null; queuedAt: string };

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'ui-glance-e2e', runtime: 'shell', coordinatorEnv: { COORDINATOR_HISTORY_INTERVAL: '1s' } });
    ({ coordinator, admin } = env);
    expect((await admin.post('/api/v1/users', { username: 'ops', password, siteAdmin: true })).status).toBe(201);
    const values = SEEDED_MINUTES.map((m) => {
      const p = seededMinute(m);
      return `(60, date_trunc('minute', now()) - interval '${m} minutes', 'batches', ${p.queued}, ${p.processing}, ${p.completed}, ${p.errored}, ${p.failed})`;
    });
    const tens = Array.from({ length: 140 }, (_, i) => i + 3).map((w) => {
      const p = seededMinute(w);
      return `(600, date_bin('10 minutes', now(), TIMESTAMPTZ 'epoch') - interval '${w * 10} minutes', 'batches', ${p.queued * 2}, ${p.processing}, ${p.completed * 9}, ${p.errored * 2}, ${p.failed})`;
    });
    await psql(`INSERT INTO queue_history (resolution_s, bucket_start, queue, queued, processing, completed, errored, failed) VALUES ${[...values, ...tens].join(', ')}`);
    const active = [
      ...SEEDED_MINUTES.map((m) => `(60, date_trunc('minute', now()) - interval '${m} minutes', ${3 + Math.round(1.5 + 1.5 * Math.sin(m / 8))})`),
      ...Array.from({ length: 140 }, (_, i) => i + 3).map((w) => `(600, date_bin('10 minutes', now(), TIMESTAMPTZ 'epoch') - interval '${w * 10} minutes', ${3 + Math.round(2 + 2 * Math.sin(w / 20))})`),
    ];
    await psql(`INSERT INTO executor_history (resolution_s, bucket_start, active) VALUES ${active.join(', ')}`);
    source = await createSourceRepository(path.join(env.work, 'source'), [{ message: 'first', files: { 'README.md': 'hello\n' } }]);
    expect((await admin.post('/api/v1/repositories', { name: 'github.com/acme/glance', url: source.path })).status).toBe(201);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: TIME_ZONE, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    for (const executor of executors) executor.child.kill('SIGKILL');
    await browser?.close();
    await env?.stop();
  });

  it('keeps the username after a wrong password, and signs in with the right one', async () => {
    await page.goto(`${coordinator.url}/sign-in`);
    await page.fill('#username', 'ops');
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('[role=alert]');
    expect(await page.inputValue('#username')).toBe('ops');
    expect(await page.inputValue('#password')).toBe('');
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('password');
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/site-admin\/executors$/);
  });

  it('charts each queue\'s size and the jobs finished per minute over the last hour and day, from the coordinator\'s own records', async () => {
    // Live: one job that completes and one that fails on batches; three that wait on codeintel.
    const ok = await admin.enqueue('batches', { dockerSteps: [{ key: 'ok', image: 'x', commands: ['echo ok'] }] });
    const bad = await admin.enqueue('batches', { dockerSteps: [{ key: 'bad', image: 'x', commands: ['exit 3'] }] });
    for (let i = 0; i < 3; i++) await admin.enqueue('codeintel');
    const executor = spawn({ EXECUTOR_NUM_TOTAL_JOBS: '2' });
    expect(await executor.exited, executor.log()).toBe(0);
    expect((await jobView(ok)).state).toBe('completed');
    expect((await jobView(bad)).state).toBe('failed');

    const seeded = SEEDED_MINUTES.map(seededMinute).reduce((t, p) => ({ c: t.c + p.completed, e: t.e + p.errored, f: t.f + p.failed }), { c: 0, e: 0, f: 0 });
    const caption = page.locator('#chart-finished-batches figcaption');
    // Recorded every second (COORDINATOR_HISTORY_INTERVAL=1s): the two jobs show up in the hour's totals.
    await waitFor('the finished jobs in the chart', async () => {
      await page.goto(`${coordinator.url}/jobs?queue=batches`);
      return (await caption.textContent())?.includes(`${seeded.c + 1} completed, ${seeded.e} errored, ${seeded.f + 1} failed`);
    }, 20_000).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${await caption.textContent()}`);
    });
    // One slot a minute; bars where jobs finished; the seeded sizes as lines.
    expect(await page.locator('#chart-finished-batches rect.hover').count()).toBe(60);
    expect(await page.locator('#chart-finished-batches rect.b-completed').count()).toBeGreaterThanOrEqual(SEEDED_MINUTES.filter((m) => seededMinute(m).completed > 0).length);
    expect(await page.locator('#chart-size-batches polyline.s-queued').count()).toBeGreaterThanOrEqual(1);
    // The minute seeded 10 minutes ago (11 if a minute turned since).
    const titles = await page.locator('#chart-size-batches rect.hover title').allTextContents();
    const ten = seededMinute(10);
    expect(titles.filter((t) => t === `10 min ago: ${ten.queued} queued, ${ten.processing} processing` || t === `11 min ago: ${ten.queued} queued, ${ten.processing} processing`)).toHaveLength(1);
    await shot('jobs-charts');

    // The codeintel queue's size now: three queued.
    await page.goto(`${coordinator.url}/jobs?queue=codeintel`);
    await waitFor('three queued in codeintel\'s chart', async () => {
      await page.goto(`${coordinator.url}/jobs?queue=codeintel`);
      return (await page.locator('#chart-size-codeintel rect.hover title').last().textContent())?.startsWith('this minute: 3 queued, 0 processing');
    }, 20_000);

    // The last day: ten-minute slots.
    await page.goto(`${coordinator.url}/jobs?queue=batches`);
    await page.click('.range-links >> text=last day');
    await page.waitForURL(/range=day/);
    expect(await page.locator('#chart-finished-batches rect.hover').count()).toBe(144);
    expect(await page.locator('#chart-finished-batches figcaption').textContent()).toMatch(/^Jobs finished per 10 minutes in batches, last day: \d+ completed/);
    const dayTitles = await page.locator('#chart-size-batches rect.hover title').allTextContents();
    expect(dayTitles).toContain(`5 h ago: ${seededMinute(30).queued * 2} queued, ${seededMinute(30).processing} processing`);
  });

  it('shows a long failure message in full in the jobs table, wrapped', async () => {
    const message = `step failed: ${'a long explanation of what went wrong, '.repeat(12)}the end`;
    await psql(`INSERT INTO jobs (queue, state, spec, failure_message, finished_at) VALUES ('batches', 'failed', '{}'::jsonb, '${message}', now())`);
    await page.goto(`${coordinator.url}/jobs?queue=batches&state=failed`);
    const cell = page.locator('#jobs td.message', { hasText: 'the end' });
    expect(await cell.textContent()).toBe(message);
    const box = await cell.boundingBox();
    // Wrapped onto several lines, within the page's width.
    expect(box!.height).toBeGreaterThan(40);
    expect(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBeLessThanOrEqual(1);
  });

  it('draws a job\'s timeline with durations, its times in the viewer\'s time zone, and its end while watched', async () => {
    const id = await admin.enqueue('batches', {
      repositoryName: 'github.com/acme/glance',
      commit: source.commits[0],
      dockerSteps: [
        { key: 'prepare', image: 'x', commands: ['cat README.md', 'sleep 1'] },
        { key: 'work', image: 'x', commands: ['echo working', 'sleep 6', 'echo giving up; exit 3'] },
      ],
    });
    spawn({ EXECUTOR_NUM_TOTAL_JOBS: '1' });
    await page.goto(`${coordinator.url}/jobs/batches/${id}`);
    // Watched from here on: the page is not loaded again.
    await waitFor('the step in the timeline', async () => (await page.locator('#job-timeline .timeline-row[data-key="step.docker.work"]').count()) === 1, 30_000);
    expect(await page.locator('#job-finished').textContent()).toBe('—');
    await page.locator('#job-state', { hasText: 'processing' }).waitFor();

    // The Executors page meanwhile: the chart, and this executor's running job.
    const other = await context.newPage();
    await other.goto(`${coordinator.url}/site-admin/executors`);
    const row = other.locator(`#executors tr[data-hostname^="${os.hostname()}-"][data-active="true"]`);
    await waitFor('the running job on the executor\'s row', async () => {
      await other.goto(`${coordinator.url}/site-admin/executors`);
      return (await row.locator('td.running-jobs a').count()) === 1;
    }, 20_000);
    expect(await row.locator('td.running-jobs a').getAttribute('href')).toBe(`/jobs/batches/${id}`);
    // The platform came with the start-up ping, not one heartbeat (5 s) later.
    expect(await row.locator('td').nth(2).textContent()).toBe(`${goOs()} / ${goArch()}`);
    expect(await other.locator('#chart-executors rect.hover').count()).toBe(60);
    expect(await other.locator('#chart-executors polyline.s-active').count()).toBeGreaterThanOrEqual(1);
    const screenshotPage = page;
    page = other;
    await shot('executors-chart');
    page = screenshotPage;
    await other.close();

    const failure = page.locator('#job-failure');
    await failure.waitFor({ timeout: 30_000 });
    const view = await jobView(id);
    expect(view.state).toBe('failed');
    expect(await failure.textContent()).toBe(view.failureMessage);
    await page.locator('#job-state', { hasText: 'failed' }).waitFor();
    // The finished time, in Tokyo time, with how long ago.
    const finished = await page.locator('#job-finished time').getAttribute('datetime');
    // ICU puts a narrow no-break space before AM/PM: compare with plain spaces.
    const plain = (text: string | null) => (text ?? '').replace(/\s/g, ' ');
    const tokyo = plain(new Date(finished!).toLocaleString('en-US', { timeZone: TIME_ZONE }));
    const shown = plain(await page.locator('#job-finished time').textContent());
    expect(shown.startsWith(`${tokyo} (`), `${shown} should start with ${tokyo}`).toBe(true);
    expect(shown).toMatch(/\((just now|\d+ s ago)\)$/);
    expect(plain(await page.locator('#job-queued time').textContent())).toContain(plain(new Date(view.queuedAt).toLocaleString('en-US', { timeZone: TIME_ZONE })));
    expect(await page.locator('#job-finished time').getAttribute('title')).toContain(`(${TIME_ZONE})`);

    // Setup, the step, teardown: each a bar with its duration; the step's bar red (exit code 3).
    const keys = await page.locator('#job-timeline .timeline-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')));
    expect(keys[0]).toMatch(/^setup\./);
    expect(keys).toContain('step.docker.prepare');
    expect(keys).toContain('step.docker.work');
    expect(keys.at(-1)).toMatch(/^teardown\./);
    const step = page.locator('#job-timeline .timeline-row[data-key="step.docker.work"]');
    expect(await step.locator('rect').getAttribute('class')).toContain('t-failed');
    expect(await step.locator('text.duration').textContent()).toMatch(/^\d+\.\d s$/);
    expect(Number((await step.locator('text.duration').textContent())!.split(' ')[0])).toBeGreaterThanOrEqual(6);
    await shot('job-timeline');
  });
});
