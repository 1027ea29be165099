// The coordinator under the ways people start and stop it: a busy port is one line naming the address
// and COORDINATOR_ADDR (nothing created first); `npm start` under a supervisor stops the coordinator
// when it is sent SIGTERM; a second `npm start` on a running data directory refuses before it builds.
// `npm start` runs in a copy of the repository (its `.data/` is the copy's), on a free port.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COORDINATOR_BIN } from '../helpers/coordinator-process.js';
import { waitFor } from '../helpers/executor-process.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A process and everything it printed. */
function started(child: ChildProcess): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('the coordinator\'s start and stop', () => {
  let work: string;
  const children: ChildProcess[] = [];
  const pids: number[] = [];

  beforeAll(async () => {
    work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'executors-lifecycle-')));
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await fs.rm(work, { recursive: true, force: true });
  });

  it('refuses a busy port with one line naming the address and COORDINATOR_ADDR, before creating anything', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    const dataDir = path.join(work, 'busy-port-data');
    try {
      const result = await run(COORDINATOR_BIN, ['serve'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, COORDINATOR_ADDR: `127.0.0.1:${port}`, COORDINATOR_DATA_DIR: dataDir },
        timeout: 60_000,
      }).then(
        (ok) => ({ code: 0, stderr: ok.stderr }),
        (err: { code: number; stderr: string }) => err,
      );
      expect(result.code).toBe(1);
      const lines = result.stderr.split('\n').filter(Boolean);
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`cannot listen on 127.0.0.1:${port} (COORDINATOR_ADDR): the address is already in use`);
      expect(lines[0]).toContain('set COORDINATOR_ADDR to a free host:port');
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // No data directory, no database, no key file: nothing was created for a coordinator that cannot listen.
      await expect(fs.stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      holder.close();
    }
  });

  it('under npm start, stops the coordinator on a SIGTERM to npm, and refuses a second npm start before building', { timeout: 300_000 }, async () => {
    // A copy with this checkout's build, sources and timestamps (so neither npm ci nor a build runs).
    const copy = path.join(work, 'repo');
    await fs.mkdir(copy);
    for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts', 'bin', 'src', 'dist']) {
      await fs.cp(path.join(ROOT, entry), path.join(copy, entry), { recursive: true, preserveTimestamps: true });
    }
    await fs.symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    // scripts/ensure-deps.sh runs `npm ci` when package-lock.json is newer than the install: never here.
    const [lock, installed] = await Promise.all([fs.stat(path.join(copy, 'package-lock.json')), fs.stat(path.join(ROOT, 'node_modules/.package-lock.json'))]);
    expect(lock.mtimeMs, 'package-lock.json is newer than node_modules: run npm ci first').toBeLessThanOrEqual(installed.mtimeMs);
    const stamp = path.join(copy, 'dist/.start-build-stamp');
    await fs.writeFile(stamp, '');
    const npmStart = () => {
      const child = spawn('npm', ['start'], { cwd: copy, env: { PATH: process.env.PATH, HOME: process.env.HOME, COORDINATOR_ADDR: '127.0.0.1:0' }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return started(child);
    };

    const first = npmStart();
    await waitFor('npm start to start the coordinator', async () => /coordinator listening url=/.test(first.output()), 120_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}:\n${first.output()}`);
    });
    const coordinatorPid = Number((await fs.readFile(path.join(copy, '.data/coordinator/pglite/coordinator.lock'), 'utf8')).trim());
    pids.push(coordinatorPid);
    expect(alive(coordinatorPid)).toBe(true);

    // A second npm start with a source changed (a build would be due): refused before the build and the tokens.
    const stampBefore = (await fs.stat(stamp)).mtimeMs;
    const later = new Date(Date.now() + 1000);
    await fs.utimes(path.join(copy, 'src/coordinator/main.ts'), later, later);
    const second = npmStart();
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`npm start: a coordinator (pid ${coordinatorPid}) is already running on .data/coordinator: stop it first`);
    expect(second.output()).not.toContain('Admin API token');
    expect((await fs.stat(stamp)).mtimeMs).toBe(stampBefore);
    expect(alive(coordinatorPid)).toBe(true);

    // What a supervisor does: SIGTERM to the process it started, npm.
    first.child.kill('SIGTERM');
    await first.exited;
    await waitFor('the coordinator to stop after npm got SIGTERM', async () => !alive(coordinatorPid), 30_000);
    expect(first.output()).toContain('coordinator stopped');
    // Stopped gracefully: the database was closed and its lock released.
    await expect(fs.stat(path.join(copy, '.data/coordinator/pglite/coordinator.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
