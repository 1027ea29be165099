// Tests for the read-only smart-HTTP git server: the real `git` client against the real `git http-backend`
// over loopback HTTP, plus stand-in CGI scripts for failures the real one cannot be made to produce.

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { parseCgiHeaders, serveGitUploadPack, type ServeGitUploadPackOptions } from './git-http-backend.js';
import { mirrorRepository, repositoryDirFor } from './repository-mirror.js';

const execFileAsync = promisify(execFile);
const NAME = 'github.com/foo/bar';

let workDir: string;
let repositoriesDir: string;
let mirrorDir: string;
let server: http.Server;
let baseUrl: string;
let repoUrl: string;
let firstCommit: string;
let secondCommit: string;
/** Per-test changes to what the server passes to serveGitUploadPack. */
let overrides: Partial<ServeGitUploadPackOptions> = {};
let served: Promise<void>[] = [];
let logLines: string[] = [];
const logger = createLogger({ level: 'debug', write: (line) => logLines.push(line) });

// Isolated from the machine's git config; a fixed identity so commits need no setup.
function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: workDir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  };
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env: gitEnv() });
  return stdout.trim();
}

/** Runs git expecting failure; returns its stderr. */
async function gitFails(cwd: string, ...args: string[]): Promise<string> {
  try {
    await execFileAsync('git', args, { cwd, env: gitEnv() });
  } catch (err) {
    return String((err as { stderr?: unknown }).stderr);
  }
  return expect.fail(`git ${args.join(' ')} succeeded`);
}

async function emptyRepository(name: string): Promise<string> {
  const dir = path.join(workDir, name);
  await execFileAsync('git', ['init', '-q', '-b', 'main', dir], { env: gitEnv() });
  return dir;
}

async function fakeGit(name: string, script: string): Promise<string> {
  const file = path.join(workDir, name);
  await writeFile(file, `#!/bin/sh\n${script}\n`);
  await chmod(file, 0o755);
  return file;
}

/** True while `pid` runs; a zombie (exited, not yet reaped by init) counts as gone. */
async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'git-http-backend-test-'));
  repositoriesDir = path.join(workDir, 'repositories');
  const source = await emptyRepository('source');
  await writeFile(path.join(source, 'a.txt'), 'first file\n');
  await git(source, 'add', 'a.txt');
  await git(source, 'commit', '-q', '-m', 'first');
  firstCommit = await git(source, 'rev-parse', 'HEAD');
  await git(source, 'tag', '-a', 'v1', '-m', 'version 1');
  await writeFile(path.join(source, 'b.txt'), 'second file\n');
  await git(source, 'add', 'b.txt');
  await git(source, 'commit', '-q', '-m', 'second');
  secondCommit = await git(source, 'rev-parse', 'HEAD');
  ({ repositoryDir: mirrorDir } = await mirrorRepository({ repositoriesDir, name: NAME, sourceUrl: source, logger }));

  // The router the coordinator will have, reduced to the paths git uses.
  server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const match = /^\/(.+)\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(pathname);
    if (match === null || match[2] === 'git-receive-pack') {
      res.writeHead(match === null ? 404 : 403).end();
      return;
    }
    const repositoryDir = repositoryDirFor(repositoriesDir, match[1]!);
    const service = match[2] as 'info/refs' | 'git-upload-pack';
    served.push(serveGitUploadPack(req, res, { repositoryDir, service, logger, ...overrides }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  repoUrl = `${baseUrl}/${NAME}`;
});

afterEach(async () => {
  await Promise.all(served);
  overrides = {};
  served = [];
  logLines = [];
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(workDir, { recursive: true, force: true });
});

describe('serveGitUploadPack with the real git client', () => {
  it.each(['0', '2'])('clones every commit and tag over protocol v%s', async (version) => {
    const dest = path.join(workDir, `clone-v${version}`);
    await git(workDir, '-c', `protocol.version=${version}`, 'clone', '-q', repoUrl, dest);
    expect(await git(dest, 'rev-parse', 'HEAD', 'v1^{commit}')).toBe(`${secondCommit}\n${firstCommit}`);
    expect(await readFile(path.join(dest, 'b.txt'), 'utf8')).toBe('second file\n');
  });

  it.each(['0', '2'])('fetches a commit that is no ref tip by its bare sha, shallow, over protocol v%s', async (version) => {
    // Over v0 this is what uploadpack.allowAnySHA1InWant permits; jobs check out a sha this way.
    const repo = await emptyRepository(`sha-fetch-v${version}`);
    await git(repo, 'remote', 'add', 'origin', repoUrl);
    await git(repo, '-c', `protocol.version=${version}`, 'fetch', '-q', '--depth=1', 'origin', firstCommit);
    expect(await git(repo, 'rev-parse', 'FETCH_HEAD')).toBe(firstCommit);
    expect(await git(repo, 'cat-file', '-p', `${firstCommit}:a.txt`)).toBe('first file');
    expect(await readFile(path.join(repo, '.git', 'shallow'), 'utf8')).toBe(`${firstCommit}\n`);
  });

  it('serves a partial clone with --filter=blob:none, leaving blobs on the server', async () => {
    // Without uploadpack.allowFilter the server ignores the filter and sends every blob.
    const dest = path.join(workDir, 'partial');
    await git(workDir, 'clone', '-q', '--filter=blob:none', '--no-checkout', repoUrl, dest);
    expect(await git(dest, 'config', 'remote.origin.promisor')).toBe('true');
    const objects = (await git(dest, 'rev-list', '--objects', '--missing=print', '--all')).split('\n');
    const missing = objects.filter((line) => line.startsWith('?'));
    expect(missing.length).toBe(2); // a.txt and b.txt
    expect(objects).toContain(firstCommit);
  });

  it('refuses git push with 403 and leaves the repository as it was', async () => {
    const clone = path.join(workDir, 'push-clone');
    await git(workDir, 'clone', '-q', repoUrl, clone);
    await git(clone, 'commit', '-q', '--allow-empty', '-m', 'pushed');
    const stderr = await gitFails(clone, 'push', 'origin', 'HEAD:refs/heads/pushed');
    expect(stderr).toMatch(/403/);
    expect(await git(mirrorDir, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main\nrefs/tags/v1');
  });
});

describe('serveGitUploadPack over plain HTTP', () => {
  it.each([
    ['GET', '/info/refs?service=git-receive-pack', /git-upload-pack/],
    ['GET', '/info/refs', /read-only/], // dumb HTTP
    ['POST', '/info/refs?service=git-upload-pack', /GET only/],
    ['GET', '/git-upload-pack', /POST only/],
    ['POST', '/git-upload-pack?service=git-receive-pack', /only git-upload-pack/],
  ])('refuses %s %s with 403 and a plain-text reason', async (method, suffix, reason) => {
    overrides = { gitBinary: path.join(workDir, 'never-run') }; // would be a 500 if it were spawned
    const res = await fetch(`${repoUrl}${suffix}`, { method, ...(method === 'POST' ? { body: '0000' } : {}) });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(reason);
  });

  it('advertises refs for protocol v0, and capabilities for v2 when the Git-Protocol header asks', async () => {
    const v0 = await fetch(`${repoUrl}/info/refs?service=git-upload-pack`);
    expect(v0.status).toBe(200);
    expect(v0.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect(v0.headers.get('cache-control')).toMatch(/no-cache/);
    const v0Body = await v0.text();
    expect(v0Body).toMatch(/^001e# service=git-upload-pack\n0000/);
    expect(v0Body).toContain(`${secondCommit} refs/heads/main`);

    const v2 = await fetch(`${repoUrl}/info/refs?service=git-upload-pack`, { headers: { 'Git-Protocol': 'version=2' } });
    const v2Body = await v2.text();
    expect(v2Body).toContain('000eversion 2\n');
    expect(v2Body).toContain('fetch=');
  });

  it('answers a gzip-compressed protocol v2 ls-refs request', async () => {
    const request = gzipSync(Buffer.from('0014command=ls-refs\n0001' + '0009peel\n' + '0000'));
    const res = await fetch(`${repoUrl}/git-upload-pack`, {
      method: 'POST',
      body: request,
      headers: {
        'Content-Type': 'application/x-git-upload-pack-request',
        'Content-Encoding': 'gzip',
        'Git-Protocol': 'version=2',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
    const body = await res.text();
    expect(body).toContain(`${secondCommit} refs/heads/main\n`);
    expect(body).toContain(`refs/tags/v1 peeled:${firstCommit}\n`);
  });

  it('passes on http-backend’s 404 for a repository that does not exist', async () => {
    const res = await fetch(`${baseUrl}/github.com/foo/missing/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  });
});

describe('serveGitUploadPack with a stand-in CGI', () => {
  it('accepts LF-only CGI headers, repeated headers and a Status line, and streams a large body', async () => {
    overrides = {
      gitBinary: await fakeGit(
        'lf-headers',
        `printf 'Status: 201 Created\\nX-Test: one\\nX-Test: two\\nContent-Type: application/octet-stream\\n\\n'\nhead -c 5000000 /dev/zero`,
      ),
    };
    const res = await fetch(`${repoUrl}/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Created');
    expect(res.headers.get('x-test')).toBe('one, two');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect((await res.arrayBuffer()).byteLength).toBe(5_000_000);
  });

  it('answers 500 and logs stderr when the CGI fails before its headers', async () => {
    overrides = { gitBinary: await fakeGit('fails', "echo 'fatal: something broke' >&2\nexit 3") };
    const res = await fetch(`${repoUrl}/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('git http-backend failed\n');
    await Promise.all(served);
    const logged = logLines.find((line) => line.includes('failed before sending headers'));
    expect(logged).toContain('fatal: something broke');
    expect(logged).toContain('exitCode=3');
  });

  it('answers 500 when git cannot be started at all', async () => {
    overrides = { gitBinary: path.join(workDir, 'no-such-git') };
    const res = await fetch(`${repoUrl}/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(500);
    await res.arrayBuffer();
  });

  it('aborts the response when the CGI fails after its headers, so a short body is not taken as whole', async () => {
    overrides = { gitBinary: await fakeGit('dies', "printf 'Content-Type: text/plain\\r\\n\\r\\npartial'\nexit 1") };
    const res = await fetch(`${repoUrl}/info/refs?service=git-upload-pack`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('kills the CGI and its children when the client disconnects, then resolves', async () => {
    const pidFile = path.join(workDir, 'pids');
    overrides = {
      gitBinary: await fakeGit(
        'hangs',
        `sleep 600 &\necho "$$ $!" > '${pidFile}'\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstarted'\nexec sleep 600`,
      ),
    };
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${repoUrl}/info/refs?service=git-upload-pack`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.once('error', reject);
    });
    const pids = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number);
    expect(pids).toHaveLength(2);
    await Promise.all(served);
    for (const pid of pids) {
      await expect.poll(() => isAlive(pid), { timeout: 5000 }).toBe(false);
    }
  });
});

describe('parseCgiHeaders', () => {
  it('waits for the blank line, then splits headers from the start of the body', () => {
    expect(parseCgiHeaders(Buffer.from('Content-Type: text/plain\r\nExpires: never\r\n'))).toBeNull();
    const parsed = parseCgiHeaders(Buffer.from('Content-Type: text/plain\r\n\r\nbody\r\n\r\nmore'));
    expect(parsed).toEqual({ status: 200, statusMessage: undefined, headers: { 'content-type': 'text/plain' }, body: Buffer.from('body\r\n\r\nmore') });
    expect(parseCgiHeaders(Buffer.from('Status: 404\n\n'))).toMatchObject({ status: 404, statusMessage: undefined });
  });
});
