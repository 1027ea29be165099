// Boots one QEMU `microvm` guest (the cloud kernel and this project's initramfs, raw disks as virtio-blk,
// no network), runs one shell command in it and returns its output and exit code, read off the serial console between
// the markers `/init` prints. The caller picks the accelerator: KVM is never swapped for emulation (TCG)
// behind its back. QEMU runs in its own process group and is stopped like a step (SIGTERM, grace, SIGKILL).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { AppError } from '../../../../shared/errors.js';
import type { GuestKernel } from './guest-kernel.js';
import { CMDLINE_NONCE, EXIT_MARKER, INIT_ERROR_MARKER, READY_MARKER } from './guest-markers.js';
import { CMDLINE_COMMAND, CMDLINE_WORK } from './initramfs.js';

export type Accelerator = 'kvm' | 'tcg';

/** The original's ignite kernel arguments (reference §5.3) without `ip=dhcp` (no network yet), plus `quiet`. */
export const BASE_KERNEL_ARGS = [
  'console=ttyS0',
  'reboot=k',
  'panic=1',
  'pci=off',
  'random.trust_cpu=on',
  'i8042.noaux',
  'i8042.nomux',
  'i8042.nopnp',
  'i8042.dumbkbd',
  'quiet',
];

/**
 * Under TCG the guest's TSC calibration against the PIT fails about 1 boot in 4 and the boot hangs; with
 * these the clock is taken as given (ARCHITECTURE.md, "Facts about this machine").
 */
export const TCG_KERNEL_ARGS = ['tsc_early_khz=2000000', 'lpj=4000000', 'tsc=reliable', 'no_timer_check'];

/** x86 COMMAND_LINE_SIZE is 2048 bytes, the terminating NUL included. */
const MAX_KERNEL_CMDLINE = 2047;

export interface GuestDisk {
  /** A raw image (e.g. from `createWorkspaceDisk`). */
  path: string;
  /** The guest can not write it (QEMU opens it read-only). */
  readOnly?: boolean;
}

export interface GuestRunOptions {
  kernel: GuestKernel;
  /** From `ensureInitramfs`. */
  initramfsPath: string;
  accel: Accelerator;
  memoryMiB: number;
  cpus: number;
  /**
   * Attached as virtio-blk in this order, so the guest sees /dev/vda, /dev/vdb, … The first must hold an
   * ext4 file system: `/init` mounts it at /work (read-only for a read-only disk), runs the command there
   * and unmounts it before it reports the exit code. None: the command runs in `/` of the initramfs.
   */
  disks?: GuestDisk[];
  /** A shell script run by busybox `sh` in the guest; it travels base64-encoded on the kernel command line. */
  command: string;
  /** From QEMU's start to the ready marker; past it QEMU is killed and the call fails with `vm.boot_timeout`. */
  bootTimeoutMs: number;
  /** Aborting it kills QEMU; the call then rejects with `signal.reason` once QEMU is gone. */
  signal: AbortSignal;
  /** QEMU's `-name`: shows in `ps`, so a VM can be found by the job it runs. */
  name?: string;
  /** Each line the guest prints between the markers, as it arrives. */
  onOutput?: (line: string) => void;
  /** Called once the guest is ready to run the command, with the boot-to-ready time. */
  onReady?: (bootToReadyMs: number) => void;
  /** After SIGTERM to QEMU, wait this long before SIGKILL, in ms. Default 500. */
  killGraceMs?: number;
  /** After the exit marker, wait this long for QEMU to power off by itself before it is killed, in ms. Default 2 000. */
  powerOffGraceMs?: number;
  /** Default `qemu-system-x86_64` from PATH. */
  qemuBinary?: string;
}

export interface GuestRunResult {
  exitCode: number;
  /** What the command printed (stdout and stderr, merged on the console), `\n`-separated. */
  output: string;
  /** From spawning QEMU to the guest's ready marker. */
  bootToReadyMs: number;
  /** From spawning QEMU to QEMU's exit. */
  totalMs: number;
}

/** The longest unix socket path Linux takes (`sun_path` is 108 bytes, NUL included). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Throws `vm.socket_path_too_long` for a socket path Linux cannot bind, naming the fix. */
export function checkSocketPath(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new AppError('vm.socket_path_too_long', `the VM socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter TMPDIR`);
  }
}

/** A value in QEMU's option syntax, which escapes a comma by doubling it. */
export function qemuOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/**
 * Guest RAM in a file instead of anonymous memory: `shared`, the guest writes the file (a guest booted to be
 * saved); not shared, the file is mapped copy-on-write and never written (each guest restored from it),
 * so all guests restored from one snapshot share its pages in the host's page cache until they write them.
 */
export interface GuestMemoryFile {
  path: string;
  shared: boolean;
}

/**
 * The machine part of every guest's argv: `microvm` with the accelerator, vCPUs and memory, no default
 * devices, no user config, no display. The caller adds the console, kernel and devices.
 */
export function microvmArgs(options: { accel: Accelerator; memoryMiB: number; cpus: number; name?: string; memoryFile?: GuestMemoryFile }): string[] {
  const memory = options.memoryFile;
  return [
    ...(options.name ? ['-name', options.name] : []),
    '-M',
    memory ? 'microvm,memory-backend=ram' : 'microvm',
    ...(memory
      ? ['-object', `memory-backend-file,id=ram,size=${options.memoryMiB}M,mem-path=${qemuOptionValue(memory.path)},share=${memory.shared ? 'on' : 'off'}`]
      : []),
    '-accel',
    options.accel,
    '-cpu',
    'max',
    '-m',
    String(options.memoryMiB),
    '-smp',
    String(options.cpus),
    '-nodefaults',
    '-no-user-config',
    '-nographic',
  ];
}

/** A raw image as a virtio-blk disk: `-drive … -device virtio-blk-device,…` (with a serial number the guest can find it by). */
export function virtioDiskArgs(id: string, file: string, options: { readOnly?: boolean; serial?: string } = {}): string[] {
  return [
    '-drive',
    `file=${qemuOptionValue(file)},format=raw,if=none,id=${id}${options.readOnly ? ',readonly=on' : ''}`,
    '-device',
    `virtio-blk-device,drive=${id}${options.serial ? `,serial=${options.serial}` : ''}`,
  ];
}

/** QEMU's argv (without the binary) for one guest. Exported for diagnostics and tests. */
export function qemuArgs(
  options: Pick<GuestRunOptions, 'kernel' | 'initramfsPath' | 'accel' | 'memoryMiB' | 'cpus' | 'name' | 'disks'>,
  append: string,
): string[] {
  return [
    ...microvmArgs(options),
    '-serial',
    'stdio',
    // A guest panic (init died) reboots per `panic=1`; this turns that into QEMU's exit.
    '-no-reboot',
    '-kernel',
    options.kernel.kernelPath,
    '-initrd',
    options.initramfsPath,
    '-append',
    append,
    ...(options.disks ?? []).flatMap((disk, i) => virtioDiskArgs(`d${i}`, disk.path, { readOnly: disk.readOnly })),
  ];
}

/**
 * Boots a guest, runs `command` in it and resolves once QEMU is gone. Rejects with `vm.boot_timeout` when
 * the guest is not ready within `bootTimeoutMs`, `vm.guest_failed` when QEMU ends without an exit marker
 * (QEMU error, guest init error, kernel panic), `vm.qemu_not_started` when QEMU cannot be spawned,
 * `vm.command_too_long` when the command does not fit on the kernel command line, and `signal.reason` on abort.
 */
export function runInGuest(options: GuestRunOptions): Promise<GuestRunResult> {
  const { signal } = options;
  if (signal.aborted) return Promise.reject(signal.reason);
  const killGraceMs = options.killGraceMs ?? 500;
  const powerOffGraceMs = options.powerOffGraceMs ?? 2_000;
  const nonce = crypto.randomBytes(8).toString('hex');
  const kernelArgs = [...BASE_KERNEL_ARGS, ...(options.accel === 'tcg' ? TCG_KERNEL_ARGS : [])];
  const firstDisk = options.disks?.[0];
  const workArgs = firstDisk ? [`${CMDLINE_WORK}=vda${firstDisk.readOnly ? ':ro' : ''}`] : [];
  const append = [...kernelArgs, ...workArgs, `${CMDLINE_NONCE}=${nonce}`, `${CMDLINE_COMMAND}=${Buffer.from(options.command).toString('base64')}`].join(' ');
  if (append.length > MAX_KERNEL_CMDLINE) {
    return Promise.reject(
      new AppError('vm.command_too_long', `the guest command is ${options.command.length} bytes; it must fit base64-encoded on the kernel command line (${MAX_KERNEL_CMDLINE} bytes)`),
    );
  }
  const qemu = options.qemuBinary ?? 'qemu-system-x86_64';
  const readyLine = `${READY_MARKER} ${nonce}`;
  const exitPattern = new RegExp(`${EXIT_MARKER} ${nonce} (\\d+)$`);
  const initErrorPrefix = `${INIT_ERROR_MARKER} ${nonce} `;

  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(qemu, qemuArgs(options, append), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let settled = false;
    let failure: AppError | undefined;
    let bootToReadyMs: number | undefined;
    let exitCode: number | undefined;
    const output: string[] = [];
    /** The console's last lines outside the command's output, for errors. */
    const consoleTail: string[] = [];
    let stderr = '';
    let pending = '';
    let killTimer: NodeJS.Timeout | undefined;
    let powerOffTimer: NodeJS.Timeout | undefined;

    const signalGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: QEMU is gone already.
      }
    };
    /** SIGTERM now, SIGKILL after the grace: how QEMU is stopped on abort, boot timeout or a hung power-off. */
    const stop = () => {
      if (killTimer) return;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), killGraceMs);
    };
    const bootTimer = setTimeout(() => {
      failure = new AppError('vm.boot_timeout', `guest not ready within ${options.bootTimeoutMs} ms (accelerator ${options.accel})${describeTail(consoleTail, stderr)}`);
      stop();
    }, options.bootTimeoutMs);
    const onAbort = () => stop();
    signal.addEventListener('abort', onAbort, { once: true });

    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(bootTimer);
      if (killTimer) clearTimeout(killTimer);
      if (powerOffTimer) clearTimeout(powerOffTimer);
      signal.removeEventListener('abort', onAbort);
      signalGroup('SIGKILL');
      outcome();
    };

    const onLine = (raw: string) => {
      const line = raw.replace(/\r$/, '');
      if (bootToReadyMs === undefined) {
        if (line === readyLine) {
          bootToReadyMs = performance.now() - startedAt;
          clearTimeout(bootTimer);
          options.onReady?.(bootToReadyMs);
          return;
        }
        if (line.startsWith(initErrorPrefix)) failure ??= new AppError('vm.guest_failed', `guest init: ${line.slice(initErrorPrefix.length)}`);
        remember(consoleTail, line);
        return;
      }
      if (exitCode !== undefined) {
        remember(consoleTail, line);
        return;
      }
      const exit = exitPattern.exec(line);
      if (exit) {
        const before = line.slice(0, exit.index);
        if (before) {
          output.push(before);
          options.onOutput?.(before);
        }
        exitCode = Number(exit[1]);
        // `/init` powers off next; a guest that does not is stopped.
        powerOffTimer = setTimeout(stop, powerOffGraceMs);
        return;
      }
      output.push(line);
      options.onOutput?.(line);
    };

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 16_384) stderr += chunk;
    });

    child.once('error', (err) => {
      finish(() => reject(new AppError('vm.qemu_not_started', `cannot start ${qemu}: ${err.message}`, { cause: err })));
    });
    child.once('close', (code, sig) => {
      if (pending) onLine(pending);
      const totalMs = performance.now() - startedAt;
      if (signal.aborted) return finish(() => reject(signal.reason));
      if (exitCode !== undefined && bootToReadyMs !== undefined) {
        const result = { exitCode, output: output.join('\n'), bootToReadyMs, totalMs };
        return finish(() => resolve(result));
      }
      failure ??= new AppError(
        'vm.guest_failed',
        `QEMU ended (${sig ?? `exit code ${code}`}) before the guest reported the command's exit code${describeTail(consoleTail, stderr)}`,
      );
      const err = failure;
      finish(() => reject(err));
    });
  });
}

const TAIL_LINES = 20;

function remember(tail: string[], line: string): void {
  tail.push(line);
  if (tail.length > TAIL_LINES) tail.shift();
}

function describeTail(consoleTail: string[], stderr: string): string {
  let text = '';
  if (stderr.trim()) text += `\nQEMU stderr:\n${stderr.trim()}`;
  if (consoleTail.length) text += `\nlast console lines:\n${consoleTail.join('\n')}`;
  return text;
}
