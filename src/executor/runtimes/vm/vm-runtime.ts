// The vm runtime (EXECUTOR_RUNTIME=vm): every job in a QEMU micro-VM of its own, with the job's disks —
// the workspace (a sparse ext4 copy of the prepared workspace, at /work), a scratch disk for the steps'
// writable layers, and each step image's root filesystem read-only — and each step run inside it by the
// guest's agent in its image's root (agent/step-launcher.ts). The guest sees no host file, and its one
// network device reaches nothing but the job's uplink: the executor's proxy to the coordinator's upload
// routes, with the job's own token (uplink/), which is how code-intel and batch-change steps hand in results. The original boots Ubuntu with systemd and a docker daemon per job (6–10 s, reference
// §5.3); this guest is a kernel and a busybox initramfs, started from a snapshot of a booted one or taken
// warm from a pool (snapshot/), and the images are converted once on the host (images/).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseMemorySize } from '../../../shared/byte-size.js';
import { silentLogger, type Logger } from '../../../shared/logger.js';
import type { ExecutorConfig } from '../../config.js';
import { currentProcessOwner, type ProcessOwner } from '../../process-owner.js';
import { chooseDockerAuthConfig } from '../docker-auth.js';
import type { Runtime, RuntimeJob, RuntimeSetupContext } from '../runtime.js';
import type { AgentVm } from './agent/agent-vm.js';
import type { GuestPlatform } from './guest/guest-platform.js';
import type { StepImageCache, StepImageLease } from './images/step-image-cache.js';
import { createWorkspaceDisk, MIN_DISK_BYTES } from './images/workspace-disk.js';
import { SnapshotStore } from './snapshot/guest-snapshot.js';
import { DEFAULT_IMAGE_SLOTS, GuestStarter, type GuestPath, type PooledGuest } from './snapshot/guest-starter.js';
import { WarmPool } from './snapshot/warm-pool.js';
import { UPLINK_ADDRESS, UPLINK_ENDPOINT, UPLINK_PORT, UPLINK_SOCKET_FILE, usesUplink } from './uplink/uplink-network.js';
import { startUplinkProxy, UPLINK_ROUTES, type UplinkProxy, type UplinkUpstream } from './uplink/uplink-proxy.js';
import { createVmRunDir, removeLeftoverVms } from './vm-janitor.js';
import { VmRuntimeJob } from './vm-runtime-job.js';

export type VmRuntimeConfig = Pick<
  ExecutorConfig,
  | 'name'
  | 'vmPrefix'
  | 'jobNumCpus'
  | 'jobMemoryText'
  | 'vmDiskSpaceBytes'
  | 'workspaceParentDir'
  | 'dockerAuthConfig'
  | 'vmStartupScriptPath'
  | 'keepWorkspaces'
  | 'vmCacheDir'
  | 'vmSnapshots'
  | 'vmWarmPoolSize'
  | 'vmWarmPoolIdleTimeoutMs'
>;

export interface VmRuntimeOptions {
  config: VmRuntimeConfig;
  platform: GuestPlatform;
  images: StepImageCache;
  /** Default silent; the runtime's own log (snapshot builds, the pool). */
  logger?: Logger;
  /**
   * Where each job's uplink proxy forwards the upload routes: the coordinator (EXECUTOR_FRONTEND_URL) and
   * the CA certificates the executor's client trusts. None: the proxy answers 502 (tests without one).
   */
  coordinator?: UplinkUpstream;
}

/** Runs each job in a micro-VM of its own. */
export class VmRuntime implements Runtime {
  readonly name = 'vm' as const;
  private readonly owner: ProcessOwner;
  /** Run directories of this process that are in use (jobs, pooled guests, a snapshot build): the janitor skips them. */
  private readonly activeRunDirs = new Set<string>();
  private readonly snapshots: SnapshotStore | undefined;
  private readonly starter: GuestStarter;
  private readonly pool: WarmPool<PooledGuest> | undefined;
  private readonly logger: Logger;
  private started = false;

  constructor(private readonly options: VmRuntimeOptions) {
    const { config, platform } = options;
    this.owner = currentProcessOwner(config.name);
    this.logger = options.logger ?? silentLogger;
    const bootTimeoutMs = platform.accel === 'kvm' ? 15_000 : 90_000;
    this.snapshots = config.vmSnapshots
      ? new SnapshotStore({ dir: path.join(config.vmCacheDir, 'snapshots'), runParentDir: config.workspaceParentDir, owner: this.owner, activeRunDirs: this.activeRunDirs, logger: this.logger, bootTimeoutMs })
      : undefined;
    this.starter = new GuestStarter({
      platform,
      // As docker reads --memory: EXECUTOR_JOB_MEMORY=256m is 256 MiB on either runtime.
      memoryMiB: Math.floor(parseMemorySize(config.jobMemoryText) / 1024 / 1024),
      cpus: config.jobNumCpus,
      vmPrefix: config.vmPrefix,
      diskBytes: config.vmDiskSpaceBytes,
      snapshots: this.snapshots,
      runParentDir: config.workspaceParentDir,
      owner: this.owner,
      activeRunDirs: this.activeRunDirs,
      logger: this.logger,
    });
    if (this.snapshots && config.vmWarmPoolSize > 0) {
      this.pool = new WarmPool({
        size: config.vmWarmPoolSize,
        idleTimeoutMs: config.vmWarmPoolIdleTimeoutMs,
        create: (signal) => this.starter.createPooledGuest(signal),
        destroy: (guest) => this.starter.destroyPooledGuest(guest),
        logger: this.logger,
      });
      this.starter.pool = this.pool;
    }
  }

  /** The number of guests the pool keeps ready (0: none). */
  get warmPoolSize(): number {
    return this.pool ? this.options.config.vmWarmPoolSize : 0;
  }

  /** Pooled guests ready to be taken now. */
  get warmPoolReady(): number {
    return this.pool?.readyCount ?? 0;
  }

  /**
   * Builds the usual snapshot in the background if there is none, and starts filling the warm pool.
   * Jobs run meanwhile (booting their guests). Idempotent.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.pool) this.pool.start();
    else if (this.snapshots) this.snapshots.ensure(this.starter.shape(DEFAULT_IMAGE_SLOTS)).catch(() => {});
  }

  /** Destroys the pooled guests and stops a snapshot build in flight. Idempotent. */
  async stop(): Promise<void> {
    await this.pool?.stop();
    await this.snapshots?.stop();
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
    let pooled: PooledGuest | undefined;
    let uplink: UplinkProxy | undefined;
    try {
      await this.acquireImages(ctx, leases);
      // One disk per distinct image: two references to the same digest share it.
      const imageDisks = [...new Set([...leases.values()].map((l) => l.diskPath))];
      pooled = imageDisks.length <= DEFAULT_IMAGE_SLOTS ? this.pool?.take() : undefined;
      runDir = pooled?.runDir ?? (await createVmRunDir(config.workspaceParentDir, String(ctx.job.id), this.owner, this.activeRunDirs));
      // Before the guest runs: its first connection may come with its first step. A pooled guest's QEMU
      // was told this path when it was restored (its run directory becomes the job's).
      uplink = await startUplinkProxy({
        socketPath: path.join(runDir, UPLINK_SOCKET_FILE),
        upstream: this.options.coordinator ?? { url: '' },
        job: { id: ctx.job.id, token: ctx.job.token ?? '' },
        executorName: config.name,
        logger: ctx.logger,
      });
      const { vm } = await this.startGuest(ctx, { vmName, runDir, imageDisks, pooled });
      const ownRunDir = runDir;
      const job = new VmRuntimeJob({
        vm,
        vmName,
        runDir,
        workspaceDisk: path.join(runDir, 'workspace.ext4'),
        leases,
        logEntry: ctx.openLogEntry,
        logger: ctx.logger,
        accel: platform.accel,
        uplink,
        keep: config.keepWorkspaces,
        release: () => this.activeRunDirs.delete(ownRunDir),
      });
      if (config.vmStartupScriptPath) {
        try {
          await job.runStartupScript(config.vmStartupScriptPath, ctx.signal);
        } catch (err) {
          await job.teardown();
          throw err;
        }
      }
      return job;
    } catch (err) {
      await uplink?.close();
      for (const lease of leases.values()) lease.release();
      // The guest is gone already unless it failed before the starter used it (its kill is idempotent).
      await pooled?.vm.kill();
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

  /** `setup.vm.start`: the job's workspace and scratch disks, then its guest from the pool, a snapshot, or a boot. */
  private async startGuest(
    ctx: RuntimeSetupContext,
    request: { vmName: string; runDir: string; imageDisks: string[]; pooled: PooledGuest | undefined },
  ): Promise<{ vm: AgentVm; path: GuestPath }> {
    const { config, platform } = this.options;
    const disks = { workspaceDisk: path.join(request.runDir, 'workspace.ext4'), scratchDisk: request.pooled?.scratchDisk ?? path.join(request.runDir, 'scratch.ext4'), imageDisks: request.imageDisks };
    const diskBytes = Math.max(MIN_DISK_BYTES, config.vmDiskSpaceBytes);
    const entry = ctx.openLogEntry('setup.vm.start', this.starter.firstCommandLine({ ...request, disks }));
    try {
      const disksStartedAt = performance.now();
      const emptyDir = await fs.mkdtemp(path.join(request.runDir, 'empty-'));
      await Promise.all([
        createWorkspaceDisk({ fromDir: ctx.workspace.path, imagePath: disks.workspaceDisk, sizeBytes: diskBytes }),
        // A pooled guest came with its (empty) scratch disk.
        request.pooled ? undefined : createWorkspaceDisk({ fromDir: emptyDir, imagePath: disks.scratchDisk, sizeBytes: diskBytes }),
      ]);
      await fs.rmdir(emptyDir);
      entry.write('stdout', `workspace and scratch disks: ${formatBytes(diskBytes)} each, sparse, built in ${Math.round(performance.now() - disksStartedAt)} ms${request.pooled ? " (the scratch disk came with the pool's guest)" : ''}\n`);
      entry.write(
        'stdout',
        `accelerator: ${platform.accel === 'kvm' ? 'KVM' : 'TCG (software emulation, EXECUTOR_VM_ALLOW_EMULATION)'}; ${config.jobNumCpus} vCPU, ${this.memoryMiB()} MiB; ` +
          `network: only the uplink (${UPLINK_ADDRESS}:${UPLINK_PORT} in the guest → the executor's proxy for ${UPLINK_ROUTES.join(', ')} on the coordinator, with the job's token)\n`,
      );
      const uplinkSteps = ctx.job.dockerSteps.map((step, i) => ({ step, i })).filter(({ step }) => usesUplink(step.env));
      if (uplinkSteps.length > 0) {
        const names = uplinkSteps.map(({ step, i }) => step.key || String(i)).join(', ');
        entry.write('stdout', `uplink: SRC_ENDPOINT → executor proxy to the coordinator's upload routes (${UPLINK_ENDPOINT} in the guest, SRC_PROXY dropped) for step ${names}\n`);
      }
      const started = await this.starter.start({ ...request, disks, poolSize: this.warmPoolSize, entry, signal: ctx.signal });
      entry.finalize(0);
      ctx.logger.info('vm runtime: guest ready', { vm: request.vmName, path: started.path, accel: platform.accel });
      return started;
    } catch (err) {
      if (!ctx.signal.aborted) entry.write('stderr', `${(err as Error).message}\n`);
      entry.finalize(ctx.signal.aborted ? -1 : 1);
      throw err;
    }
  }

  private memoryMiB(): number {
    return Math.floor(parseMemorySize(this.options.config.jobMemoryText) / 1024 / 1024);
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
