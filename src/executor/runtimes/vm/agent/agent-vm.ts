// One job's micro-VM: QEMU `microvm` with the job's disks (workspace, scratch, step images), three
// virtio-serial ports to the guest's agent (agent-script.ts): control, stdout and stderr, and the uplink's
// network device, whose one forward reaches `<run dir>/uplink.sock` (uplink/uplink-network.ts). Each step is a
// shell script sent over the control port; its output streams back as it is written, stdout and stderr
// apart, and its exit code follows. A guest is either booted for its job, or restored from a snapshot of a
// booted one (`restore`, then `resume` with the job's clock, seed and hostname) — possibly ahead of its job,
// paused in the warm pool with placeholder disks that `replaceDisks` swaps for the job's. QEMU's machine
// protocol (QMP) pauses, saves, restores and rewires it. The guest is untrusted: everything it sends is
// bounded and parsed strictly, and a protocol violation stops the VM.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { AppError } from '../../../../shared/errors.js';
import type { OutputStream } from '../../../worker/log-entry-stream.js';
import type { GuestKernel } from '../guest/guest-kernel.js';
import { CMDLINE_NONCE, INIT_ERROR_MARKER, READY_MARKER } from '../guest/guest-markers.js';
import { QmpClient } from '../guest/qmp-client.js';
import { BASE_KERNEL_ARGS, checkSocketPath, microvmArgs, qemuOptionValue, TCG_KERNEL_ARGS, type Accelerator } from '../guest/qemu-vm.js';
import { freshStartPayload } from '../snapshot/fresh-start.js';
import { AGENT_PORTS, CMDLINE_AGENT, CMDLINE_DISKS, CMDLINE_SNAPSHOT, DISK_SERIALS, SNAPSHOT_READY_MARKER } from './agent-script.js';
import { shellQuote } from './step-launcher.js';
import { TokenScanner } from './token-scanner.js';
import { UPLINK_SOCKET_FILE, uplinkQemuArgs } from '../uplink/uplink-network.js';

/** Longest control line the host accepts from the guest, in bytes; a longer one is a protocol violation. */
const MAX_CONTROL_LINE_BYTES = 4096;

/** What shapes a guest, and so its snapshot: a snapshot restores only into the same machine. */
export interface GuestMachine {
  kernel: GuestKernel;
  /** From `ensureInitramfs`. */
  initramfsPath: string;
  accel: Accelerator;
  memoryMiB: number;
  cpus: number;
}

export interface AgentVmOptions extends GuestMachine {
  /** QEMU's `-name`: shows in `ps`. */
  name: string;
  /** A private (0700) directory of this VM: the sockets and QEMU's pid file go here. */
  runDir: string;
  /** ext4, mounted read-write at /work. */
  workspaceDisk: string;
  /** ext4, mounted read-write at /scratch: the steps' writable layers. */
  scratchDisk: string;
  /** ext4 root filesystems, attached read-only and mounted at /images/<index>. */
  imageDisks: readonly string[];
  /**
   * Image disks the guest has; slots past `imageDisks` get `placeholderDisk` (read-only, never mounted).
   * Default `imageDisks.length`. A snapshot is taken with a number of slots and restores only with as many.
   */
  imageSlots?: number;
  /** A small file for the empty image slots. Required when there are more slots than images. */
  placeholderDisk?: string;
  /** From QEMU's start to the agent's READY (a restore: to the guest paused); past it start fails with `vm.boot_timeout`. */
  bootTimeoutMs: number;
  /** After SIGTERM to QEMU, wait this long before SIGKILL, in ms. Default 500. */
  killGraceMs?: number;
  /** Default `qemu-system-x86_64` from PATH. */
  qemuBinary?: string;
  /**
   * A command that runs QEMU so that it dies with this process (`setpriv --pdeathsig KILL --`), so a
   * killed executor leaves no running VM. Default none (the janitor removes orphans).
   */
  wrapper?: readonly string[];
}

/** The files of a saved guest that `AgentVm.restore` needs. */
export interface SavedGuest {
  /** The guest's RAM (sparse), mapped copy-on-write by each restored guest; never written after the save. */
  memoryPath: string;
  /** QEMU's device state (the migration stream, RAM excluded). */
  statePath: string;
  /** The nonce on the saved guest's kernel command line; a restored guest's QEMU gets the same command line. */
  nonce: string;
}

/** How a guest is started: booted for a job, booted to be saved, or restored from a saved one. */
export type AgentVmLaunch = { kind: 'boot' } | { kind: 'snapshot'; memoryPath: string } | { kind: 'restore'; saved: SavedGuest };

/** Receives a step's output as it arrives. */
export type AgentOutput = (stream: OutputStream, chunk: Buffer) => void;

/**
 * Virtio devices a microvm guest can have: every disk, the virtio-serial bus and the network device take
 * one virtio-mmio transport. Measured with QEMU 7.2 and the Debian 12 cloud kernel: 23 devices boot, with
 * 24 the guest hangs in early boot.
 */
export const MICROVM_TRANSPORTS = 23;
/** What is left for step images after the workspace, the scratch disk, the serial bus and the uplink. */
export const MAX_IMAGE_DISKS = MICROVM_TRANSPORTS - 4;

/** The guest's disk slots in device order: the block node each is attached through, and how. */
function diskSlots(options: AgentVmOptions): Array<{ node: string; file: string; serial: string; readOnly: boolean }> {
  const slots = options.imageSlots ?? options.imageDisks.length;
  const images = Array.from({ length: slots }, (_, i) => {
    const file = options.imageDisks[i] ?? options.placeholderDisk;
    if (file === undefined) throw new Error(`AgentVm: image slot ${i} has no disk and there is no placeholder`);
    return { node: `disk-image${i}`, file, serial: `${DISK_SERIALS.imagePrefix}${i}`, readOnly: true };
  });
  return [
    { node: 'disk-work', file: options.workspaceDisk, serial: DISK_SERIALS.workspace, readOnly: false },
    { node: 'disk-scratch', file: options.scratchDisk, serial: DISK_SERIALS.scratch, readOnly: false },
    ...images,
  ];
}

/**
 * QEMU's argv for an agent VM, without the binary. Disks are `-blockdev` nodes (a `file` node under a
 * `raw` one) so that a restored guest's files can be swapped under its devices (`replaceDisks`).
 * Exported for the setup log entry and tests.
 */
export function agentVmArgs(options: AgentVmOptions, append: string, launch: AgentVmLaunch = { kind: 'boot' }): string[] {
  const q = qemuOptionValue;
  const socket = (id: string) => q(socketPath(options.runDir, id));
  const port = (id: string, name: string) => ['-chardev', `socket,id=${id},path=${socket(id)}`, '-device', `virtserialport,chardev=${id},name=${name}`];
  const memoryFile = launch.kind === 'snapshot' ? { path: launch.memoryPath, shared: true } : launch.kind === 'restore' ? { path: launch.saved.memoryPath, shared: false } : undefined;
  return [
    ...microvmArgs({ ...options, memoryFile }),
    '-serial',
    'stdio',
    '-no-reboot',
    '-pidfile',
    path.join(options.runDir, 'qemu.pid'),
    '-kernel',
    options.kernel.kernelPath,
    '-initrd',
    options.initramfsPath,
    '-append',
    append,
    ...diskSlots(options).flatMap((slot) => [
      '-blockdev',
      `driver=file,node-name=${slot.node}-file0,filename=${q(slot.file)}${slot.readOnly ? ',read-only=on' : ''}`,
      '-blockdev',
      `driver=raw,node-name=${slot.node},file=${slot.node}-file0${slot.readOnly ? ',read-only=on' : ''}`,
      '-device',
      `virtio-blk-device,drive=${slot.node},serial=${slot.serial}`,
    ]),
    '-device',
    'virtio-serial-device',
    ...port('ctl', AGENT_PORTS.control),
    ...port('out', AGENT_PORTS.stdout),
    ...port('err', AGENT_PORTS.stderr),
    // The uplink: a restricted user network whose one forward reaches the job's proxy socket.
    ...uplinkQemuArgs(path.join(options.runDir, UPLINK_SOCKET_FILE)),
    // QEMU connects to our socket, as for the ports: no polling for a socket QEMU would create.
    '-chardev',
    `socket,id=qmp,path=${socket('qmp')}`,
    '-mon',
    'chardev=qmp,mode=control',
    ...(launch.kind === 'restore' ? ['-incoming', 'defer'] : []),
  ];
}

function socketPath(runDir: string, id: string): string {
  return path.join(runDir, `${id}.sock`);
}

const SOCKET_IDS = ['ctl', 'out', 'err', 'qmp'] as const;

interface RunningStep {
  id: number;
  output: AgentOutput;
  stdout: TokenScanner;
  stderr: TokenScanner;
  exitCode?: number;
  resolve: (exitCode: number) => void;
  reject: (err: unknown) => void;
}

/** A VM whose agent takes steps. Start it with {@link AgentVm.start}, or {@link AgentVm.restore} and `resume`. */
export class AgentVm {
  /** Booted: QEMU spawned → the agent's READY. Restored: QEMU spawned → the guest paused with its state loaded. */
  bootToReadyMs = 0;
  /** `resume`: the guest continued → the agent's READY, with the job's disks mounted. */
  resumeToReadyMs = 0;
  /** QEMU's whole command line, binary first. */
  readonly argv: string[];
  private child: ChildProcess | undefined;
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Map<string, net.Socket>();
  private qmpClient: Promise<QmpClient> | undefined;
  /** Called when QEMU connects its QMP socket, if `qmp()` is waiting for it. */
  private qmpConnected: ((socket: net.Socket) => void) | undefined;
  /** When QEMU was spawned (performance.now()). */
  private spawnedAt = 0;
  private readonly consoleTail: string[] = [];
  private qemuStderr = '';
  private controlPending = '';
  private step: RunningStep | undefined;
  private nextStepId = 1;
  private killTimer: NodeJS.Timeout | undefined;
  private exitedValue = false;
  /** Why the VM is unusable, once it is: the error a step gets. */
  private failure: AppError | undefined;
  private readonly exitWaiters: Array<() => void> = [];
  private readonly controlWaiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  /** The nonce the guest's markers carry: the command line's, then (restored) the one `resume` sent. */
  private nonce: string;
  /** Generation of the block nodes' files: `replaceDisks` adds new `file` nodes under the same `raw` ones. */
  private diskGeneration = 0;
  /** Each disk slot's `raw` node → its `file` node and path now. */
  private readonly diskFiles = new Map<string, { fileNode: string; file: string }>();
  private options: AgentVmOptions;

  private constructor(
    options: AgentVmOptions,
    private readonly launch: AgentVmLaunch,
  ) {
    this.options = options;
    this.nonce = launch.kind === 'restore' ? launch.saved.nonce : crypto.randomBytes(8).toString('hex');
    this.argv = AgentVm.commandLine(options, launch, this.nonce);
    for (const slot of diskSlots(options)) this.diskFiles.set(slot.node, { fileNode: `${slot.node}-file0`, file: slot.file });
  }

  /** QEMU's command line for `options`, wrapper and binary first; `nonce` defaults to a placeholder (for logs). */
  static commandLine(options: AgentVmOptions, launch: AgentVmLaunch = { kind: 'boot' }, nonce = launch.kind === 'restore' ? launch.saved.nonce : '<nonce>'): string[] {
    const append = [
      ...BASE_KERNEL_ARGS,
      ...(options.accel === 'tcg' ? TCG_KERNEL_ARGS : []),
      `${CMDLINE_AGENT}=1`,
      ...(launch.kind === 'boot' ? [] : [`${CMDLINE_SNAPSHOT}=1`]),
      `${CMDLINE_DISKS}=${2 + (options.imageSlots ?? options.imageDisks.length)}`,
      `${CMDLINE_NONCE}=${nonce}`,
    ].join(' ');
    return [...(options.wrapper ?? []), options.qemuBinary ?? 'qemu-system-x86_64', ...agentVmArgs(options, append, launch)];
  }

  /**
   * Boots the VM for its job and resolves once its agent is ready. Rejects with `vm.too_many_images`,
   * `vm.qemu_not_started`, `vm.boot_timeout`, `vm.guest_failed`, or `signal.reason` when `signal` aborts;
   * QEMU is gone by then.
   */
  static start(options: AgentVmOptions, signal: AbortSignal): Promise<AgentVm> {
    return AgentVm.launch(options, { kind: 'boot' }, signal, (vm) => vm.waitForLine(`${READY_MARKER} ${vm.nonce}`, options.bootTimeoutMs, 'guest not ready'));
  }

  /**
   * Boots a guest to be saved: its RAM in `memoryPath` (created, sparse), the disks of `options` probed
   * once and released. Resolves once it can be saved with {@link saveSnapshot}; rejects as {@link start}.
   */
  static startForSnapshot(options: AgentVmOptions, memoryPath: string, signal: AbortSignal): Promise<AgentVm> {
    return AgentVm.launch(options, { kind: 'snapshot', memoryPath }, signal, (vm) =>
      vm.waitForLine(`${SNAPSHOT_READY_MARKER} ${vm.nonce}`, options.bootTimeoutMs, 'guest not ready to be saved'),
    );
  }

  /**
   * Starts QEMU from `saved` with the disks of `options` (opened now: the saved guest never read a disk)
   * and resolves once the state is loaded and the guest is paused; `resume` runs it. `options` must
   * describe the machine the guest was saved from (same kernel, initramfs, accelerator, vCPUs, memory
   * and image slots). Rejects with `vm.restore_failed` (QEMU refused the state: another QEMU, a corrupt
   * file), or as {@link start}.
   */
  static restore(options: AgentVmOptions, saved: SavedGuest, signal: AbortSignal): Promise<AgentVm> {
    return AgentVm.launch(options, { kind: 'restore', saved }, signal, async (vm) => {
      const qmp = await vm.qmp();
      await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(saved.statePath)}` });
      await vm.until(options.bootTimeoutMs, 'the saved state did not load', async () => {
        const { status } = await qmp.execute<{ status: string }>('query-status');
        if (status === 'paused') return true;
        if (status !== 'inmigrate') throw new AppError('vm.restore_failed', `QEMU is ${status} after loading the saved state, not paused`);
        return false;
      });
    }).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'vm.guest_failed') throw new AppError('vm.restore_failed', `the saved guest did not restore: ${err.message}`, { cause: err });
      throw err;
    });
  }

  /** Spawns QEMU for `launch` and waits for `ready`; on any failure QEMU is killed and the error (or the abort) rethrown. */
  private static async launch(options: AgentVmOptions, launch: AgentVmLaunch, signal: AbortSignal, ready: (vm: AgentVm) => Promise<unknown>): Promise<AgentVm> {
    signal.throwIfAborted();
    const slots = options.imageSlots ?? options.imageDisks.length;
    if (slots > MAX_IMAGE_DISKS || options.imageDisks.length > slots) {
      throw new AppError(
        'vm.too_many_images',
        `a job on the vm runtime can use at most ${MAX_IMAGE_DISKS} different images (a microvm guest takes ${MICROVM_TRANSPORTS} virtio devices, 4 of them the workspace, scratch, serial and network); this one uses ${options.imageDisks.length}`,
      );
    }
    const vm = new AgentVm(options, launch);
    const onAbort = () => vm.kill();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await vm.spawnQemu();
      await ready(vm);
      vm.bootToReadyMs = performance.now() - vm.spawnedAt;
      signal.throwIfAborted();
      return vm;
    } catch (err) {
      await vm.kill();
      throw signal.aborted ? signal.reason : err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Whether QEMU has exited. */
  get exited(): boolean {
    return this.exitedValue;
  }

  /** QEMU's pid. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Pauses this guest (booted with {@link startForSnapshot}) and writes its device state to `statePath`
   * (its RAM is the memory file already), then stops QEMU. Resolves with the state's size in bytes.
   * Rejects with `vm.snapshot_failed`.
   */
  async saveSnapshot(statePath: string, timeoutMs: number): Promise<void> {
    if (this.launch.kind !== 'snapshot') throw new Error('AgentVm.saveSnapshot: not a guest booted for a snapshot');
    try {
      const qmp = await this.qmp();
      await qmp.execute('stop');
      // The RAM is a shared file: x-ignore-shared leaves it out of the stream, so the state is the devices only (~60 KB).
      await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
      await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(statePath)}` });
      await this.until(timeoutMs, 'the guest was not saved', async () => {
        const info = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
        if (info.status === 'completed') return true;
        if (info.status === 'failed' || info.status === 'cancelled') throw new AppError('vm.snapshot_failed', `QEMU could not save the guest: ${info['error-desc'] ?? info.status}`);
        return false;
      });
    } catch (err) {
      throw err instanceof AppError && err.code === 'vm.snapshot_failed' ? err : new AppError('vm.snapshot_failed', `cannot save the guest: ${(err as Error).message}`, { cause: err });
    } finally {
      await this.kill();
    }
  }

  /**
   * A restored, paused guest runs `launcher` (a step launcher for the warm-up image in image slot 0) on
   * its placeholder disks, undoes it, and is paused again. Rejects with `vm.guest_failed`, `vm.boot_timeout`.
   */
  async warmUp(launcher: string, timeoutMs: number): Promise<void> {
    const qmp = await this.qmp();
    await qmp.execute('cont');
    const warmed = this.waitForLine('WARMED', timeoutMs, 'the guest did not warm up');
    this.control(`WARM ${Buffer.from(launcher).toString('base64')}\n`);
    await warmed;
    await qmp.execute('stop');
  }

  /**
   * Attaches other files to a paused, restored guest's disks (whose driver is not bound: the guest has read
   * none of them), in the same slots: `imageDisks` first, the placeholder after; a slot whose file is the
   * same keeps it (a second read-write node on one file would not get QEMU's write lock). Rejects with
   * `vm.qmp_failed`.
   */
  async replaceDisks(disks: Pick<AgentVmOptions, 'workspaceDisk' | 'scratchDisk' | 'imageDisks'>): Promise<void> {
    const qmp = await this.qmp();
    const next = { ...this.options, ...disks };
    const generation = ++this.diskGeneration;
    const changed = diskSlots(next).filter((slot) => this.diskFiles.get(slot.node)?.file !== slot.file);
    for (const slot of changed) {
      await qmp.execute('blockdev-add', { driver: 'file', 'node-name': `${slot.node}-file${generation}`, filename: slot.file, 'read-only': slot.readOnly });
    }
    if (changed.length > 0) {
      await qmp.execute('blockdev-reopen', { options: changed.map((slot) => ({ driver: 'raw', 'node-name': slot.node, file: `${slot.node}-file${generation}`, 'read-only': slot.readOnly })) });
    }
    for (const slot of changed) {
      await qmp.execute('blockdev-del', { 'node-name': this.diskFiles.get(slot.node)!.fileNode });
      this.diskFiles.set(slot.node, { fileNode: `${slot.node}-file${generation}`, file: slot.file });
    }
    this.options = next;
  }

  /**
   * Runs a restored guest for its job: the clock and a fresh seed for its random number generator (so no
   * two guests from one snapshot share random numbers), `hostname`, then the disks probed and mounted.
   * Resolves once the agent is ready. Rejects with `vm.resume_failed` (the guest did not come up: the
   * caller boots another), or `signal.reason`.
   */
  async resume(hostname: string, signal: AbortSignal, timeoutMs: number): Promise<void> {
    signal.throwIfAborted();
    // One word on the control line (EXECUTOR_VM_PREFIX is checked to these characters).
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(hostname)) throw new Error(`AgentVm.resume: ${JSON.stringify(hostname)} is not a hostname`);
    const onAbort = () => void this.kill();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const nonce = crypto.randomBytes(8).toString('hex');
      const qmp = await this.qmp();
      const startedAt = performance.now();
      await qmp.execute('cont');
      const ready = this.waitForLine(`${READY_MARKER} ${nonce}`, timeoutMs, 'the restored guest did not get ready');
      // The line, then the helper's raw bytes: the agent's `read` stops at the newline.
      this.control(Buffer.concat([Buffer.from(`RESUME ${nonce} ${hostname} ${this.options.imageDisks.length}\n`), freshStartPayload()]));
      await ready;
      this.nonce = nonce;
      this.resumeToReadyMs = performance.now() - startedAt;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      await this.kill();
      throw err instanceof AppError && err.code.startsWith('vm.') && err.code !== 'vm.resume_failed' ? new AppError('vm.resume_failed', err.message, { cause: err }) : err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Runs `script` (busybox sh, in the guest's initramfs, as root) with its stdout and stderr streamed to
   * `output`, and resolves with its exit code once all its output arrived. When `signal` aborts, the VM
   * is killed (a step cannot be stopped alone; the job ends with it) and this rejects with `signal.reason`.
   * Rejects with `vm.guest_failed` when the VM dies, and `vm.busy` when a step is already running.
   */
  async runScript(script: string, output: AgentOutput, signal: AbortSignal): Promise<number> {
    signal.throwIfAborted();
    if (this.failure) throw this.failure;
    if (this.step) throw new AppError('vm.busy', 'the VM is already running a step');
    const id = this.nextStepId++;
    const token = `EXECUTOR-END-${crypto.randomBytes(12).toString('hex')}`;
    const onAbort = () => void this.kill();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await new Promise<number>((resolve, reject) => {
        this.step = {
          id,
          output,
          stdout: new TokenScanner(`\u0000${token}\u0000`),
          stderr: new TokenScanner(`\u0000${token}\u0000`),
          resolve,
          reject,
        };
        const payload = Buffer.from(script).toString('base64');
        // The agent writes the token between NULs: text output never holds back bytes to see whether they start it.
        this.control(`RUN ${id} ${token} ${payload}\n`);
      });
    } catch (err) {
      throw signal.aborted ? signal.reason : err;
    } finally {
      this.step = undefined;
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Asks the agent to unmount the disks and power off, and waits up to `timeoutMs` for QEMU to exit;
   * then kills it. Resolves with whether the guest shut down cleanly (so its workspace disk is
   * consistent). Never throws.
   */
  async powerOff(timeoutMs: number): Promise<boolean> {
    if (this.exitedValue) return false;
    const socket = this.sockets.get('ctl');
    if (!socket || this.failure) {
      await this.kill();
      return false;
    }
    let bye = false;
    const gotBye = this.waitForControl((line) => line === 'BYE').then(() => (bye = true));
    socket.write('POWEROFF\n');
    const timer = setTimeout(() => void this.kill(), timeoutMs);
    await this.waitForExit();
    clearTimeout(timer);
    void gotBye;
    return bye;
  }

  /**
   * Stops QEMU (SIGTERM, then SIGKILL after the grace; `now`: SIGKILL at once, for a guest whose disks are
   * thrown away) and resolves once it has exited. Never throws.
   */
  async kill(options: { now?: boolean } = {}): Promise<void> {
    if (!this.child || this.exitedValue) {
      this.closeServers();
      return;
    }
    if (options.now) this.signalQemu('SIGKILL');
    else if (!this.killTimer) {
      this.signalQemu('SIGTERM');
      this.killTimer = setTimeout(() => this.signalQemu('SIGKILL'), this.options.killGraceMs ?? 500);
    }
    await this.waitForExit();
  }

  private async spawnQemu(): Promise<void> {
    const { options } = this;
    for (const id of SOCKET_IDS) checkSocketPath(socketPath(options.runDir, id));
    checkSocketPath(path.join(options.runDir, UPLINK_SOCKET_FILE));
    await Promise.all(SOCKET_IDS.map((id) => this.listen(id)));
    const [binary, ...args] = this.argv;
    this.spawnedAt = performance.now();
    const child = spawn(binary!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    let pendingConsole = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pendingConsole += chunk;
      const lines = pendingConsole.split('\n');
      pendingConsole = lines.pop() ?? '';
      for (const raw of lines) this.onConsoleLine(raw.replace(/\r$/, ''));
      if (pendingConsole.length > MAX_CONTROL_LINE_BYTES) pendingConsole = pendingConsole.slice(-MAX_CONTROL_LINE_BYTES);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (this.qemuStderr.length < 16_384) this.qemuStderr += chunk;
    });
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new AppError('vm.qemu_not_started', `cannot start ${binary}: ${err.message}`, { cause: err })));
    });
    child.once('close', (code, sig) => this.onExit(code, sig));
    await spawned;
  }

  /** The QMP client, once QEMU has connected and greeted. */
  private qmp(): Promise<QmpClient> {
    this.qmpClient ??= this.race(
      new Promise<net.Socket>((resolve) => {
        const socket = this.sockets.get('qmp');
        if (socket) return resolve(socket);
        this.qmpConnected = resolve;
      }).then((socket) => QmpClient.attach(socket)),
      this.options.bootTimeoutMs,
      'QEMU did not connect its QMP socket',
    );
    return this.qmpClient;
  }

  /** Resolves once the control port carries `line`; rejects when QEMU ends first or after `timeoutMs`. */
  private waitForLine(line: string, timeoutMs: number, what: string): Promise<unknown> {
    return this.race(
      this.waitForControl((l) => l === line),
      timeoutMs,
      what,
    );
  }

  /** Polls `check` every few ms until it returns true; rejects when QEMU ends first or after `timeoutMs`. */
  private until(timeoutMs: number, what: string, check: () => Promise<boolean>): Promise<void> {
    const poll = async () => {
      while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    return this.race(poll(), timeoutMs, what);
  }

  /** `promise`, or `vm.boot_timeout` after `timeoutMs`, or the VM's failure when QEMU ends first. */
  private async race<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AppError('vm.boot_timeout', `${what} within ${timeoutMs} ms (accelerator ${this.options.accel})${this.describeTail()}`)), timeoutMs);
    });
    const died = new Promise<never>((_, reject) => {
      if (this.exitedValue) return reject(this.exitFailure());
      this.exitWaiters.push(() => reject(this.exitFailure()));
    });
    try {
      return await Promise.race([promise, timedOut, died]);
    } finally {
      clearTimeout(timer);
    }
  }

  private exitFailure(): AppError {
    return this.failure ?? new AppError('vm.guest_failed', `QEMU ended${this.describeTail()}`);
  }

  private control(data: string | Buffer): void {
    const socket = this.sockets.get('ctl');
    if (!socket) throw this.failure ?? new AppError('vm.guest_failed', 'the control port is not connected');
    socket.write(data);
  }

  /** Listens on `<runDir>/<id>.sock` for QEMU's one connection (QEMU is the client: it connects at start). */
  private listen(id: (typeof SOCKET_IDS)[number]): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        if (this.sockets.has(id)) {
          socket.destroy();
          return;
        }
        this.sockets.set(id, socket);
        socket.on('error', () => {});
        if (id === 'qmp') {
          this.qmpConnected?.(socket);
        } else if (id === 'ctl') {
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => this.onControlData(chunk));
        } else {
          const stream: OutputStream = id === 'out' ? 'stdout' : 'stderr';
          socket.on('data', (chunk: Buffer) => this.onOutputData(stream, chunk));
        }
      });
      this.servers.push(server);
      server.once('error', (err) => reject(new AppError('vm.socket_failed', `cannot listen on ${socketPath(this.options.runDir, id)}: ${err.message}`, { cause: err })));
      server.listen(socketPath(this.options.runDir, id), () => resolve());
    });
  }

  private onConsoleLine(line: string): void {
    const errorPrefix = `${INIT_ERROR_MARKER} ${this.nonce} `;
    if (line.startsWith(errorPrefix)) this.failure ??= new AppError('vm.guest_failed', `guest init: ${line.slice(errorPrefix.length)}`);
    this.consoleTail.push(line);
    if (this.consoleTail.length > 20) this.consoleTail.shift();
  }

  private onControlData(chunk: string): void {
    this.controlPending += chunk;
    let newline: number;
    while ((newline = this.controlPending.indexOf('\n')) >= 0) {
      const line = this.controlPending.slice(0, newline).replace(/\r$/, '');
      this.controlPending = this.controlPending.slice(newline + 1);
      this.onControlLine(line);
    }
    if (this.controlPending.length > MAX_CONTROL_LINE_BYTES) {
      this.violation(`a control line longer than ${MAX_CONTROL_LINE_BYTES} bytes`);
    }
  }

  private onControlLine(line: string): void {
    const waiter = this.controlWaiters.findIndex((w) => w.match(line));
    if (waiter >= 0) {
      this.controlWaiters.splice(waiter, 1)[0]!.resolve(line);
      return;
    }
    const exit = /^EXIT (\d+) (\d{1,3})$/.exec(line);
    if (exit) {
      const step = this.step;
      if (!step || Number(exit[1]) !== step.id) return this.violation(`an exit code for step ${exit[1]}, which is not running`);
      step.exitCode = Number(exit[2]);
      this.settleStep();
      return;
    }
    // The agent prints nothing else on control; a running step could (it is root in the guest), and
    // cannot be told apart from the agent: stop the VM rather than guess.
    this.violation(`an unexpected control line ${JSON.stringify(line.slice(0, 80))}`);
  }

  private onOutputData(stream: OutputStream, chunk: Buffer): void {
    const step = this.step;
    // Output outside a step (there should be none: the agent writes only a step's) is dropped.
    if (!step) return;
    const scanner = stream === 'stdout' ? step.stdout : step.stderr;
    const forward = scanner.push(chunk);
    if (forward.length > 0) step.output(stream, forward);
    if (scanner.found) this.settleStep();
  }

  /** Resolves the running step once its exit code and both end tokens have arrived. */
  private settleStep(): void {
    const step = this.step;
    if (!step || step.exitCode === undefined || !step.stdout.found || !step.stderr.found) return;
    step.resolve(step.exitCode);
  }

  private violation(what: string): void {
    this.failure ??= new AppError('vm.protocol_violation', `the guest sent ${what}; the VM was stopped`);
    this.step?.reject(this.failure);
    void this.kill();
  }

  /** Resolves with the first control line `match` accepts (it is not handled otherwise). */
  private waitForControl(match: (line: string) => boolean): Promise<string> {
    return new Promise((resolve) => this.controlWaiters.push({ match, resolve }));
  }

  private onExit(code: number | null, sig: NodeJS.Signals | null): void {
    this.exitedValue = true;
    if (this.killTimer) clearTimeout(this.killTimer);
    this.failure ??= new AppError('vm.guest_failed', `the VM stopped (QEMU ${sig ?? `exit code ${code}`})${this.describeTail()}`);
    this.step?.reject(this.failure);
    this.closeServers();
    for (const waiter of this.exitWaiters.splice(0)) waiter();
  }

  private waitForExit(): Promise<void> {
    if (this.exitedValue || !this.child) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private signalQemu(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // ESRCH: gone already.
    }
  }

  private closeServers(): void {
    for (const socket of this.sockets.values()) socket.destroy();
    for (const server of this.servers.splice(0)) server.close();
  }

  private describeTail(): string {
    let text = '';
    if (this.qemuStderr.trim()) text += `\nQEMU stderr:\n${this.qemuStderr.trim()}`;
    if (this.consoleTail.length) text += `\nlast console lines:\n${this.consoleTail.join('\n')}`;
    return text;
  }
}
