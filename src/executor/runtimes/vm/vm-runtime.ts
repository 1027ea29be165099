// The vm runtime (EXECUTOR_RUNTIME=vm): every job in its own QEMU micro-VM, booted once with the job's
// disks — the workspace (a sparse ext4 copy of the prepared workspace, at /work), a scratch disk for the
// steps' writable layers, and each step image's root filesystem read-only — and each step run inside it
// by the guest's agent in its image's root (step-launcher.ts). The guest has no network device at all and
// sees no host file. The original boots Ubuntu with systemd and a docker daemon per job (6–10 s, reference
// §5.3); this guest is a kernel and a busybox initramfs, and the images are converted once on the host.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseMemorySize } from '../../../shared/byte-size.js';
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { ExecutorConfig } from '../../config.js';
import { currentProcessOwner, type ProcessOwner } from '../../process-owner.js';
import { OWNER_MARKER_FILE, writeOwnerMarker } from '../../workspace/leftover-workspaces.js';
import { chooseDockerAuthConfig } from '../docker-auth.js';
import type { Runtime, RuntimeJob, RuntimeLogEntry, RuntimeSetupContext, StepOutput, StepSpec } from '../runtime.js';
import { AgentVm } from './agent/agent-vm.js';
import type { GuestPlatform } from './guest/guest-platform.js';
import { stepEnvironment, stepLauncherScript, stepPaths } from './agent/step-launcher.js';
import type { StepImageCache, StepImageLease } from './images/step-image-cache.js';
import { QEMU_PID_FILE, removeLeftoverVms, VM_RUN_DIR_PREFIX } from './vm-janitor.js';
import { createWorkspaceDisk, MIN_DISK_BYTES, readFileFromDisk } from './images/workspace-disk.js';

/** How long a guest may take from QEMU's start to its agent being ready. */
const BOOT_TIMEOUT_MS = { kvm: 15_000, tcg: 90_000 } as const;
/** How long a guest may take to unmount its disks and power off before QEMU is killed. */
const POWER_OFF_TIMEOUT_MS = { kvm: 5_000, tcg: 15_000 } as const;

export type VmRuntimeConfig = Pick<
  ExecutorConfig,
  'name' | 'vmPrefix' | 'jobNumCpus' | 'jobMemoryText' | 'vmDiskSpaceBytes' | 'workspaceParentDir' | 'dockerAuthConfig' | 'vmStartupScriptPath' | 'keepWorkspaces'
>;

export interface VmRuntimeOptions {
  config: VmRuntimeConfig;
  platform: GuestPlatform;
  images: StepImageCache;
}

/** Runs each job in a micro-VM of its own. */
export class VmRuntime implements Runtime {
  readonly name = 'vm' as const;
  private readonly owner: ProcessOwner;
  /** Run directories of this process's jobs that are set up and not torn down: the janitor skips them. */
  private readonly activeRunDirs = new Set<string>();

  constructor(private readonly options: VmRuntimeOptions) {
    this.owner = currentProcessOwner(options.config.name);
  }

  /** Kills and removes VMs that no running job owns (of dead executor processes, or leaked here). */
  removeLeftovers(logger: Logger): Promise<number> {
    return removeLeftoverVms({ parentDir: this.options.config.workspaceParentDir, active: this.activeRunDirs, logger });
  }

  async setup(ctx: RuntimeSetupContext): Promise<RuntimeJob> {
    ctx.signal.throwIfAborted();
    const { config, platform } = this.options;
    const vmName = `${config.vmPrefix}-${ctx.job.id}-${randomBytes(4).toString('hex')}`;
    const leases = new Map<string, StepImageLease>();
    let runDir: string | undefined;
    try {
      await this.acquireImages(ctx, leases);
      runDir = await fs.mkdtemp(path.join(config.workspaceParentDir, `${VM_RUN_DIR_PREFIX}${ctx.job.id}-`));
      this.activeRunDirs.add(runDir);
      await fs.chmod(runDir, 0o700);
      // Before the disks: a marker-less directory is left alone by every janitor.
      await writeOwnerMarker(runDir, this.owner);
      // One disk per distinct image: two references to the same digest share it.
      const disks = [...new Set([...leases.values()].map((l) => l.diskPath))];
      const vm = await this.startVm(ctx, vmName, runDir, disks);
      const job = new VmRuntimeJob({ vm, vmName, runDir, leases, logEntry: ctx.openLogEntry, logger: ctx.logger, platform, keep: config.keepWorkspaces, release: () => this.activeRunDirs.delete(runDir!) });
      if (config.vmStartupScriptPath) await job.runStartupScript(config.vmStartupScriptPath, ctx.signal);
      return job;
    } catch (err) {
      for (const lease of leases.values()) lease.release();
      if (runDir) {
        await fs.rm(runDir, { recursive: true, force: true }).catch(() => {});
        this.activeRunDirs.delete(runDir);
      }
      throw err;
    }
  }

  /** `setup.vm.images`: each distinct image of the job as a disk, from the cache or converted now. */
  private async acquireImages(ctx: RuntimeSetupContext, leases: Map<string, StepImageLease>): Promise<void> {
    const references = [...new Set(ctx.job.dockerSteps.map((s) => s.image))];
    const entry = ctx.openLogEntry('setup.vm.images', ['executor', 'vm-images', ...references]);
    // §8 for the vm runtime: the job's credentials, else EXECUTOR_DOCKER_AUTH_CONFIG; never the host's own.
    const auth = chooseDockerAuthConfig(ctx.job.dockerAuthConfig, this.options.config.dockerAuthConfig);
    try {
      for (const reference of references) {
        const lease = await this.options.images.acquire(reference, auth.config, ctx.signal);
        leases.set(reference, lease);
        const how = lease.source === 'cache' ? 'cached' : `converted from the ${lease.source === 'docker' ? 'host docker image store' : 'registry'} in ${Math.round(lease.convertMs)} ms`;
        entry.write('stdout', `${reference}: ${lease.digest} (${how})\n`);
      }
      entry.finalize(0);
    } catch (err) {
      if (!ctx.signal.aborted) entry.write('stderr', `${(err as Error).message}\n`);
      entry.finalize(ctx.signal.aborted ? -1 : 1);
      throw err;
    }
  }

  /** `setup.vm.start`: the disks, then QEMU until the guest's agent is ready. */
  private async startVm(ctx: RuntimeSetupContext, vmName: string, runDir: string, imageDisks: string[]): Promise<AgentVm> {
    const { config, platform } = this.options;
    const workspaceDisk = path.join(runDir, 'workspace.ext4');
    const scratchDisk = path.join(runDir, 'scratch.ext4');
    const diskBytes = Math.max(MIN_DISK_BYTES, config.vmDiskSpaceBytes);
    const disksStartedAt = performance.now();
    const emptyDir = path.join(runDir, 'empty');
    await fs.mkdir(emptyDir);
    await Promise.all([
      createWorkspaceDisk({ fromDir: ctx.workspace.path, imagePath: workspaceDisk, sizeBytes: diskBytes }),
      createWorkspaceDisk({ fromDir: emptyDir, imagePath: scratchDisk, sizeBytes: diskBytes }),
    ]);
    const disksMs = performance.now() - disksStartedAt;
    const vmOptions = {
      kernel: platform.kernel,
      initramfsPath: platform.initramfsPath,
      accel: platform.accel,
      // As docker reads --memory: EXECUTOR_JOB_MEMORY=256m is 256 MiB on either runtime.
      memoryMiB: Math.floor(parseMemorySize(config.jobMemoryText) / 1024 / 1024),
      cpus: config.jobNumCpus,
      name: vmName,
      runDir,
      workspaceDisk,
      scratchDisk,
      imageDisks,
      bootTimeoutMs: BOOT_TIMEOUT_MS[platform.accel],
      qemuBinary: platform.qemuPath,
      wrapper: platform.qemuWrapper,
    };
    const entry = ctx.openLogEntry('setup.vm.start', AgentVm.commandLine(vmOptions));
    entry.write('stdout', `workspace and scratch disks: ${formatBytes(diskBytes)} each, sparse, built in ${Math.round(disksMs)} ms\n`);
    entry.write('stdout', `accelerator: ${platform.accel === 'kvm' ? 'KVM' : 'TCG (software emulation, EXECUTOR_VM_ALLOW_EMULATION)'}; ${config.jobNumCpus} vCPU, ${vmOptions.memoryMiB} MiB; no network\n`);
    try {
      const vm = await AgentVm.start(vmOptions, ctx.signal);
      entry.write('stdout', `guest ready in ${Math.round(vm.bootToReadyMs)} ms (QEMU started → agent ready)\n`);
      entry.finalize(0);
      ctx.logger.info('vm runtime: guest ready', { vm: vmName, bootToReadyMs: Math.round(vm.bootToReadyMs), accel: platform.accel });
      return vm;
    } catch (err) {
      if (!ctx.signal.aborted) entry.write('stderr', `${(err as Error).message}\n`);
      entry.finalize(ctx.signal.aborted ? -1 : 1);
      throw err;
    }
  }
}

interface VmRuntimeJobOptions {
  vm: AgentVm;
  vmName: string;
  runDir: string;
  leases: Map<string, StepImageLease>;
  logEntry: (key: string, command: string[]) => RuntimeLogEntry;
  logger: Logger;
  platform: GuestPlatform;
  keep: boolean;
  /** Tells the runtime the run directory is no longer in use. */
  release: () => void;
}

class VmRuntimeJob implements RuntimeJob {
  private readonly imageIndex: Map<string, number>;
  private poweredOff: Promise<boolean> | undefined;

  constructor(private readonly options: VmRuntimeJobOptions) {
    const disks = [...new Set([...options.leases.values()].map((l) => l.diskPath))];
    this.imageIndex = new Map([...options.leases].map(([reference, lease]) => [reference, disks.indexOf(lease.diskPath)]));
  }

  commandFor(step: StepSpec): string[] {
    const { workingDir, script } = stepPaths(step);
    return ['vm-exec', this.options.vmName, '--image', step.image, '--workdir', workingDir, '--', '/bin/sh', script];
  }

  async runStep(step: StepSpec, output: StepOutput, signal: AbortSignal): Promise<{ exitCode: number }> {
    signal.throwIfAborted();
    const index = this.imageIndex.get(step.image);
    const lease = this.options.leases.get(step.image);
    if (index === undefined || !lease) throw new AppError('runtime.invalid_step', `step ${step.index}: image ${JSON.stringify(step.image)} was not prepared for this VM`);
    const script = stepLauncherScript({ step, imageIndex: index, env: stepEnvironment(lease.env, step.env, this.options.vmName), hostname: this.options.vmName });
    const exitCode = await this.options.vm.runScript(script, output, signal);
    return { exitCode };
  }

  /** `setup.startup-script`: EXECUTOR_VM_STARTUP_SCRIPT_PATH, run in the guest (as root, busybox sh) before the steps. */
  async runStartupScript(scriptPath: string, signal: AbortSignal): Promise<void> {
    const entry = this.options.logEntry('setup.startup-script', [scriptPath]);
    try {
      const script = await fs.readFile(scriptPath, 'utf8').catch((err: unknown) => {
        throw new AppError('vm.startup_script_unreadable', `EXECUTOR_VM_STARTUP_SCRIPT_PATH=${scriptPath}: cannot read it: ${(err as Error).message}`);
      });
      const exitCode = await this.options.vm.runScript(script, (stream, chunk) => entry.write(stream, chunk), signal);
      entry.finalize(exitCode);
      if (exitCode !== 0) throw new AppError('vm.startup_script_failed', `the VM startup script ${scriptPath} exited with ${exitCode}`);
    } catch (err) {
      if (!entry.finalized) {
        if (!signal.aborted) entry.write('stderr', `${(err as Error).message}\n`);
        entry.finalize(-1);
      }
      throw err;
    }
  }

  /**
   * A file of the workspace as the steps left it (`relativePath` inside the workspace). The first call
   * powers the VM off, so call it after the last step.
   */
  async readWorkspaceFile(relativePath: string): Promise<Buffer> {
    const inDisk = path.posix.normalize(`/${relativePath}`);
    await this.powerOff();
    return readFileFromDisk(path.join(this.options.runDir, 'workspace.ext4'), inDisk);
  }

  /** `teardown.vm`: the VM powered off (killed if it does not), its disks and sockets removed. */
  async teardown(): Promise<void> {
    const { runDir, logger } = this.options;
    const entry = this.options.logEntry('teardown.vm', ['vm-remove', this.options.vmName]);
    try {
      const clean = await this.powerOff();
      entry.write('stdout', clean ? 'VM powered off\n' : 'VM stopped\n');
      if (this.options.keep) {
        // Without its pid file and owner marker no janitor touches the directory again.
        await fs.rm(path.join(runDir, QEMU_PID_FILE), { force: true });
        await fs.rm(path.join(runDir, OWNER_MARKER_FILE), { force: true });
        entry.write('stdout', `Preserving the VM's disks (${runDir}) as requested\n`);
      } else {
        await fs.rm(runDir, { recursive: true, force: true });
        entry.write('stdout', `Removed ${runDir}\n`);
      }
    } catch (err) {
      logger.warn('vm runtime: teardown', { error: err });
      entry.write('stderr', `${(err as Error).message}\n`);
    } finally {
      for (const lease of this.options.leases.values()) lease.release();
      this.options.release();
      // As teardown.fs: cleanup never fails the job (reference §4.13).
      entry.finalize(0);
    }
  }

  private powerOff(): Promise<boolean> {
    this.poweredOff ??= this.options.vm.powerOff(POWER_OFF_TIMEOUT_MS[this.options.platform.accel]);
    return this.poweredOff;
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
