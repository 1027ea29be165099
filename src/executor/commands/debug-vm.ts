// A VM that outlives the command that started it, for debugging (reference §5.3, `executor test-vm`): QEMU
// detached in a run directory `executor-test-vm-<id>` (a prefix the janitor never touches), the guest's
// `/init` in debug mode (a root shell on the serial console, the workspace disk at /work), and the serial
// console on a unix socket that `socat` attaches a terminal to. Removing one checks, before killing, that
// the pid is still that VM's QEMU.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { GuestPlatform } from '../runtimes/vm/guest/guest-platform.js';
import { CMDLINE_NONCE, INIT_ERROR_MARKER } from '../runtimes/vm/guest/guest-markers.js';
import { CMDLINE_DEBUG, CMDLINE_WORK, DEBUG_SHELL_MARKER } from '../runtimes/vm/guest/initramfs.js';
import { BASE_KERNEL_ARGS, checkSocketPath, microvmArgs, qemuOptionValue, TCG_KERNEL_ARGS, virtioDiskArgs } from '../runtimes/vm/guest/qemu-vm.js';
import { QEMU_PID_FILE } from '../runtimes/vm/vm-janitor.js';

/** Test VMs' names and run directories; unlike `executor-vm-` the janitor leaves them alone. */
export const TEST_VM_PREFIX = 'executor-test-vm-';
const TEST_VM_NAME = /^executor-test-vm-[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** In the run directory: the serial console (QEMU listens), everything the guest printed, QEMU's own output. */
export const CONSOLE_SOCKET = 'console.sock';
export const CONSOLE_LOG = 'console.log';
const QEMU_LOG = 'qemu.log';

export interface StartDebugVmOptions {
  platform: Pick<GuestPlatform, 'kernel' | 'initramfsPath' | 'accel' | 'qemuPath'>;
  /** `executor-test-vm-<id>`: QEMU's `-name`. */
  name: string;
  /** The VM's private directory (0700), made by the caller; it holds the console socket, the logs and the pid file. */
  runDir: string;
  /** An ext4 image mounted read-write at /work; none: the shell starts in `/`. */
  workspaceDisk?: string;
  memoryMiB: number;
  cpus: number;
  /** From QEMU's start to the guest's shell banner; past it QEMU is killed and this fails with `vm.boot_timeout`. */
  bootTimeoutMs: number;
}

export interface DebugVm {
  name: string;
  runDir: string;
  /** QEMU's pid; it is not a child this process waits for. */
  pid: number;
  consoleSocket: string;
  consoleLog: string;
  bootToReadyMs: number;
}

/** QEMU's argv without the binary. */
export function debugVmArgs(options: StartDebugVmOptions, nonce: string): string[] {
  const append = [
    ...BASE_KERNEL_ARGS,
    ...(options.platform.accel === 'tcg' ? TCG_KERNEL_ARGS : []),
    ...(options.workspaceDisk ? [`${CMDLINE_WORK}=vda`] : []),
    `${CMDLINE_DEBUG}=1`,
    `${CMDLINE_NONCE}=${nonce}`,
  ].join(' ');
  const q = qemuOptionValue;
  return [
    ...microvmArgs({ ...options, accel: options.platform.accel }),
    // A server socket that does not wait for a client: the guest runs whether or not a terminal is attached,
    // and what it prints while none is goes to the log file only.
    '-chardev',
    `socket,id=console,path=${q(path.join(options.runDir, CONSOLE_SOCKET))},server=on,wait=off,logfile=${q(path.join(options.runDir, CONSOLE_LOG))}`,
    '-serial',
    'chardev:console',
    '-no-reboot',
    '-pidfile',
    path.join(options.runDir, QEMU_PID_FILE),
    '-kernel',
    options.platform.kernel.kernelPath,
    '-initrd',
    options.platform.initramfsPath,
    '-append',
    append,
    ...(options.workspaceDisk ? virtioDiskArgs('work', options.workspaceDisk) : []),
  ];
}

/**
 * Starts QEMU detached (its own session, output to files, not waited for, no pdeathsig: it must outlive
 * this process) and resolves once the guest's shell is up. Rejects with `vm.socket_path_too_long`,
 * `vm.qemu_not_started`, `vm.guest_failed` or `vm.boot_timeout`; QEMU is killed then.
 */
export async function startDebugVm(options: StartDebugVmOptions): Promise<DebugVm> {
  const consoleSocket = path.join(options.runDir, CONSOLE_SOCKET);
  checkSocketPath(consoleSocket);
  const nonce = crypto.randomBytes(8).toString('hex');
  const log = await fs.open(path.join(options.runDir, QEMU_LOG), 'a', 0o600);
  const startedAt = performance.now();
  let pid: number | undefined;
  try {
    const child = spawn(options.platform.qemuPath, debugVmArgs(options, nonce), { detached: true, stdio: ['ignore', log.fd, log.fd] });
    let exited: string | undefined;
    child.once('exit', (code, sig) => (exited = sig ?? `exit code ${code}`));
    pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) => reject(new AppError('vm.qemu_not_started', `cannot start ${options.platform.qemuPath}: ${err.message}`, { cause: err })));
    });
    child.unref();
    await waitForBanner(consoleSocket, nonce, options, () => exited);
    return { name: options.name, runDir: options.runDir, pid, consoleSocket, consoleLog: path.join(options.runDir, CONSOLE_LOG), bootToReadyMs: performance.now() - startedAt };
  } catch (err) {
    if (pid !== undefined) await killAndWait(pid);
    if (err instanceof AppError && err.code !== 'vm.qemu_not_started') {
      const qemuLog = (await fs.readFile(path.join(options.runDir, QEMU_LOG), 'utf8').catch(() => '')).trim();
      const consoleTail = (await fs.readFile(path.join(options.runDir, CONSOLE_LOG), 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
      throw new AppError(err.code, `${err.message}${qemuLog ? `\nQEMU:\n${qemuLog}` : ''}${consoleTail ? `\nlast console lines:\n${consoleTail}` : ''}`, { cause: err });
    }
    throw err;
  } finally {
    await log.close();
  }
}

/** Connects to the console (retrying until QEMU listens) and reads until the banner or an init error. */
async function waitForBanner(socketPath: string, nonce: string, options: StartDebugVmOptions, exited: () => string | undefined): Promise<void> {
  const deadline = performance.now() + options.bootTimeoutMs;
  const timedOut = () => new AppError('vm.boot_timeout', `the test VM's shell did not start within ${options.bootTimeoutMs} ms (accelerator ${options.platform.accel})`);
  const died = (why: string) => new AppError('vm.guest_failed', `QEMU ended (${why}) before the guest's shell started`);
  let socket: net.Socket | undefined;
  while (!socket) {
    const why = exited();
    if (why) throw died(why);
    if (performance.now() > deadline) throw timedOut();
    socket = await new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect(socketPath, () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (!socket) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const connected = socket;
  try {
    await new Promise<void>((resolve, reject) => {
      let pending = '';
      const timer = setTimeout(() => reject(timedOut()), Math.max(0, deadline - performance.now()));
      const poll = setInterval(() => {
        const why = exited();
        if (why) reject(died(why));
      }, 100);
      const done = (fn: () => void) => {
        clearTimeout(timer);
        clearInterval(poll);
        fn();
      };
      connected.setEncoding('utf8');
      connected.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.replace(/\r$/, '');
          if (line === `${DEBUG_SHELL_MARKER} ${nonce}`) return done(resolve);
          if (line.startsWith(`${INIT_ERROR_MARKER} ${nonce} `)) {
            return done(() => reject(new AppError('vm.guest_failed', `guest init: ${line.slice(INIT_ERROR_MARKER.length + nonce.length + 2)}`)));
          }
        }
        if (pending.length > 4096) pending = pending.slice(-4096);
      });
      connected.once('close', () => done(() => reject(died(exited() ?? 'the console closed'))));
      connected.once('error', () => {});
    });
  } finally {
    connected.destroy();
  }
}

export interface RemoveDebugVmResult {
  runDir: string;
  /** QEMU's pid when it was running and was stopped. */
  killedPid?: number;
}

/**
 * Stops the test VM `name` under `parentDir` and deletes its run directory. Only a directory named
 * `executor-test-vm-*` (not a symlink) is touched, and the pid in its pid file is signalled only while that
 * process's command line names the directory (pids are reused). Throws `vm.test_vm_name_invalid` and
 * `vm.test_vm_not_found`.
 */
export async function removeDebugVm(parentDir: string, name: string): Promise<RemoveDebugVmResult> {
  if (!TEST_VM_NAME.test(name)) {
    throw new AppError('vm.test_vm_name_invalid', `${JSON.stringify(name)} is not a test VM name: expected ${TEST_VM_PREFIX}<id>, as \`executor test-vm\` printed it`);
  }
  const runDir = path.join(parentDir, name);
  const st = await fs.lstat(runDir).catch(() => undefined);
  if (!st?.isDirectory()) throw new AppError('vm.test_vm_not_found', `no test VM ${name}: ${runDir} is not a directory`);
  const result: RemoveDebugVmResult = { runDir };
  const pid = Number((await fs.readFile(path.join(runDir, QEMU_PID_FILE), 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 1 && (await commandLineNames(pid, runDir))) {
    await killAndWait(pid);
    result.killedPid = pid;
  }
  await fs.rm(runDir, { recursive: true, force: true });
  return result;
}

async function commandLineNames(pid: number, dir: string): Promise<boolean> {
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').some((arg) => arg.includes(`${dir}/`));
}

/** SIGTERM, up to 2 s, then SIGKILL; resolves once the process is gone (or after 2 s more). */
async function killAndWait(pid: number): Promise<void> {
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(pid, sig);
    } catch {
      return;
    }
    for (let waitedMs = 0; waitedMs < 2_000; waitedMs += 20) {
      if (!(await isAlive(pid))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A zombie (exited, not yet reaped by its parent) counts as gone: it holds no files open. */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return false;
  // The state follows the parenthesised command name, which may itself hold ") ".
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
