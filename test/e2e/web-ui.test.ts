// The coordinator's web UI in a real browser (Debian's Chromium driven by playwright-core) against real
// bin/coordinator and bin/executor processes: sign in; an executor shows up active while it runs and
// inactive after it stops; a running job's log lines appear live and a cancel ends it canceled; a secret
// is created and listed without its value; a job that prints markup shows it as text; big pages page.
// With EXECUTORS_SCREENSHOTS_DIR set, it also saves the screenshots shown in the README.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi } from '../helpers/api-client.js';
import { launchBrowser, newPage, saveScreenshot } from '../helpers/browser.js';
import type { CoordinatorProcess } from '../helpers/coordinator-process.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { spawnExecutor, waitFor, type ExecutorProcess } from '../helpers/executor-process.js';

const run = promisify(execFile);
const SCREENSHOTS = process.env.EXECUTORS_SCREENSHOTS_DIR;

/** Waits until the locator's text equals (string) or matches (RegExp) `expected`, or contains it with `contains`. */
async function expectText(locator: Locator, expected: string | RegExp, options: { contains?: boolean; timeoutMs?: number } = {}): Promise<void> {
  let last: string | null = null;
  await waitFor(
    `text ${String(expected)} (last seen: ${JSON.stringify(last)})`,
    async () => {
      last = (await locator.count()) > 0 ? await locator.first().textContent() : null;
      if (last === null) return false;
      if (expected instanceof RegExp) return expected.test(last);
      return options.contains ? last.includes(expected) : last.trim() === expected;
    },
    options.timeoutMs ?? 10_000,
  ).catch(() => {
    throw new Error(`expected ${String(expected)} ${options.contains ? 'in' : 'as'} the text of ${String(locator)}, last saw ${JSON.stringify(last)}`);
  });
}

async function expectCount(locator: Locator, n: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(`${n} of ${String(locator)}`, async () => (await locator.count()) === n, timeoutMs);
}

describe('the web UI in Chromium', () => {
  const password = 'ui-admin-password-1234';
  let env: E2eEnvironment;
  let coordinator: CoordinatorProcess;
  let admin: AdminApi;
  let browser: Browser;
  let page: Page;
  let executor: ExecutorProcess | undefined;

  const executorEnv = (extra: Record<string, string> = {}) => env.executorEnv(extra);
  /** An executor that runs one job and exits; its log in the failure when it does not. */
  const runOneJob = async () => {
    const one = spawnExecutor(executorEnv({ EXECUTOR_NUM_TOTAL_JOBS: '1' }));
    const code = await Promise.race([one.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 30_000))]);
    if (code !== 0) {
      one.child.kill('SIGKILL');
      throw new Error(`the executor did not run one job and exit (${String(code)}):\n${one.log()}`);
    }
  };
  const shot = async (name: string) => {
    if (SCREENSHOTS) await saveScreenshot(page, path.join(SCREENSHOTS, `${name}.png`));
  };
  const signIn = async (p: Page, username: string, pw: string) => {
    await p.goto(`${coordinator.url}/`);
    await p.waitForURL(/\/sign-in/);
    await p.fill('#username', username);
    await p.fill('#password', pw);
    await p.click('button[type=submit]');
  };

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'ui-e2e', runtime: 'shell' });
    ({ coordinator, admin } = env);
    expect((await admin.post('/api/v1/users', { username: 'ops', password, siteAdmin: true })).status).toBe(201);
    browser = await launchBrowser();
    page = await newPage(browser);
  });
  afterAll(async () => {
    executor?.child.kill('SIGKILL');
    await browser?.close();
    await env?.stop();
  });

  it('signs in with a password into an HTTP-only, SameSite=Strict session, and refuses a wrong one', async () => {
    const other = await newPage(browser);
    await signIn(other, 'ops', 'not-the-password');
    await expectText(other.locator('[role=alert]'), 'Wrong username or password.');
    await other.close();
    await signIn(page, 'ops', password);
    await page.waitForURL(/\/site-admin\/executors$/);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'executors_session');
    expect(cookie).toMatchObject({ name: 'executors_session', httpOnly: true, sameSite: 'Strict' });
  });

  it('shows an executor as active while it runs and inactive after it stops', async () => {
    executor = spawnExecutor(executorEnv());
    const row = page.locator(`#executors tr[data-hostname^="${os.hostname()}-"]`);
    await waitFor('the executor row', async () => {
      await page.goto(`${coordinator.url}/site-admin/executors`);
      return (await row.count()) === 1 && (await row.getAttribute('data-active')) === 'true';
    });
    await expectText(row.locator('td').nth(1), 'batches');
    // Versions and compatibility arrive with the first heartbeat (every 5 s).
    await waitFor('the heartbeat\'s versions', async () => {
      await page.goto(`${coordinator.url}/site-admin/executors`);
      return ((await row.textContent()) ?? '').includes('up to date');
    }, 15_000);
    await shot('executors');
    executor.child.kill('SIGTERM');
    expect(await executor.exited).toBe(0);
    executor = undefined;
    // Inactive once not seen for 15 s (three missed heartbeats).
    await waitFor('the executor to turn inactive', async () => {
      await page.goto(`${coordinator.url}/site-admin/executors?active=false`);
      return (await row.count()) === 1 && (await row.getAttribute('data-active')) === 'false';
    }, 30_000);
  });

  it('streams a running job\'s log lines into the open page, and a cancel ends it canceled', async () => {
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ key: 'count', image: 'x', commands: ['for i in 1 2 3 4 5 6 7 8 9 10; do echo "line-$i"; sleep 1; done', 'sleep 120'] }],
    });
    executor = spawnExecutor(executorEnv());
    await page.goto(`${coordinator.url}/jobs/batches/${id}`);
    // The page was loaded once; everything after comes over the event stream.
    const out = page.locator('#entries pre.out').first();
    await expectText(out, 'line-2', { contains: true, timeoutMs: 20_000 });
    await expectText(out, 'line-4', { contains: true, timeoutMs: 10_000 });
    await expectText(page.locator('#job-state'), 'processing');
    await shot('job');
    await page.click('#cancel-form button');
    await expectText(page.locator('#job-state'), 'canceled', { timeoutMs: 20_000 });
    executor.child.kill('SIGTERM');
    await executor.exited;
    executor = undefined;
  });

  it('creates a secret and lists it without its value', async () => {
    const value = `ui-secret-${randomBytes(8).toString('hex')}`;
    await page.goto(`${coordinator.url}/secrets`);
    const mine = page.locator('section[id^="secrets-user-"]');
    await mine.locator('input[name=key]').fill('UI_TOKEN');
    await mine.locator('input[name=value]').fill(value);
    await mine.locator('button[type=submit]', { hasText: 'Add secret' }).click();
    await page.waitForURL(/\/secrets$/);
    await expectCount(page.locator('section[id^="secrets-user-"] tr[data-key="UI_TOKEN"]'), 1);
    expect(await page.content()).not.toContain(value);
    const listed = await admin.get('/api/v1/users/me');
    expect(listed.status).toBe(200);
    await shot('secrets');
    // A form without the session's CSRF token is refused.
    const forged = await page.request.post(`${coordinator.url}/secrets/create`, { form: { namespace: 'global', key: 'FORGED', value: 'x', scope: 'batches' } });
    expect(forged.status()).toBe(403);
  });

  it('shows what a job printed as text: markup and script stay inert', async () => {
    const id = await admin.enqueue('batches', {
      dockerSteps: [{ key: 'hostile', image: 'x', commands: [`printf '%s\\n' '<script>window.__pwned = 1</script><b id="injected">bold</b>'`] }],
    });
    await runOneJob();
    await page.goto(`${coordinator.url}/jobs/batches/${id}`);
    await expectText(page.locator('#entries pre.out').first(), '<script>window.__pwned = 1</script><b id="injected">bold</b>', { contains: true });
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('pages big lists: 1,000 executors 50 at a time, a 10,000-line log as its last lines and pages of 1,000', async () => {
    await run('psql', [env.databaseUrl, '-qc', `INSERT INTO executors (hostname, queue_name, os, architecture, executor_version) SELECT 'bulk-' || g, 'batches', 'linux', 'amd64', '5.3.0' FROM generate_series(1, 1000) g`]);
    await page.goto(`${coordinator.url}/site-admin/executors`);
    await expectCount(page.locator('#executors tbody tr'), 50);
    await expectText(page.locator('.filters .muted'), /100\d executors/);
    await page.click('text=Next →');
    await expectCount(page.locator('#executors tbody tr'), 50);

    const id = await admin.enqueue('batches', { dockerSteps: [{ key: 'lines', image: 'x', commands: ['seq 1 10000'] }] });
    await runOneJob();
    await page.goto(`${coordinator.url}/jobs/batches/${id}`);
    const out = await page.locator('#entries details').filter({ hasText: 'step.docker.lines' }).locator('pre.out').textContent();
    const lines = out!.split('\n');
    expect(lines.length).toBeLessThanOrEqual(502);
    // The shell's trace (`+ seq 1 10000`, stderr) and the output (stdout) come through two pipes, so where
    // the trace line lands among the last lines depends on which pipe was read first: check stdout's last.
    expect(lines.filter((l) => l.startsWith('stdout: ')).at(-1)).toBe('stdout: 10000');
    await page.locator('#entries details').filter({ hasText: 'step.docker.lines' }).locator('text=full output').click();
    // 10,000 lines of stdout and the shell's trace of the command on stderr.
    await expectText(page.locator('#entry-range'), 'Lines 1–1000 of 10001 · page 1 of 11', { contains: true });
    expect((await page.locator('#entry-out').textContent())!.split('\n')).toHaveLength(1000);
  });

  it('fits a phone\'s width: wide tables scroll inside their box, not the page', async () => {
    const phone = await newPage(browser, { viewport: { width: 390, height: 844 } });
    await phone.context().addCookies(await page.context().cookies());
    for (const url of ['/site-admin/executors', '/jobs', '/secrets', '/site-admin/settings']) {
      await phone.goto(`${coordinator.url}${url}`);
      const overflow = await phone.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect(overflow, url).toBeLessThanOrEqual(1);
    }
    await phone.close();
    await page.goto(`${coordinator.url}/site-admin/settings`);
    await expectText(page.locator('#token-state'), `••••${env.executorToken.slice(-4)}`);
    await shot('settings');
  });
});
