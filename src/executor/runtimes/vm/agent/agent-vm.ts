// One job's micro-VM: QEMU `microvm` booted once with the job's disks (workspace, scratch, step images)
// and three virtio-serial ports to the guest's agent (initramfs.ts AGENT_SCRIPT): control, stdout and
// stderr. Each step is a shell script sent over the control port; its output streams back as it is
// written, stdout and stderr apart, and its exit code follows. Powering off unmounts the disks so the host
// can read the workspace disk afterwards. The guest is untrusted: everything it sends is bounded and
// parsed strictly, and a protocol violation stops the VM.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { AppError } from '../../../../shared/errors.js';
import type { OutputStream } from '../../../worker/log-entry-stream.js';
import type { GuestKernel } from '../guest/guest-kernel.js';
import { AGENT_PORTS, CMDLINE_AGENT, CMDLINE_DISKS, CMDLINE_NONCE, DISK_SERIALS, INIT_ERROR_MARKER, READY_MARKER } from '../guest/initramfs.js';
import { BASE_KERNEL_ARGS, checkSocketPath, microvmArgs, qemuOptionValue, TCG_KERNEL_ARGS, virtioDiskArgs, type Accelerator } from '../guest/qemu-vm.js';
import { TokenScanner } from './token-scanner.js';

/** Longest control line the host accepts from the guest, in bytes; a longer one is a protocol violation. */
const MAX_CONTROL_LINE_BYTES = 4096;

export interface AgentVmOptions {
  kernel: GuestKernel;
  /** From `ensureInitramfs`. */
  initramfsPath: string;
  accel: Accelerator;
  memoryMiB: number;
  cpus: number;
  /** QEMU's `-name`: shows in `ps`. */
  name: string;
  /** A private (0700) directory of this VM: the ports' sockets and QEMU's pid file go here. */
  runDir: string;
  /** ext4, mounted read-write at /work. */
  workspaceDisk: string;
  /** ext4, mounted read-write at /scratch: the steps' writable layers. */
  scratchDisk: string;
  /** ext4 root filesystems, attached read-only and mounted at /images/<index>. */
  imageDisks: readonly string[];
  /** From QEMU's start to the agent's READY; past it QEMU is killed and start fails with `vm.boot_timeout`. */
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

/** Receives a step's output as it arrives. */
export type AgentOutput = (stream: OutputStream, chunk: Buffer) => void;

/**
 * Virtio devices a microvm guest can have: every disk and the virtio-serial bus take one virtio-mmio
 * transport. Measured with QEMU 7.2 and the Debian 12 cloud kernel: 23 devices boot, with 24 the guest
 * hangs in early boot.
 */
export const MICROVM_TRANSPORTS = 23;
/** What is left for step images after the workspace, the scratch disk and the serial bus. */
export const MAX_IMAGE_DISKS = MICROVM_TRANSPORTS - 3;

/** QEMU's argv for an agent VM, without the binary. Exported for the setup log entry and tests. */
export function agentVmArgs(options: AgentVmOptions, append: string): string[] {
  const port = (id: string, name: string) => [
    '-chardev',
    `socket,id=${id},path=${qemuOptionValue(socketPath(options.runDir, id))}`,
    '-device',
    `virtserialport,chardev=${id},name=${name}`,
  ];
  return [
    ...microvmArgs(options),
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
    ...virtioDiskArgs('work', options.workspaceDisk, { serial: DISK_SERIALS.workspace }),
    ...virtioDiskArgs('scratch', options.scratchDisk, { serial: DISK_SERIALS.scratch }),
    ...options.imageDisks.flatMap((disk, i) => virtioDiskArgs(`image${i}`, disk, { readOnly: true, serial: `${DISK_SERIALS.imagePrefix}${i}` })),
    '-device',
    'virtio-serial-device',
    ...port('ctl', AGENT_PORTS.control),
    ...port('out', AGENT_PORTS.stdout),
    ...port('err', AGENT_PORTS.stderr),
  ];
}

function socketPath(runDir: string, id: string): string {
  return path.join(runDir, `${id}.sock`);
}

interface RunningStep {
  id: number;
  output: AgentOutput;
  stdout: TokenScanner;
  stderr: TokenScanner;
  exitCode?: number;
  resolve: (exitCode: number) => void;
  reject: (err: unknown) => void;
}

/** A booted VM whose agent takes steps. Start it with {@link AgentVm.start}. */
export class AgentVm {
  /** From spawning QEMU to the agent's READY, in ms. */
  bootToReadyMs = 0;
  /** QEMU's whole command line, binary first. */
  readonly argv: string[];
  private child: ChildProcess | undefined;
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Map<string, net.Socket>();
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
  private readonly nonce = crypto.randomBytes(8).toString('hex');

  private constructor(private readonly options: AgentVmOptions) {
    this.argv = AgentVm.commandLine(options, this.nonce);
  }

  /** QEMU's command line for `options`, wrapper and binary first; `nonce` defaults to a placeholder (for logs). */
  static commandLine(options: AgentVmOptions, nonce = '<nonce>'): string[] {
    const append = [
      ...BASE_KERNEL_ARGS,
      ...(options.accel === 'tcg' ? TCG_KERNEL_ARGS : []),
      `${CMDLINE_AGENT}=1`,
      `${CMDLINE_DISKS}=${2 + options.imageDisks.length}`,
      `${CMDLINE_NONCE}=${nonce}`,
    ].join(' ');
    return [...(options.wrapper ?? []), options.qemuBinary ?? 'qemu-system-x86_64', ...agentVmArgs(options, append)];
  }

  /**
   * Boots the VM and resolves once its agent is ready. Rejects with `vm.too_many_images`,
   * `vm.qemu_not_started`, `vm.boot_timeout`, `vm.guest_failed`, or `signal.reason` when `signal` aborts;
   * QEMU is gone by then.
   */
  static async start(options: AgentVmOptions, signal: AbortSignal): Promise<AgentVm> {
    signal.throwIfAborted();
    if (options.imageDisks.length > MAX_IMAGE_DISKS) {
      throw new AppError(
        'vm.too_many_images',
        `a job on the vm runtime can use at most ${MAX_IMAGE_DISKS} different images (a microvm guest takes ${MICROVM_TRANSPORTS} virtio devices, 3 of them the workspace, scratch and serial); this one uses ${options.imageDisks.length}`,
      );
    }
    const vm = new AgentVm(options);
    const onAbort = () => vm.kill();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await vm.boot();
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
        this.sockets.get('ctl')!.write(`RUN ${id} ${token} ${payload}\n`);
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

  /** Stops QEMU (SIGTERM, then SIGKILL after the grace) and resolves once it has exited. Never throws. */
  async kill(): Promise<void> {
    if (!this.child || this.exitedValue) {
      this.closeServers();
      return;
    }
    if (!this.killTimer) {
      this.signalQemu('SIGTERM');
      this.killTimer = setTimeout(() => this.signalQemu('SIGKILL'), this.options.killGraceMs ?? 500);
    }
    await this.waitForExit();
  }

  private async boot(): Promise<void> {
    const { options } = this;
    for (const id of ['ctl', 'out', 'err']) checkSocketPath(socketPath(options.runDir, id));
    await Promise.all(['ctl', 'out', 'err'].map((id) => this.listen(id)));
    const [binary, ...args] = this.argv;
    const startedAt = performance.now();
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

    const ready = this.waitForControl((line) => line === `${READY_MARKER} ${this.nonce}`);
    let bootTimer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      bootTimer = setTimeout(
        () => reject(new AppError('vm.boot_timeout', `guest not ready within ${options.bootTimeoutMs} ms (accelerator ${options.accel})${this.describeTail()}`)),
        options.bootTimeoutMs,
      );
    });
    const died = new Promise<never>((_, reject) => {
      this.exitWaiters.push(() => reject(this.failure ?? new AppError('vm.guest_failed', `QEMU ended before the guest was ready${this.describeTail()}`)));
    });
    try {
      await Promise.race([ready, timedOut, died]);
    } finally {
      clearTimeout(bootTimer);
    }
    this.bootToReadyMs = performance.now() - startedAt;
  }

  /** Listens on `<runDir>/<id>.sock` for QEMU's one connection (QEMU is the client: it connects at start). */
  private listen(id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        if (this.sockets.has(id)) {
          socket.destroy();
          return;
        }
        this.sockets.set(id, socket);
        socket.on('error', () => {});
        if (id === 'ctl') {
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
