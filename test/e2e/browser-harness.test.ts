// The real-browser harness the web UI's tests use (test/helpers/browser.ts): Debian's Chromium, driven by
// playwright-core, opens a page from a node:http server on 127.0.0.1, runs its inline JS on a click, keeps
// markup put in with textContent as text, and saves a full-page PNG screenshot.
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, newPage, saveScreenshot } from '../helpers/browser.js';

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Harness</title></head>
<body>
  <h1>Browser harness</h1>
  <p id="status">Not clicked</p>
  <label>Name <input id="name"></label>
  <button id="go" type="button">Go</button>
  <p id="echo"></p>
  <script>
    document.getElementById('go').addEventListener('click', () => {
      document.getElementById('status').textContent = 'Clicked';
      document.getElementById('echo').textContent = document.getElementById('name').value;
    });
  </script>
</body>
</html>`;

describe('the real-browser harness (Chromium via playwright-core)', () => {
  let server: http.Server;
  let url: string;
  let browser: Browser;
  let work: string;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-browser-harness-'));
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const started = performance.now();
    browser = await launchBrowser();
    console.log(`Chromium ${browser.version()} launched in ${Math.round(performance.now() - started)} ms`);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('runs the page inline JS on a click, keeps textContent markup as text, and takes a screenshot', async () => {
    const page = await newPage(browser, { viewport: { width: 800, height: 600 } });
    const pageErrors: Error[] = [];
    page.on('pageerror', (error) => pageErrors.push(error));
    try {
      await page.goto(url);
      await expect(page.title()).resolves.toBe('Harness');
      expect(await page.locator('#status').textContent()).toBe('Not clicked');

      const hostile = '<script>window.injected = 1</script><img src="x" onerror="window.injected = 2"><b>bold</b>';
      await page.locator('#name').fill(hostile);
      await page.locator('#go').click();
      await page.locator('#status', { hasText: 'Clicked' }).waitFor();
      expect(await page.locator('#status').textContent()).toBe('Clicked');

      // Put in with textContent, the markup is text: no elements, no script ran.
      expect(await page.locator('#echo').textContent()).toBe(hostile);
      expect(await page.locator('#echo').innerHTML()).toContain('&lt;script&gt;');
      expect(await page.locator('#echo *').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { injected?: number }).injected)).toBeUndefined();

      const file = path.join(work, 'shots', 'harness.png');
      await saveScreenshot(page, file);
      const png = await fs.readFile(file);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.length).toBeGreaterThan(1024);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
