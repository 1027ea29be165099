// A real browser for the web UI's tests: Debian's `chromium` driven by playwright-core. Playwright's own
// browser download cannot work here (these machines reach only the npm registry and Debian's packages),
// so the tests launch /usr/bin/chromium, which .ci/run installs with apt-get.
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's `chromium` package's launcher. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * The flags known to work on these machines, as root, with no network. `launch` gives each browser a new
 * empty user data dir of its own.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  // Root cannot use Chromium's sandbox.
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // No network: nothing to fetch, update or sync.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Shared memory in /tmp rather than a possibly small /dev/shm (containers).
  '--disable-dev-shm-usage',
];

export interface LaunchBrowserOptions {
  /** Extra Chromium flags, after CHROMIUM_ARGS. */
  args?: string[];
  /** How long to wait for the browser to start, in ms (default 30 000). */
  timeout?: number;
}

/** Starts headless Chromium. Close it with `browser.close()` (in `afterAll`). */
export async function launchBrowser(options: LaunchBrowserOptions = {}): Promise<Browser> {
  try {
    await fs.access(CHROMIUM_PATH, fs.constants.X_OK);
  } catch {
    throw new Error(
      `${CHROMIUM_PATH} is missing: the browser tests need Debian's chromium (apt-get install -y chromium)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    timeout: options.timeout ?? 30_000,
  });
}

export interface NewPageOptions {
  /** The window's size in CSS pixels (default 1280×800). */
  viewport?: { width: number; height: number };
}

/**
 * A page in a new browser context of its own (its own cookies and storage); `page.close()` closes the
 * context too. Actions and waits fail after 10 s, well before the test's own timeout.
 */
export async function newPage(browser: Browser, options: NewPageOptions = {}): Promise<Page> {
  const page = await browser.newPage({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  page.setDefaultTimeout(10_000);
  return page;
}

/** Saves a PNG of the whole page (beyond the viewport) to `filePath`, making its folder if needed. */
export async function saveScreenshot(page: Page, filePath: string): Promise<void> {
  await fs.mkdir(path.dirname(filePath), { recursive: true });
  await page.screenshot({ path: filePath, fullPage: true, type: 'png' });
}
