// How a job's guest comes up, fastest first: a guest from the warm pool (restored and warmed up ahead of
// the job: its disks are swapped for the job's and it is resumed), else a guest restored from the snapshot
// with the job's disks, else a cold boot. A fast path that fails falls through to the next with a line in
// `setup.vm.start` saying why — a snapshot that does not restore is discarded and rebuilt — and never fails
// the job by itself: only the cold boot's failure does, as before snapshots. Also makes the pool's guests.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../../../shared/logger.js';
import type { ProcessOwner } from '../../../process-owner.js';
import type { RuntimeLogEntry } from '../../runtime.js';
import { WARM_UP_SCRIPT } from '../agent/agent-script.js';
import { AgentVm, MAX_IMAGE_DISKS, type AgentVmOptions } from '../agent/agent-vm.js';
import { stepEnvironment, stepLauncherScript } from '../agent/step-launcher.js';
import type { GuestPlatform } from '../guest/guest-platform.js';
import { createWorkspaceDisk, MIN_DISK_BYTES } from '../images/workspace-disk.js';
import { createVmRunDir } from '../vm-janitor.js';
import { shapeOf, short, type GuestSnapshot, type SnapshotShape, type SnapshotStore } from './guest-snapshot.js';
import type { WarmPool } from './warm-pool.js';

/** Image slots of the usual snapshot and of every pooled guest: most jobs use one to three images. */
export const DEFAULT_IMAGE_SLOTS = 4;
/** QEMU spawned → the agent ready, booting. */
const BOOT_TIMEOUT_MS = { kvm: 15_000, tcg: 90_000 } as const;
/** Each of: QEMU spawned → the saved state loaded; resumed → ready; a pooled guest's warm-up. Generous: a slow restore still beats a boot. */
const RESTORE_TIMEOUT_MS = { kvm: 10_000, tcg: 60_000 } as const;
const PLACEHOLDER_BYTES = 1024 * 1024;

/** A guest restored from the snapshot, warmed up and paused, waiting in the pool for a job. */
export interface PooledGuest {
  vm: AgentVm;
  /** Its run directory: the job that takes it puts its workspace disk here. */
  runDir: string;
  /** The empty scratch disk made with the guest (a job's scratch disk is always empty): the job's. */
  scratchDisk: string;
  /** QEMU's `-name`. */
  name: string;
  snapshot: GuestSnapshot;
  /** When it was restored (ms since the epoch). */
  restoredAt: number;
}

/** The job's disks, in the job's run directory (the pooled guest's, when it came from the pool). */
export interface JobDisks {
  workspaceDisk: string;
  scratchDisk: string;
  /** Distinct step image disks, in the order of the guest's image slots. */
  imageDisks: string[];
}

/** Which way a guest came up (the benchmark and the tests read it; the log entry says it in words). */
export type GuestPath = 'pool' | 'snapshot' | 'cold';

export interface GuestStarterOptions {
  platform: GuestPlatform;
  memoryMiB: number;
  cpus: number;
  /** VM names: `<vmPrefix>-pool-<random>` for pooled guests. */
  vmPrefix: string;
  /** Size of a job's workspace and scratch disks (EXECUTOR_FIRECRACKER_DISK_SPACE), for pooled guests' scratch disks. */
  diskBytes: number;
  /** Off (EXECUTOR_VM_SNAPSHOTS=false): every guest boots. */
  snapshots: SnapshotStore | undefined;
  /** Where pooled guests get their run directories (TMPDIR). */
  runParentDir: string;
  owner: ProcessOwner;
  activeRunDirs: Set<string>;
  logger: Logger;
}

export interface StartGuestRequest {
  /** QEMU's `-name` of a guest booted or restored now, and the guest's hostname whichever way. */
  vmName: string;
  runDir: string;
  disks: JobDisks;
  /** Taken from the pool for this job, if there was one. */
  pooled: PooledGuest | undefined;
  /** Whether the runtime has a pool at all (for the log's explanation). */
  poolSize: number;
  entry: RuntimeLogEntry;
  signal: AbortSignal;
}

export class GuestStarter {
  /** Set by the runtime after the pool exists (the pool's create() is this starter's createPooledGuest). */
  pool: WarmPool<PooledGuest> | undefined;

  constructor(private readonly options: GuestStarterOptions) {}

  /** The shape of this executor's guests with `imageSlots` image disks. */
  shape(imageSlots: number): SnapshotShape {
    return shapeOf(this.options.platform, this.options.memoryMiB, this.options.cpus, imageSlots);
  }

  /** The image slots a job with `images` distinct images is restored with. */
  static slotsFor(images: number): number {
    return images <= DEFAULT_IMAGE_SLOTS ? DEFAULT_IMAGE_SLOTS : MAX_IMAGE_DISKS;
  }

  /** The QEMU command line the first way tried will run, for the log entry's command. */
  firstCommandLine(request: Pick<StartGuestRequest, 'vmName' | 'runDir' | 'disks' | 'pooled'>): string[] {
    if (request.pooled) return request.pooled.vm.argv;
    return AgentVm.commandLine(this.vmOptions(request.vmName, request.runDir, request.disks, undefined));
  }

  /**
   * The job's guest, ready for its steps, and the way it came. Rejects only when the cold boot fails
   * (`vm.*` as AgentVm.start) or `signal` aborts (with its reason); on rejection no QEMU is left.
   */
  async start(request: StartGuestRequest): Promise<{ vm: AgentVm; path: GuestPath }> {
    const { entry, signal } = request;
    const { accel } = this.options.platform;
    let why: string | undefined;
    if (request.pooled) {
      const { vm, name, snapshot, restoredAt } = request.pooled;
      try {
        const startedAt = performance.now();
        await vm.replaceDisks(request.disks);
        await vm.resume(request.vmName, signal, RESTORE_TIMEOUT_MS[accel]);
        const readyMs = Math.round(performance.now() - startedAt);
        entry.write('stdout', `from the warm pool: guest ${name}, restored from snapshot ${short(snapshot.digest)} ${formatAge(Date.now() - restoredAt)} ago; ready in ${readyMs} ms (the job's disks attached, clock and random seed set, disks mounted)\n`);
        return { vm, path: 'pool' };
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        await vm.kill();
        why = `the warm pool's guest ${name} failed (${firstLine(err)})`;
        entry.write('stderr', `${why}; starting a guest of the job's own\n`);
        this.options.logger.warn('vm runtime: a pooled guest failed; starting one for the job', { guest: name, error: err });
      }
    } else if (request.poolSize > 0) {
      const images = request.disks.imageDisks.length;
      why =
        images > DEFAULT_IMAGE_SLOTS
          ? `the job uses ${images} images, more than a pooled guest's ${DEFAULT_IMAGE_SLOTS} image slots`
          : `the warm pool had no guest ready (${this.pool?.state ?? 'filling'}, size ${request.poolSize})`;
    }

    const store = this.options.snapshots;
    const slots = GuestStarter.slotsFor(request.disks.imageDisks.length);
    if (store) {
      const found = await store.find(this.shape(slots));
      if (found.snapshot) {
        const snapshot = found.snapshot;
        const options = this.vmOptions(request.vmName, request.runDir, request.disks, snapshot);
        if (request.pooled) entry.write('stdout', `restoring: ${AgentVm.commandLine(options, { kind: 'restore', saved: snapshot }).join(' ')}\n`);
        let vm: AgentVm | undefined;
        try {
          const startedAt = performance.now();
          vm = await AgentVm.restore(options, snapshot, signal);
          await vm.resume(request.vmName, signal, RESTORE_TIMEOUT_MS[accel]);
          const readyMs = Math.round(performance.now() - startedAt);
          entry.write(
            'stdout',
            `restored from snapshot ${short(snapshot.digest)} in ${readyMs} ms (state loaded in ${Math.round(vm.bootToReadyMs)} ms, resumed in ${Math.round(vm.resumeToReadyMs)} ms)${why ? `; ${why}` : ''}\n`,
          );
          return { vm, path: 'snapshot' };
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          await vm?.kill();
          why = `the snapshot ${short(snapshot.digest)} failed to restore (${firstLine(err)}); it is discarded and rebuilt in the background`;
          entry.write('stderr', `${why}\n`);
          this.options.logger.warn('vm runtime: a snapshot failed to restore; booting the guest', { digest: snapshot.digest, error: err });
          await store.discard(snapshot, firstLine(err));
          void store.ensure(this.shape(slots)).catch(() => {});
        }
      } else {
        why = found.why;
      }
    } else {
      why = 'snapshots are off (EXECUTOR_VM_SNAPSHOTS=false)';
    }

    const options = this.vmOptions(request.vmName, request.runDir, request.disks, undefined);
    if (request.pooled || store) entry.write('stdout', `booting: ${AgentVm.commandLine(options).join(' ')}\n`);
    const vm = await AgentVm.start(options, signal);
    entry.write('stdout', `cold boot in ${Math.round(vm.bootToReadyMs)} ms (QEMU started → agent ready): ${why}\n`);
    return { vm, path: 'cold' };
  }

  /** A guest for the pool: restored from the usual snapshot (built first if need be), warmed up, paused. */
  async createPooledGuest(signal: AbortSignal): Promise<PooledGuest> {
    const store = this.options.snapshots;
    if (!store) throw new Error('GuestStarter.createPooledGuest: snapshots are off');
    const snapshot = await store.ensure(this.shape(DEFAULT_IMAGE_SLOTS));
    signal.throwIfAborted();
    const name = `${this.options.vmPrefix}-pool-${randomBytes(4).toString('hex')}`;
    const runDir = await createVmRunDir(this.options.runParentDir, 'pool', this.options.owner, this.options.activeRunDirs);
    let vm: AgentVm | undefined;
    try {
      // A placeholder for the workspace, which the job's disk replaces, and the job's scratch disk already
      // (empty for every job): the guest probes both during its warm-up and mounts neither.
      const workspaceDisk = path.join(runDir, 'placeholder-work.img');
      const scratchDisk = path.join(runDir, 'scratch.ext4');
      const empty = await fs.mkdtemp(path.join(runDir, 'empty-'));
      await Promise.all([sparseFile(workspaceDisk), createWorkspaceDisk({ fromDir: empty, imagePath: scratchDisk, sizeBytes: Math.max(MIN_DISK_BYTES, this.options.diskBytes) })]);
      await fs.rmdir(empty);
      const options: AgentVmOptions = {
        ...this.vmOptions(name, runDir, { workspaceDisk, scratchDisk, imageDisks: [snapshot.warmUpImage] }, snapshot),
        name,
      };
      const { accel } = this.options.platform;
      try {
        vm = await AgentVm.restore(options, snapshot, signal);
      } catch (err) {
        if (!signal.aborted && err instanceof Error && 'code' in err && err.code === 'vm.restore_failed') await store.discard(snapshot, firstLine(err));
        throw err;
      }
      const warmUp = stepLauncherScript({
        step: { key: 'warm-up', index: 0, image: 'warm-up', scriptPath: WARM_UP_SCRIPT, dir: '', env: [] },
        imageIndex: 0,
        env: stepEnvironment([], [], name),
        hostname: name,
      });
      const warmUpStartedAt = performance.now();
      await vm.warmUp(warmUp, RESTORE_TIMEOUT_MS[accel]);
      signal.throwIfAborted();
      this.options.logger.info('vm warm pool: a guest is ready', { guest: name, restoreMs: Math.round(vm.bootToReadyMs), warmUpMs: Math.round(performance.now() - warmUpStartedAt) });
      return { vm, runDir, scratchDisk, name, snapshot, restoredAt: Date.now() };
    } catch (err) {
      await vm?.kill();
      await this.removeRunDir(runDir);
      throw err;
    }
  }

  /** Stops a pooled guest that no job took, and removes its run directory. */
  async destroyPooledGuest(guest: PooledGuest): Promise<void> {
    await guest.vm.kill();
    await this.removeRunDir(guest.runDir);
  }

  private async removeRunDir(runDir: string): Promise<void> {
    await fs.rm(runDir, { recursive: true, force: true }).catch(() => {});
    this.options.activeRunDirs.delete(runDir);
  }

  private vmOptions(name: string, runDir: string, disks: JobDisks, snapshot: GuestSnapshot | undefined): AgentVmOptions {
    const { platform } = this.options;
    return {
      kernel: platform.kernel,
      initramfsPath: platform.initramfsPath,
      accel: platform.accel,
      memoryMiB: this.options.memoryMiB,
      cpus: this.options.cpus,
      name,
      runDir,
      workspaceDisk: disks.workspaceDisk,
      scratchDisk: disks.scratchDisk,
      imageDisks: disks.imageDisks,
      ...(snapshot ? { imageSlots: snapshot.shape.imageSlots, placeholderDisk: snapshot.placeholderDisk } : {}),
      bootTimeoutMs: snapshot ? RESTORE_TIMEOUT_MS[platform.accel] : BOOT_TIMEOUT_MS[platform.accel],
      qemuBinary: platform.qemuPath,
      wrapper: platform.qemuWrapper,
    };
  }
}

async function sparseFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'w', 0o600);
  try {
    await handle.truncate(PLACEHOLDER_BYTES);
  } finally {
    await handle.close();
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

function formatAge(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 1000).toFixed(1)} s`;
}
