// `executor test-vm` with real QEMU under TCG (EXECUTOR_VM_ALLOW_EMULATION=true: KVM guests hang on these
// machines): the VM outlives the command, its console socket answers shell commands, the workspace disk is at
// /work (empty, or a repository cloned through a real coordinator), and `--remove` stops QEMU and deletes it.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApi } from '../../../test/helpers/api-client.js';
import { createSourceRepository } from '../../../test/helpers/source-repository.js';
import { startTestCoordinator, type TestCoordinator } from '../../../test/helpers/test-coordinator.js';
import { runExecutorCli } from '../main.js';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runExecutorCli(args, env, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/**
 * Whether `pid` runs. A zombie does not: QEMU started by the command in this test process stays one until
 * this process reaps it, which on a loaded machine can come after `--remove` returned.
 */
function isAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** Sends `input` on the VM's console and resolves with what came back once `expected` shows up. */
async function consoleExchange(socketPath: string, input: string, expected: RegExp, timeoutMs = 20_000): Promise<string> {
  const socket = net.connect(socketPath);
  let received = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${String(expected)} on the console within ${timeoutMs} ms; got ${JSON.stringify(received)}`)), timeoutMs);
      socket.once('error', reject);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        received += chunk;
        if (expected.test(received)) {
          clearTimeout(timer);
          resolve(received);
        }
      });
      socket.once('connect', () => socket.write(input));
    });
  } finally {
    socket.destroy();
  }
}

describe('executor test-vm (QEMU, TCG)', () => {
  let tmp: string;
  let parentDir: string;
  /** QEMU pids started here: killed in afterAll whatever happened. */
  const started: number[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tvm-'));
    parentDir = path.join(tmp, 'w');
    await fs.mkdir(parentDir);
    env = {
      PATH: process.env.PATH ?? '',
      TMPDIR: parentDir,
      EXECUTOR_VM_CACHE_DIR: path.join(tmp, 'cache'),
      EXECUTOR_VM_ALLOW_EMULATION: 'true',
      EXECUTOR_JOB_NUM_CPUS: '1',
      EXECUTOR_JOB_MEMORY: '256M',
      EXECUTOR_FIRECRACKER_DISK_SPACE: '64M',
    };
  });
  afterAll(async () => {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already (removed by the test).
      }
    }
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  /** Runs test-vm and returns what it printed about the VM. */
  async function bootTestVm(args: string[] = [], extraEnv: Record<string, string> = {}) {
    const { code, out, err } = await cli(['test-vm', ...args], { ...env, ...extraEnv });
    const name = /^(executor-test-vm-[0-9a-f]{8}) is running \(QEMU pid (\d+);/m.exec(out);
    if (name) started.push(Number(name[2]));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(name, out).not.toBeNull();
    const socketPath = /^ {2}socat -,raw,echo=0,escape=0x1d UNIX-CONNECT:(\S+)$/m.exec(out)?.[1];
    expect(socketPath, out).toBeDefined();
    return { out, name: name![1]!, pid: Number(name![2]), socketPath: socketPath!, runDir: path.join(parentDir, name![1]!) };
  }

  it('boots a VM that outlives the command, answers on its console socket, and --remove stops and deletes it', async () => {
    const vm = await bootTestVm();
    expect(vm.out).toContain(`kill ${vm.pid} && rm -rf ${vm.runDir}`);
    expect(vm.out).toContain(`executor test-vm --remove ${vm.name}`);
    // It says where the jobs' snapshot stands (none yet in this fresh cache directory).
    expect(vm.out).toMatch(/^snapshot for jobs' guests: none yet for this configuration \([0-9a-f]{16}\): `executor run` builds it in the background at start/m);
    expect(vm.socketPath).toBe(path.join(vm.runDir, 'console.sock'));
    // Not executor-vm-*: the janitor leaves it alone; private to this user.
    expect(((await fs.stat(vm.runDir)).mode & 0o777).toString(8)).toBe('700');
    expect(isAlive(vm.pid)).toBe(true);

    const reply = await consoleExchange(vm.socketPath, 'echo hi-$((1+1)); grep -c " /work ext4 rw" /proc/mounts\n', /hi-2\r?\n1\r?\n/);
    expect(reply).toContain('hi-2');
    // A second attach finds the shell again (the first one left it running).
    expect(await consoleExchange(vm.socketPath, 'echo again-$((20+1))\n', /again-21/)).toContain('again-21');

    const removed = await cli(['test-vm', '--remove', vm.name], env);
    expect(removed.err).toBe('');
    expect(removed.out).toBe(`stopped QEMU (pid ${vm.pid}) and removed ${vm.runDir}\n`);
    expect(removed.code).toBe(0);
    expect(isAlive(vm.pid)).toBe(false);
    await expect(fs.stat(vm.runDir)).rejects.toThrow(/ENOENT/);
  });

  it('--name-only prints just the name', async () => {
    const { code, out } = await cli(['test-vm', '--name-only'], env);
    expect(code).toBe(0);
    expect(out).toMatch(/^executor-test-vm-[0-9a-f]{8}\n$/);
    const name = out.trim();
    const pid = Number((await fs.readFile(path.join(parentDir, name, 'qemu.pid'), 'utf8')).trim());
    started.push(pid);
    expect(isAlive(pid)).toBe(true);
    expect((await cli(['test-vm', '--remove', name], env)).code).toBe(0);
    expect(isAlive(pid)).toBe(false);
  });

  it('--remove refuses names that are not test VMs and leaves other directories alone', async () => {
    await fs.mkdir(path.join(parentDir, 'executor-vm-1-abc'));
    for (const bad of ['executor-vm-1-abc', '../w', 'executor-test-vm-../../x']) {
      const { code, err } = await cli(['test-vm', '--remove', bad], env);
      expect(err).toContain('is not a test VM name');
      expect(code).toBe(1);
    }
    expect((await cli(['test-vm', '--remove', 'executor-test-vm-00000000'], env)).err).toContain('no test VM executor-test-vm-00000000');
    await fs.stat(path.join(parentDir, 'executor-vm-1-abc'));
  });

  it('refuses without KVM unless emulation is allowed, and bad usage', async () => {
    const refused = await cli(['test-vm'], { ...env, EXECUTOR_VM_ALLOW_EMULATION: 'false' });
    // Where KVM works this boots instead; these machines have none that runs a guest.
    if (refused.code === 0) started.push(Number(/QEMU pid (\d+)/.exec(refused.out)![1]));
    else expect(refused.err).toContain('EXECUTOR_VM_ALLOW_EMULATION=true');
    expect((await cli(['test-vm', '--repo', 'x'], env)).err).toContain('--repo and --revision go together');
    expect((await cli(['test-vm', '--bogus'], env)).code).toBe(2);
  });

  describe('with --repo (a real coordinator)', () => {
    let c: TestCoordinator;
    let commit: string;

    beforeAll(async () => {
      c = await startTestCoordinator('pglite');
      const source = await createSourceRepository(path.join(tmp, 'source'), [{ message: 'first', files: { 'README.md': 'hello from the repository\n' } }]);
      commit = source.commits[0]!;
      const res = await new AdminApi(c.url, c.adminToken).post('/api/v1/repositories', { name: 'github.com/acme/app', url: source.path });
      expect(res.status, res.text).toBe(201);
    });
    afterAll(async () => {
      await c?.stop();
    });

    it('clones the repository at the revision onto the workspace disk at /work', async () => {
      const vm = await bootTestVm(['--repo', 'github.com/acme/app', '--revision', commit], {
        EXECUTOR_FRONTEND_URL: c.url,
        EXECUTOR_FRONTEND_PASSWORD: c.executorToken,
        EXECUTOR_QUEUE_NAME: 'batches',
      });
      expect(vm.out).toContain(`cloning github.com/acme/app at ${commit}`);
      const reply = await consoleExchange(vm.socketPath, 'cat /work/README.md; cd /work && git rev-parse HEAD 2>/dev/null || cat .git/HEAD\n', new RegExp(commit));
      expect(reply).toContain('hello from the repository');
      // The host-side workspace was only needed to build the disk.
      expect((await fs.readdir(parentDir)).filter((n) => n.startsWith('workspace-'))).toEqual([]);
      expect((await cli(['test-vm', '--remove', vm.name], env)).code).toBe(0);
    });
  });
});
