// Repository mirroring attacked through POST /api/v1/repositories (issue 11, items 6 and 12), on PGlite
// and PostgreSQL: git transport helpers (`fd::`, `ext::`) refused before git runs, a remote that never
// answers killed at the deadline with its helpers, git killed when the client goes away, git's reason in
// a 400/502, and a URL's credential kept out of answers, the database's plain columns, the mirror's
// config and the log — while the mirror still authenticates with it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveGitUploadPack } from '../../src/coordinator/git/git-http-backend.js';
import { createLogger, silentLogger } from '../../src/shared/logger.js';
import { AdminApi } from '../helpers/api-client.js';
import { createSourceRepository } from '../helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { BACKENDS } from '../helpers/test-database.js';

const run = promisify(execFile);

/** Command lines of the live processes that mention `needle` (git, git-remote-http, ssh …). */
async function processesMentioning(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const state = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // A zombie has exited; it only waits for its parent to reap it.
    if (cmdline.includes(needle) && !/^\d+ \(.*\) Z /.test(state)) found.push(cmdline.replaceAll('\0', ' '));
  }
  return found;
}

/** Polls until no process mentions `needle`, or `withinMs` passed; returns what is still there. */
async function waitForNoProcess(needle: string, withinMs: number): Promise<string[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const left = await processesMentioning(needle);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP server that accepts connections and never answers: git's HTTP client waits on it forever. */
async function silentServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A smart-HTTP git server for one bare repository, behind HTTP Basic auth. */
async function authenticatedGitServer(bareDir: string, username: string, password: string) {
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  let authorized = 0;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end('who are you?\n');
      return;
    }
    authorized++;
    const service = req.url!.split('?')[0]!.endsWith('/info/refs') ? 'info/refs' : 'git-upload-pack';
    void serveGitUploadPack(req, res, { repositoryDir: bareDir, service, logger: silentLogger });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, authorized: () => authorized, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(BACKENDS)('repository mirroring on %s', (backend) => {
  let c: TestCoordinator;
  /** One with a 2 s deadline, for the deadline test (a real clone may take longer on a loaded machine). */
  let hasty: TestCoordinator;
  let admin: AdminApi;
  let workDir: string;
  let sourceDir: string;
  const serverLog: string[] = [];

  beforeAll(async () => {
    c = await startTestCoordinator(backend, {}, { logger: createLogger({ level: 'debug', name: 'coordinator', write: (line) => serverLog.push(line) }) });
    hasty = await startTestCoordinator(backend, { COORDINATOR_MIRROR_TIMEOUT: '2s' });
    admin = new AdminApi(c.url, c.adminToken);
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'repository-mirroring-'));
    sourceDir = (await createSourceRepository(path.join(workDir, 'source'), [{ message: 'first', files: { 'a.txt': 'a\n' } }])).path;
  });
  afterAll(async () => {
    await c?.stop();
    await hasty?.stop();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  const register = (name: string, url: string, signal = AbortSignal.timeout(30_000), on = c) =>
    fetch(`${on.url}/api/v1/repositories`, { method: 'POST', headers: { authorization: `Bearer ${on.adminToken}` }, body: JSON.stringify({ name, url }), signal });

  it('refuses git transport helpers and other schemes with a 400 naming the URL, starting no git', async () => {
    for (const url of ['fd::17', 'ext::sh -c touch% /tmp/pwned', 'fd::0,1', 'ftp://127.0.0.1/x.git', 'x::whatever']) {
      const res = await register('github.com/acme/helper', url, AbortSignal.timeout(10_000));
      expect(res.status, url).toBe(400);
      const body = (await res.json()) as { field: string; error: string };
      expect(body.field, url).toBe('url');
      expect(body.error, url).toMatch(/not allowed/);
    }
    expect(await processesMentioning(path.join(c.dataDir, 'repositories'))).toEqual([]);
    expect(await fs.readdir(path.join(c.dataDir, 'repositories'))).toEqual([]);
  });

  it('kills git and its helpers at COORDINATOR_MIRROR_TIMEOUT, answering 502 with the reason', async () => {
    const silent = await silentServer();
    try {
      const res = await register('github.com/acme/silent', `http://127.0.0.1:${silent.port}/repo.git`, AbortSignal.timeout(30_000), hasty);
      expect(res.status).toBe(502);
      const body = (await res.json()) as { field: string; error: string };
      expect(body).toMatchObject({ field: 'url', error: expect.stringMatching(/did not finish within 2s/) });
      expect(silent.connections()).toBeGreaterThan(0);
      // git, and git-remote-http with the URL on its command line, are gone with the answer.
      expect(await processesMentioning(`127.0.0.1:${silent.port}`)).toEqual([]);
      expect(await fs.readdir(path.join(hasty.dataDir, 'repositories'))).toEqual(['github.com']);
      expect((await new AdminApi(hasty.url, hasty.adminToken).get('/api/v1/repositories')).json.repositories).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  it('kills git when the client that asked for the mirror goes away', async () => {
    const silent = await silentServer();
    try {
      const abort = new AbortController();
      const asked = fetch(`${c.url}/api/v1/repositories`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.adminToken}` },
        body: JSON.stringify({ name: 'github.com/acme/abandoned', url: `http://127.0.0.1:${silent.port}/repo.git` }),
        signal: abort.signal,
      }).catch((err: unknown) => err);
      // Once git is talking to the silent server, the client gives up.
      const deadline = Date.now() + 20_000;
      while (silent.connections() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(silent.connections()).toBeGreaterThan(0);
      expect(await processesMentioning(`127.0.0.1:${silent.port}`)).not.toEqual([]);
      abort.abort();
      await asked;
      // The default deadline is 10 minutes: only the abort can end git this soon.
      expect(await waitForNoProcess(`127.0.0.1:${silent.port}`, 15_000)).toEqual([]);
    } finally {
      await silent.close();
    }
  });

  it("answers 502 with git's reason for a remote that fails, and 400 for a source that is not a repository or not a URL", async () => {
    const notFound = http.createServer((_req, res) => res.writeHead(404).end('nothing here\n'));
    await new Promise<void>((resolve) => notFound.listen(0, '127.0.0.1', resolve));
    try {
      const port = (notFound.address() as net.AddressInfo).port;
      const res = await register('github.com/acme/gone', `http://127.0.0.1:${port}/gone.git`);
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ field: 'url', error: expect.stringMatching(/git clone --mirror exited with 128: .*not found/s) });
    } finally {
      await new Promise<void>((r) => notFound.close(() => r()));
    }
    for (const url of ['http://[::1', path.join(workDir, 'no-such-directory'), 'https://', 'ssh://user:password@example.com/x.git']) {
      const res = await register('github.com/acme/bad', url);
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { field: string }).field, url).toBe('url');
    }
    expect(serverLog.filter((line) => line.includes('ERROR'))).toEqual([]);
  });

  it("keeps a URL's credential out of answers, plain columns, the mirror's config and the log, and still mirrors with it", async () => {
    const bareDir = path.join(workDir, 'private.git');
    await run('git', ['clone', '-q', '--bare', sourceDir, bareDir]);
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const git = await authenticatedGitServer(bareDir, 'mirror-bot', password);
    try {
      const name = `github.com/acme/private-${backend}`;
      const url = `http://mirror-bot:${password}@127.0.0.1:${git.port}/private.git`;
      const res = await register(name, url);
      const body = (await res.json()) as { url: string };
      expect(res.status, JSON.stringify(body)).toBe(201);
      expect(git.authorized()).toBeGreaterThan(0);
      expect(body.url).toBe(`http://REDACTED@127.0.0.1:${git.port}/private.git`);
      const listed = JSON.stringify((await admin.get('/api/v1/repositories')).json);
      expect(listed).toContain('REDACTED@');
      expect(listed).not.toContain(password);

      // Stored encrypted: no plain column holds it, and it decrypts to what was given.
      const rows = await c.database.db.query<{ row: string }>(`SELECT r::text AS row FROM repositories r WHERE name = $1`, [name]);
      expect(rows[0]!.row).not.toContain(password);
      expect(rows[0]!.row).not.toContain(Buffer.from(password).toString('hex'));
      expect(await c.services.repositories.credential(name)).toEqual({ username: 'mirror-bot', password });
      const mirrorConfig = await fs.readFile(path.join(c.dataDir, 'repositories', `${name}.git`, 'config'), 'utf8');
      expect(mirrorConfig).toContain(`http://127.0.0.1:${git.port}/private.git`);
      expect(mirrorConfig).not.toContain(password);

      // A refresh (the repository exists) fetches with the credential again.
      const before = git.authorized();
      const again = await register(name, url);
      expect(again.status).toBe(200);
      expect(git.authorized()).toBeGreaterThan(before);
      expect(serverLog.join('\n')).not.toContain(password);
    } finally {
      await git.close();
    }
  });
});
