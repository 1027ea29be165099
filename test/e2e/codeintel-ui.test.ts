// The Code intelligence pages in a real browser (Debian's Chromium through playwright-core) against a real
// bin/coordinator: a repository's index jobs (linked to the job page) and uploads with their states; the
// file view of an indexed commit, where an identifier links to its definition and the side list shows
// the symbol's hover and references; markup in a file stays text. With EXECUTORS_SCREENSHOTS_DIR set, it
// saves the screenshots the README shows.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSrcCli } from '../../src/src-cli/main.js';
import type { AdminApi } from '../helpers/api-client.js';
import { launchBrowser, newPage, saveScreenshot } from '../helpers/browser.js';
import { runIndexer, TS, TYPESCRIPT_FILES } from '../helpers/codeintel-fixtures.js';
import { startE2eEnvironment, type E2eEnvironment } from '../helpers/e2e-environment.js';
import { waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';

const SCREENSHOTS = process.env.EXECUTORS_SCREENSHOTS_DIR;
const REPO = 'github.com/acme/demo-ts';

describe('the Code intelligence pages in Chromium', () => {
  const password = 'ui-codeintel-password-1';
  let env: E2eEnvironment;
  let admin: AdminApi;
  let browser: Browser;
  let page: Page;
  let commit: string;
  let indexJobId: number;

  beforeAll(async () => {
    env = await startE2eEnvironment({ name: 'codeintel-ui', runtime: 'shell' });
    admin = env.admin;
    const files = { ...TYPESCRIPT_FILES, 'src/markup.ts': '/** <img src=x onerror=alert(1)> */\nexport const tag = "<script>alert(1)</script>";\n' };
    const source = await createSourceRepository(path.join(env.work, 'repo'), [{ message: 'initial', files }]);
    commit = source.commits[0]!;
    expect((await admin.post('/api/v1/repositories', { name: REPO, url: source.path })).status).toBe(201);
    expect((await admin.post('/api/v1/users', { username: 'ops', password, siteAdmin: true })).status).toBe(201);
    // An index job (queued, no executor here) and an upload made outside executors.
    indexJobId = (await admin.post('/api/v1/codeintel/index-jobs', { repository: REPO })).json.jobs[0].id;
    const index = await runIndexer('scip-typescript', source.path);
    const out: string[] = [];
    const code = await runSrcCli(['code-intel', 'upload', '-no-progress', '-repo', REPO, '-commit', commit, '-root', '', '-file', index], { SRC_ENDPOINT: env.coordinator.url, SRC_ACCESS_TOKEN: env.adminToken }, { stdout: (t) => out.push(t), stderr: (t) => out.push(t), cwd: source.path });
    expect(code, out.join('')).toBe(0);
    await waitFor('the upload to be processed', async () => (await admin.get(`/api/v1/codeintel/uploads?repository=${REPO}&state=completed`)).json.uploads.length > 0, 30_000);
    browser = await launchBrowser();
    page = await newPage(browser);
    await page.goto(`${env.coordinator.url}/sign-in`);
    await page.fill('#username', 'ops');
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/site-admin\/executors/);
  });
  afterAll(async () => {
    await browser?.close();
    await env?.stop();
  });

  it('lists the repository with its index jobs and uploads, the job linked to its live log page', async () => {
    await page.click('header nav >> text=Code intelligence');
    await page.waitForURL(/\/code-intelligence$/);
    const row = page.locator(`#codeintel-repositories tr[data-repository="${REPO}"]`);
    expect(await row.locator('td').nth(1).textContent()).toBe('1');
    await row.locator('a').first().click();
    await page.waitForURL(/\/code-intelligence\/repository\?/);
    expect(await page.locator(`#index-jobs tr[data-job-id="${indexJobId}"] .badge`).first().textContent()).toBe('queued');
    expect(await page.locator('#uploads .badge').first().textContent()).toBe('completed');
    expect(await page.locator('#last-scheduling').textContent()).toContain('queued');
    if (SCREENSHOTS) await saveScreenshot(page, path.join(SCREENSHOTS, 'code-intelligence.png'));
    await page.click(`#index-jobs tr[data-job-id="${indexJobId}"] a[href="/jobs/codeintel/${indexJobId}"]`);
    await page.waitForURL(new RegExp(`/jobs/codeintel/${indexJobId}$`));
    expect(await page.locator('#job-state').textContent()).toBe('queued');
  });

  it('shows an indexed file whose identifiers link to their definition, with hover and references beside it', async () => {
    await page.goto(`${env.coordinator.url}/code-intelligence/repository?name=${encodeURIComponent(REPO)}`);
    await page.click('#indexed-files >> text=src/main.ts');
    await page.waitForURL(/\/code-intelligence\/file\?/);
    const call = page.locator(`a.occ[data-line="${TS.addCall.line}"][data-character="${TS.addCall.character}"]`);
    expect(await call.textContent()).toBe('add');
    await call.click();
    // The definition's file, the symbol selected, its documentation and every reference listed.
    await page.waitForURL(/path=src%2Fmath\.ts/);
    expect(await page.locator('a.occ.selected').first().textContent()).toBe('add');
    expect(await page.locator('#hover').textContent()).toContain(TS.hoverDoc);
    expect(await page.locator('#definitions li').allTextContents()).toEqual(['src/math.ts:2:17']);
    const refs = await page.locator('#references li').allTextContents();
    expect(refs.sort()).toEqual(['src/main.ts:1:10', 'src/main.ts:3:22', 'src/main.ts:4:13', 'src/math.ts:2:17']);
    if (SCREENSHOTS) await saveScreenshot(page, path.join(SCREENSHOTS, 'code-intelligence-file.png'));
    await page.click('#references >> text=src/main.ts:4:13');
    await page.waitForURL(/path=src%2Fmain\.ts/);
    expect(await page.locator('#L4 a.occ.selected').first().textContent()).toBe('add');
  });

  it('shows markup in a file as text', async () => {
    let alerted = false;
    page.on('dialog', (d) => {
      alerted = true;
      void d.dismiss();
    });
    await page.goto(`${env.coordinator.url}/code-intelligence/file?${new URLSearchParams({ repository: REPO, commit, path: 'src/markup.ts' })}`);
    expect(await page.locator('#source').textContent()).toContain('<script>alert(1)</script>');
    expect(await page.locator('#source img').count()).toBe(0);
    expect(alerted).toBe(false);
    await fs.access(path.join(env.work, 'repo', 'index.scip'));
  });
});
