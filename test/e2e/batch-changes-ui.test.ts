// The Batch changes pages in a real browser (Debian's Chromium through playwright-core) against a real
// coordinator (PostgreSQL, its own git) and a real bin/executor on the shell runtime: a user writes a
// spec with mistakes in the editor and sees each problem at its line; fixes and saves it and sees the
// resolved workspaces (a repository that is not served listed as skipped, with the reason); executes it
// and watches a workspace's job log arrive live on the workspace page while the list of workspaces
// reaches COMPLETED; the preview renders each changeset's diff (markup in it stays text); apply makes
// UNPUBLISHED changesets and Publish pushes one (OPEN, the branch in the coordinator's git). Another user
// gets a 404 for the first user's batch change; an organization's is seen by its members only. A re-run
// comes from the step cache; without it, Cancel, Retry of one workspace and of all failed ones. With
// EXECUTORS_SCREENSHOTS_DIR set, it saves screenshots.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryDirFor } from '../../src/coordinator/git/repository-mirror.js';
import { AdminApi } from '../helpers/api-client.js';
import { launchBrowser, newPage, saveScreenshot } from '../helpers/browser.js';
import { spawnExecutor, waitFor } from '../helpers/executor-process.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { createTestUser, type TestUser } from '../helpers/test-users.js';

const run = promisify(execFile);
const SCREENSHOTS = process.env.EXECUTORS_SCREENSHOTS_DIR;
const ROOT = path.resolve(import.meta.dirname, '../..');
const HOSTILE = '<img src=x onerror="document.title=1">';

/** The spec with a typo at line 8 (`contaner`), which also leaves `container` missing (line 7). */
const BAD_SPEC = `version: 2
name: ui-change
description: Switch the mode
on:
  - repository: github.com/acme/ui-a
  - repository: github.com/acme/ui-b
  - repository: github.com/acme/not-served
steps:
  - run: sed -i 's/mode=foo/mode=bar/' config.txt && echo '${HOSTILE}' >> config.txt
    contaner: alpine:3
changesetTemplate:
  title: Switch the mode in \${{ repository.name }}
  body: Made in the web UI
  branch: batch/ui-change
  commit:
    message: Switch the mode
  published: false
`;
const GOOD_SPEC = BAD_SPEC.replace('contaner:', 'container:');

async function expectText(locator: Locator, expected: string | RegExp, timeoutMs = 20_000): Promise<void> {
  let last: string | null = null;
  await waitFor(
    `text ${String(expected)} in ${String(locator)}`,
    async () => {
      last = (await locator.count()) > 0 ? await locator.first().textContent() : null;
      return last !== null && (typeof expected === 'string' ? last.includes(expected) : expected.test(last));
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last seen: ${JSON.stringify(last)})`);
  });
}

describe('the Batch changes pages in Chromium', () => {
  let c: TestCoordinator;
  let admin: AdminApi;
  let alice: TestUser;
  let bob: TestUser;
  let work: string;
  let browser: Browser;
  let page: Page;

  const shot = async (name: string, p: Page = page) => {
    if (SCREENSHOTS) await saveScreenshot(p, path.join(SCREENSHOTS, `${name}.png`));
  };
  const signIn = async (p: Page, user: TestUser) => {
    await p.goto(`${c.url}/sign-in`);
    await p.fill('#username', user.username);
    await p.fill('#password', user.password);
    await p.click('button[type=submit]');
    await p.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
  };
  /** bin/executor (shell runtime) serving `batches` until it ran `n` jobs; `src batch-helper` of this checkout. */
  const runJobs = async (n: number) => {
    const executor = spawnExecutor({
      EXECUTOR_FRONTEND_URL: c.url,
      EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
      EXECUTOR_QUEUE_NAME: 'batches',
      EXECUTOR_RUNTIME: 'shell',
      EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
      EXECUTOR_NUM_TOTAL_JOBS: String(n),
      EXECUTOR_MAXIMUM_NUM_JOBS: '1',
      TMPDIR: work,
      PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH ?? ''}`,
    });
    const code = await Promise.race([executor.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 50_000))]);
    if (code !== 0) {
      executor.child.kill('SIGKILL');
      throw new Error(`the executor did not run ${n} jobs and exit (${String(code)}):\n${executor.log()}`);
    }
  };

  beforeAll(async () => {
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'batch-changes-ui-')));
    c = await startTestCoordinator('postgres');
    admin = new AdminApi(c.url, c.adminToken);
    for (const name of ['github.com/acme/ui-a', 'github.com/acme/ui-b']) {
      const source = await createSourceRepository(path.join(work, 'sources', name.replaceAll('/', '_')), [{ message: 'initial', files: { 'config.txt': 'mode=foo\nother=1\n' } }]);
      expect((await admin.post('/api/v1/repositories', { name, url: source.path })).status).toBe(201);
    }
    alice = await createTestUser(admin, 'alice');
    bob = await createTestUser(admin, 'bob');
    browser = await launchBrowser();
    page = await newPage(browser);
    await signIn(page, alice);
  });
  afterAll(async () => {
    await browser?.close();
    await c?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('shows each problem of a spec at its line in the editor, and saving the fixed spec lists the workspaces', async () => {
    await page.click('header nav >> text=Batch changes');
    await page.waitForURL(/\/batch-changes$/);
    expect(await page.locator('#no-batch-changes').count()).toBe(1);
    await page.click('text=New batch change');
    await page.waitForURL(/\/batch-changes\/new$/);
    await page.fill('#spec', BAD_SPEC);
    await page.click('#save-spec');
    await expectText(page.locator('#spec-problems'), 'The batch spec has 2 problems');
    // Each problem names its line, field and what is allowed, and its line is marked in the gutter.
    const problems = page.locator('#spec-problems li');
    expect(await problems.evaluateAll((els) => els.map((e) => [e.getAttribute('data-line'), e.querySelector('code.field')!.textContent]))).toEqual([
      ['9', 'steps[0].container'],
      ['10', 'steps[0].contaner'],
    ]);
    expect(await problems.nth(1).textContent()).toContain('unknown field "contaner"; allowed here: run, container');
    expect(await page.locator('.spec-editor .gutter .ln.error-line').evaluateAll((els) => els.map((e) => e.textContent))).toEqual(['9', '10']);
    expect(await page.locator('#spec-L10').getAttribute('title')).toContain('steps[0].contaner: unknown field');
    expect(await page.locator('.spec-editor .marks .mark.error-line').count()).toBe(2);
    // The text typed stays in the editor; a problem's link selects its line there.
    expect(await page.inputValue('#spec')).toBe(BAD_SPEC);
    await page.click('#spec-problems a[data-line="10"]');
    expect(await page.evaluate(() => {
      const t = document.getElementById('spec') as HTMLTextAreaElement;
      return t.value.slice(t.selectionStart, t.selectionEnd);
    })).toBe('    contaner: alpine:3');
    await shot('batch-spec-errors');

    await page.fill('#spec', GOOD_SPEC);
    await page.click('#validate-spec');
    await expectText(page.locator('#spec-notice'), 'The spec is valid (batch change ui-change)');
    expect(await page.locator('#spec-problems').count()).toBe(0);
    await page.click('#save-spec');
    await page.waitForURL(/\/batch-changes\/alice\/ui-change\?notice=/);
    await expectText(page.locator('#notice'), 'Created: 3 workspaces resolved.');
    const rows = page.locator('#workspaces tbody tr');
    expect(await rows.evaluateAll((els) => els.map((e) => [e.getAttribute('data-repository'), e.getAttribute('data-state'), e.children[1]!.textContent]))).toEqual([
      ['github.com/acme/not-served', 'SKIPPED', expect.any(String)],
      ['github.com/acme/ui-a', 'PENDING', 'main'],
      ['github.com/acme/ui-b', 'PENDING', 'main'],
    ]);
    expect(await page.locator('#workspaces tr[data-state="SKIPPED"] [data-field="message"]').textContent()).toMatch(/not-served/);
    expect(await page.inputValue('#spec')).toBe(GOOD_SPEC);
    // A bad edit of a saved spec shows its problems on the batch change's page and changes nothing.
    await page.fill('#spec', GOOD_SPEC.replace('  title: Switch', '  titel: Switch'));
    await page.click('#save-spec');
    await expectText(page.locator('#spec-problems'), 'unknown field "titel"');
    expect(await page.locator('.spec-editor .gutter .ln.error-line').evaluateAll((els) => els.map((e) => e.textContent))).toEqual(['11', '12']);
    expect(await page.locator('h1').textContent()).toContain('alice / ui-change');
    expect(await page.locator('#workspaces tbody tr').count()).toBe(3);
    expect((await alice.api.get('/api/v1/batch-changes/ui-change')).json.spec).toBe(GOOD_SPEC);

    await page.click('header nav >> text=Batch changes');
    const listed = page.locator('#batch-changes tr[data-batch-change="ui-change"]');
    expect(await listed.locator('[data-field="state"]').textContent()).toBe('PENDING');
    expect(await listed.locator('[data-field="workspaces"]').textContent()).toContain('1 skipped');
    expect(await listed.locator('[data-field="workspaces"]').textContent()).toContain('2 pending');
  });

  it('executes: the workspace page shows its job log live, the workspaces reach COMPLETED', async () => {
    await page.goto(`${c.url}/batch-changes/alice/ui-change`);
    await page.click('#execute');
    await expectText(page.locator('#notice'), /Execution \d+ started/);
    expect(await page.locator('#execution-state').textContent()).toBe('QUEUED');
    expect(await page.locator('#workspaces tbody tr[data-state="QUEUED"]').count()).toBe(2);
    // The workspace page of a queued job listens for its log; it fills in while the executor runs.
    const logPage = await newPage(browser);
    await signIn(logPage, alice);
    await logPage.goto(page.url().replace(/\?.*$/, ''));
    const href = (await logPage.locator('#workspaces tr[data-repository="github.com/acme/ui-a"] a.workspace-log').getAttribute('href'))!;
    expect(await logPage.locator('#workspaces tr[data-repository="github.com/acme/ui-a"] a.workspace-log').textContent()).toMatch(/job #\d+ · log/);
    await logPage.goto(`${c.url}${href}`);
    expect(await logPage.locator('#job-state').textContent()).toBe('queued');
    expect(await logPage.locator('#entries[data-job-events]').count()).toBe(1);
    await runJobs(2);
    await expectText(logPage.locator('#job-state'), 'completed');
    await waitFor('the log entries to arrive', async () => (await logPage.locator('#entries details.entry').count()) >= 4);
    await expectText(logPage.locator('#entries'), 'uploaded the result');
    // The workspace's state and result follow without a reload.
    await expectText(logPage.locator('#workspace-state'), 'COMPLETED');
    expect(await logPage.locator('#workspace-diff table.diff tr.add td.code').first().textContent()).toBe('+mode=bar');
    await shot('batch-workspace-log', logPage);
    // Each entry's whole output is a page of its own for the owner too (job pages are for site admins).
    await logPage.click('#entries details.entry:has-text("uploaded the result") a:text("full output")');
    await expectText(logPage.locator('#entry-out'), 'uploaded the result');
    expect(await logPage.locator('#entry-range').textContent()).toMatch(/^Lines 1–\d+ of \d+ · page 1 of 1$/);
    await logPage.close();
    // The batch change's page re-reads its workspaces while the execution runs.
    await expectText(page.locator('#execution-state'), 'COMPLETED');
    await expectText(page.locator('#workspaces tr[data-repository="github.com/acme/ui-b"] [data-field="state"]'), 'COMPLETED');
    expect(await page.locator('#workspaces tbody tr[data-state="COMPLETED"]').count()).toBe(2);
    await shot('batch-change');
    await page.goto(`${c.url}${href}`);
    expect(await page.locator('#workspace-diff table.diff tr.add td.code').allTextContents()).toEqual(['+mode=bar', `+${HOSTILE}`]);
  });

  it('previews each changeset with its diff rendered (markup stays text); apply, then publish → OPEN', async () => {
    await page.goto(`${c.url}/batch-changes/alice/ui-change`);
    await page.click('#preview-link');
    await page.waitForURL(/\/preview$/);
    const planned = page.locator('#preview section.changeset');
    expect(await planned.evaluateAll((els) => els.map((e) => [e.getAttribute('data-repository'), e.getAttribute('data-operation'), e.getAttribute('data-branch')]))).toEqual([
      ['github.com/acme/ui-a', 'create', 'batch/ui-change'],
      ['github.com/acme/ui-b', 'create', 'batch/ui-change'],
    ]);
    const a = planned.first();
    expect(await a.locator('[data-field="title"]').textContent()).toBe('Switch the mode in github.com/acme/ui-a');
    expect([await a.locator('[data-field="added"]').textContent(), await a.locator('[data-field="deleted"]').textContent()]).toEqual(['+2', '−1']);
    expect(await a.locator('.diff-file').getAttribute('data-path')).toBe('config.txt');
    expect(await a.locator('table.diff tr.del td.code').allTextContents()).toEqual(['-mode=foo']);
    expect(await a.locator('table.diff tr.add td.code').allTextContents()).toEqual(['+mode=bar', `+${HOSTILE}`]);
    // The added line's new line number, and the markup a step wrote is text: no element came of it.
    expect(await a.locator('table.diff tr.add td.ln').nth(1).textContent()).toBe('1');
    expect(await page.locator('#preview img').count()).toBe(0);
    expect(await page.title()).not.toBe('1');
    await shot('batch-preview');

    await page.click('#apply');
    await expectText(page.locator('#notice'), 'Applied: 2 create.');
    const changesets = page.locator('#changesets tbody tr');
    expect(await changesets.evaluateAll((els) => els.map((e) => [e.getAttribute('data-repository'), e.getAttribute('data-state')]))).toEqual([
      ['github.com/acme/ui-a', 'UNPUBLISHED'],
      ['github.com/acme/ui-b', 'UNPUBLISHED'],
    ]);
    await page.click('#changesets tr[data-repository="github.com/acme/ui-a"] button:text("Publish")');
    await expectText(page.locator('#notice'), 'is OPEN');
    expect(await page.locator('#changesets tr[data-repository="github.com/acme/ui-a"]').getAttribute('data-state')).toBe('OPEN');
    expect(await page.locator('#changesets tr[data-repository="github.com/acme/ui-b"]').getAttribute('data-state')).toBe('UNPUBLISHED');
    // The preview says nothing is left to apply; the unpublished one has its Publish button there too.
    expect(await planned.evaluateAll((els) => els.map((e) => [e.getAttribute('data-operation'), e.querySelectorAll('button').length]))).toEqual([
      ['none', 0],
      ['none', 1],
    ]);
    // The branch is in the coordinator's git with the change.
    const bare = repositoryDirFor(c.services.repositoriesDir, 'github.com/acme/ui-a');
    const { stdout } = await run('git', ['--git-dir', bare, 'show', 'refs/heads/batch/ui-change:config.txt']);
    expect(stdout).toBe(`mode=bar\nother=1\n${HOSTILE}\n`);
    await page.goto(`${c.url}/batch-changes`);
    expect(await page.locator('#batch-changes tr[data-batch-change="ui-change"] [data-field="changesets"]').textContent()).toMatch(/1 open.*1 unpublished|1 unpublished.*1 open/);
    await shot('batch-changes');
  });

  it("is a page that does not exist for another user, and absent from their list", async () => {
    const other = await newPage(browser);
    await signIn(other, bob);
    for (const rest of ['', '/preview', '/workspaces/1']) {
      const res = await other.goto(`${c.url}/batch-changes/alice/ui-change${rest}`);
      expect(res!.status()).toBe(404);
    }
    expect(await other.locator('#error-message').textContent()).toContain('No batch change ui-change in namespace alice');
    await other.goto(`${c.url}/batch-changes`);
    expect(await other.locator('#batch-changes tbody tr').count()).toBe(0);
    // A form posted to it (with bob's own CSRF token) is refused the same way, and nothing runs.
    const csrf = await other.locator('header form input[name=_csrf]').getAttribute('value');
    const posted = await other.evaluate(async (token) => (await fetch('/batch-changes/alice/ui-change/execute', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${token}` })).status, csrf);
    expect(posted).toBe(404);
    // Without the CSRF token even alice's own session is refused.
    const forged = await page.evaluate(async () => (await fetch('/batch-changes/alice/ui-change/execute', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_csrf=wrong' })).status);
    expect(forged).toBe(403);
    await other.close();
  });

  it("puts a batch change in an organization from the editor: its members see it, others do not", async () => {
    const carol = await createTestUser(admin, 'carol');
    const org = await carol.api.post('/api/v1/orgs', { name: 'acme-team' });
    expect(org.status, org.text).toBe(201);
    expect((await carol.api.post(`/api/v1/orgs/${org.json.id}/members`, { username: 'alice' })).status).toBe(204);
    const carolPage = await newPage(browser);
    await signIn(carolPage, carol);
    await carolPage.goto(`${c.url}/batch-changes/new`);
    expect(await carolPage.locator('#namespace option').allTextContents()).toEqual(['carol', 'acme-team']);
    await carolPage.fill('#spec', GOOD_SPEC.replace('name: ui-change', 'name: team-change'));
    await carolPage.selectOption('#namespace', 'acme-team');
    await carolPage.click('#save-spec');
    await carolPage.waitForURL(/\/batch-changes\/acme-team\/team-change\?notice=/);
    await carolPage.close();
    // alice, a member, lists and opens it; bob does not see it.
    await page.goto(`${c.url}/batch-changes`);
    expect(await page.locator('#batch-changes tbody tr').evaluateAll((els) => els.map((e) => [e.getAttribute('data-namespace'), e.getAttribute('data-batch-change')]))).toEqual([
      ['alice', 'ui-change'],
      ['acme-team', 'team-change'],
    ]);
    await page.click('#batch-changes a:text("team-change")');
    await page.waitForURL(/\/batch-changes\/acme-team\/team-change$/);
    expect(await page.locator('#workspaces tbody tr[data-state="PENDING"]').count()).toBe(2);
    const other = await newPage(browser);
    await signIn(other, bob);
    expect((await other.goto(`${c.url}/batch-changes/acme-team/team-change`))!.status()).toBe(404);
    await other.close();
  });

  it('runs again from the step cache (no job); without it, cancels, retries one workspace, then all failed', async () => {
    const states = () => page.locator('#workspaces tbody tr:not([data-state="SKIPPED"])').evaluateAll((els) => els.map((e) => [e.getAttribute('data-repository'), e.getAttribute('data-state')]));
    await page.goto(`${c.url}/batch-changes/alice/ui-change`);
    await page.click('#execute');
    await expectText(page.locator('#execution-state'), 'COMPLETED');
    expect(await page.locator('#workspaces tbody tr[data-state="COMPLETED"]').allTextContents()).toEqual([expect.stringContaining('cached'), expect.stringContaining('cached')]);

    await page.check('#no-cache');
    await page.click('#execute');
    await expectText(page.locator('#notice'), 'without the step cache');
    expect(await states()).toEqual([
      ['github.com/acme/ui-a', 'QUEUED'],
      ['github.com/acme/ui-b', 'QUEUED'],
    ]);
    await page.click('#cancel-execution');
    await expectText(page.locator('#notice'), 'Canceled 2 workspaces');
    await expectText(page.locator('#execution-state'), 'CANCELED');
    await page.click('#workspaces tr[data-repository="github.com/acme/ui-b"] button:text("Retry")');
    await expectText(page.locator('#notice'), 'Retrying the workspace of github.com/acme/ui-b');
    expect(await states()).toEqual([
      ['github.com/acme/ui-a', 'CANCELED'],
      ['github.com/acme/ui-b', 'QUEUED'],
    ]);
    await runJobs(1);
    await expectText(page.locator('#workspaces tr[data-repository="github.com/acme/ui-b"] [data-field="state"]'), 'COMPLETED');
    await page.reload();
    await page.click('#retry-failed');
    await expectText(page.locator('#notice'), 'Retrying 1 workspace(s).');
    await runJobs(1);
    await expectText(page.locator('#execution-state'), 'COMPLETED');
    expect(await states()).toEqual([
      ['github.com/acme/ui-a', 'COMPLETED'],
      ['github.com/acme/ui-b', 'COMPLETED'],
    ]);
  });

  it("fits a phone's width: the editor, workspaces, diffs and log scroll inside their boxes, not the page", async () => {
    const phone = await newPage(browser, { viewport: { width: 390, height: 844 } });
    await phone.context().addCookies(await page.context().cookies());
    const workspace = (await page.locator('#workspaces a.workspace-log').first().getAttribute('href'))!;
    for (const url of ['/batch-changes', '/batch-changes/new', '/batch-changes/alice/ui-change', '/batch-changes/alice/ui-change/preview', workspace]) {
      await phone.goto(`${c.url}${url}`);
      const overflow = await phone.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      expect(overflow, url).toBeLessThanOrEqual(1);
    }
    await phone.close();
  });
});
