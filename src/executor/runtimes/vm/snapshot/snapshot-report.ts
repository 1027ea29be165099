// The snapshot's state for people: one line for `executor validate` and `executor test-vm` saying whether
// this configuration's guests start from a snapshot (and how fast one comes up from it), or boot until
// `executor run` has built one, or boot because snapshots are off.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseMemorySize } from '../../../../shared/byte-size.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { ExecutorConfig } from '../../../config.js';
import { currentProcessOwner } from '../../../process-owner.js';
import type { GuestPlatform } from '../guest/guest-platform.js';
import { createWorkspaceDisk, MIN_DISK_BYTES } from '../images/workspace-disk.js';
import { AgentVm } from '../agent/agent-vm.js';
import { createVmRunDir } from '../vm-janitor.js';
import { short, SnapshotStore, type GuestSnapshot } from './guest-snapshot.js';
import { DEFAULT_IMAGE_SLOTS, GuestStarter } from './guest-starter.js';

export interface SnapshotReportOptions {
  config: Pick<ExecutorConfig, 'vmSnapshots' | 'vmWarmPoolSize' | 'vmCacheDir' | 'jobMemoryText' | 'jobNumCpus' | 'workspaceParentDir' | 'vmPrefix'>;
  platform: GuestPlatform;
  /** Restore a guest from a ready snapshot (and stop it) to see that it comes up. */
  probe: boolean;
}

/** `ok` false only when a ready snapshot was probed and did not come up (jobs then boot their guests). Never throws. */
export async function reportSnapshot(options: SnapshotReportOptions): Promise<{ ok: boolean; detail: string }> {
  const { config, platform } = options;
  if (!config.vmSnapshots) return { ok: true, detail: 'off (EXECUTOR_VM_SNAPSHOTS=false): every guest boots' };
  const owner = currentProcessOwner();
  const store = new SnapshotStore({ dir: path.join(config.vmCacheDir, 'snapshots'), runParentDir: config.workspaceParentDir, owner, activeRunDirs: new Set(), logger: silentLogger, bootTimeoutMs: 0 });
  const starter = new GuestStarter({
    platform,
    memoryMiB: Math.floor(parseMemorySize(config.jobMemoryText) / 1024 / 1024),
    cpus: config.jobNumCpus,
    vmPrefix: config.vmPrefix,
    diskBytes: MIN_DISK_BYTES,
    snapshots: store,
    runParentDir: config.workspaceParentDir,
    owner,
    activeRunDirs: new Set(),
    logger: silentLogger,
  });
  const pool = config.vmWarmPoolSize > 0 ? `, and ${config.vmWarmPoolSize} of them ${config.vmWarmPoolSize === 1 ? 'is' : 'are'} kept warm (EXECUTOR_VM_WARM_POOL_SIZE)` : ' (no warm pool: EXECUTOR_VM_WARM_POOL_SIZE=0)';
  try {
    const status = await store.describe(starter.shape(DEFAULT_IMAGE_SLOTS));
    if (status.state === 'missing') {
      return { ok: true, detail: `none yet for this configuration (${short(status.digest)}): \`executor run\` builds it in the background at start (one boot and a save), and jobs boot their guests until it is ready` };
    }
    if (status.state === 'invalid') return { ok: true, detail: `the one for this configuration (${short(status.digest)}) was unusable (${status.problem}) and was removed; \`executor run\` builds a new one` };
    if (status.state !== 'ready') return { ok: true, detail: `${status.state} (${short(status.digest)})` };
    const { snapshot } = status;
    const about = `${short(snapshot.digest)}, saved ${snapshot.createdAt} in ${(snapshot.buildMs / 1000).toFixed(1)} s, ${formatMiB(snapshot.allocatedBytes)} on disk (${formatMiB(snapshot.stateBytes)} of device state) in ${snapshot.dir}`;
    if (!options.probe) return { ok: true, detail: `ready: ${about}; guests start from it${pool}` };
    const readyMs = await probeRestore(options, starter, snapshot);
    return { ok: true, detail: `ready: ${about}; a guest restored from it was ready in ${readyMs} ms; guests start from it${pool}` };
  } catch (err) {
    return { ok: false, detail: `it did not restore here (${(err as Error).message.split('\n')[0]}): jobs boot their guests, and \`executor run\` discards and rebuilds it` };
  }
}

/** Restores a guest with empty disks, waits for its agent, and stops it; resolves with spawn → ready in ms. */
async function probeRestore(options: SnapshotReportOptions, starter: GuestStarter, snapshot: GuestSnapshot): Promise<number> {
  const runDir = await createVmRunDir(options.config.workspaceParentDir, 'probe', currentProcessOwner(), new Set());
  let vm: AgentVm | undefined;
  try {
    const empty = await fs.mkdtemp(path.join(runDir, 'empty-'));
    const workspaceDisk = path.join(runDir, 'workspace.ext4');
    const scratchDisk = path.join(runDir, 'scratch.ext4');
    await Promise.all([workspaceDisk, scratchDisk].map((imagePath) => createWorkspaceDisk({ fromDir: empty, imagePath, sizeBytes: MIN_DISK_BYTES })));
    const shape = starter.shape(DEFAULT_IMAGE_SLOTS);
    const timeoutMs = shape.accel === 'kvm' ? 10_000 : 60_000;
    const signal = AbortSignal.timeout(2 * timeoutMs);
    const startedAt = performance.now();
    vm = await AgentVm.restore(
      {
        ...shape,
        name: `${options.config.vmPrefix}-probe`,
        runDir,
        workspaceDisk,
        scratchDisk,
        imageDisks: [],
        placeholderDisk: snapshot.placeholderDisk,
        bootTimeoutMs: timeoutMs,
        qemuBinary: shape.qemuPath,
        wrapper: shape.qemuWrapper,
      },
      snapshot,
      signal,
    );
    await vm.resume(`${options.config.vmPrefix}-probe`, signal, timeoutMs);
    return Math.round(performance.now() - startedAt);
  } finally {
    await vm?.kill();
    await fs.rm(runDir, { recursive: true, force: true }).catch(() => {});
  }
}

function formatMiB(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
}
