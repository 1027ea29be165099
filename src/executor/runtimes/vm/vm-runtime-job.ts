// One job's guest, set up: runs each step by its agent in the step's image (SRC_ENDPOINT pointed at the
// uplink), the startup script first, reads files back out of the workspace disk, and tears the guest down
// (stopped, its uplink closed, its run directory with the disks removed, its image leases released).
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { OWNER_MARKER_FILE } from '../../workspace/leftover-workspaces.js';
import type { RuntimeJob, RuntimeLogEntry, StepOutput, StepSpec } from '../runtime.js';
import type { AgentVm } from './agent/agent-vm.js';
import { stepEnvironment, stepLauncherScript, stepPaths } from './agent/step-launcher.js';
import type { Accelerator } from './guest/qemu-vm.js';
import type { StepImageLease } from './images/step-image-cache.js';
import { readFileFromDisk } from './images/workspace-disk.js';
import { uplinkStepEnv } from './uplink/uplink-network.js';
import type { UplinkProxy } from './uplink/uplink-proxy.js';
import { QEMU_PID_FILE } from './vm-janitor.js';

/** How long a guest may take to unmount its disks and power off before QEMU is killed. */
const POWER_OFF_TIMEOUT_MS = { kvm: 5_000, tcg: 15_000 } as const;

export interface VmRuntimeJobOptions {
  vm: AgentVm;
  /** The guest's hostname and the name steps' commands show. */
  vmName: string;
  runDir: string;
  workspaceDisk: string;
  leases: Map<string, StepImageLease>;
  logEntry: (key: string, command: string[]) => RuntimeLogEntry;
  logger: Logger;
  accel: Accelerator;
  /** The job's uplink proxy, closed at teardown. */
  uplink: UplinkProxy;
  keep: boolean;
  /** Tells the runtime the run directory is no longer in use. */
  release: () => void;
}

export class VmRuntimeJob implements RuntimeJob {
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
    const script = stepLauncherScript({ step, imageIndex: index, env: stepEnvironment(lease.env, uplinkStepEnv(step.env), this.options.vmName), hostname: this.options.vmName });
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
    return readFileFromDisk(this.options.workspaceDisk, inDisk);
  }

  /**
   * `teardown.vm`: the VM stopped, its disks and sockets removed. It is powered off cleanly only when its
   * disks are read or kept (EXECUTOR_KEEP_WORKSPACES); otherwise QEMU is simply stopped, since the disks
   * are deleted next (a clean power-off costs ~0.1 s under emulation).
   */
  async teardown(): Promise<void> {
    const { runDir, logger } = this.options;
    const entry = this.options.logEntry('teardown.vm', ['vm-remove', this.options.vmName]);
    try {
      if (this.poweredOff || this.options.keep) {
        entry.write('stdout', (await this.powerOff()) ? 'VM powered off\n' : 'VM stopped\n');
      } else {
        await this.options.vm.kill({ now: true });
        entry.write('stdout', 'VM stopped\n');
      }
      const { uplink } = this.options;
      await uplink.close();
      entry.write('stdout', `uplink closed (${uplink.forwarded} request${uplink.forwarded === 1 ? '' : 's'} forwarded to the coordinator, ${uplink.refused} refused)\n`);
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
      // Closed above; again here should anything before it have thrown (idempotent).
      await this.options.uplink.close();
      for (const lease of this.options.leases.values()) lease.release();
      this.options.release();
      // As teardown.fs: cleanup never fails the job (reference §4.13).
      entry.finalize(0);
    }
  }

  private powerOff(): Promise<boolean> {
    this.poweredOff ??= this.options.vm.powerOff(POWER_OFF_TIMEOUT_MS[this.options.accel]);
    return this.poweredOff;
  }
}
