// Removes VMs that no live job owns (reference §4.13, the original's janitor): each VM has a private run
// directory `executor-vm-<jobId>-XXXXXX` beside the workspaces holding its disks, its sockets, QEMU's pid
// file and an owner marker. A directory whose owner process is gone (a killed executor), or that this
// process owns but no running job uses (a leak), has its QEMU killed and is deleted. QEMU is normally
// started under `setpriv --pdeathsig KILL` and dies with its executor; the janitor covers hosts without
// setpriv and the disks, which nothing else would remove.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../../shared/logger.js';
import { processOwnerIsAlive, type ProcessOwner } from '../../process-owner.js';
import { readOwnerMarker, writeOwnerMarker } from '../../workspace/leftover-workspaces.js';

/** Run directory names under the workspace parent. */
export const VM_RUN_DIR_PREFIX = 'executor-vm-';
/** QEMU's `-pidfile` in a run directory. */
export const QEMU_PID_FILE = 'qemu.pid';

export interface RemoveLeftoverVmsOptions {
  /** The workspace parent directory (TMPDIR) where run directories are made. */
  parentDir: string;
  /** Run directories of this process's running jobs: never touched. */
  active: ReadonlySet<string>;
  logger: Logger;
}

/** Resolves with how many run directories it removed. Never throws. */
export async function removeLeftoverVms(options: RemoveLeftoverVmsOptions): Promise<number> {
  const { parentDir, active, logger } = options;
  let entries;
  try {
    entries = await fs.readdir(parentDir, { withFileTypes: true });
  } catch (err) {
    logger.warn('vm janitor: cannot list the workspace parent directory', { path: parentDir, error: err });
    return 0;
  }
  let removed = 0;
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(VM_RUN_DIR_PREFIX)) continue;
    const dir = path.join(parentDir, entry.name);
    if (active.has(dir)) continue;
    const owner = await readOwnerMarker(dir);
    // No marker: not (yet) a run directory of an executor; a new one gets its marker before its disks.
    if (!owner) continue;
    // This process's own, not in use: leaked. Another live executor's: its business. Otherwise its owner
    // is gone (a pid equal to ours but an earlier start is a previous process, e.g. PID 1 of a restarted container).
    const ours = owner.pid === process.pid && processOwnerIsAlive(owner);
    if (!ours && processOwnerIsAlive(owner)) continue;
    await killQemuOf(dir, logger);
    try {
      await fs.rm(dir, { recursive: true, force: true });
      removed++;
      logger.info('vm janitor: removed a VM no job owns', { path: dir, ownerPid: owner.pid, ownerExecutor: owner.executorName });
    } catch (err) {
      logger.warn('vm janitor: cannot remove a VM run directory', { path: dir, error: err });
    }
  }
  return removed;
}

/**
 * SIGKILLs the QEMU of a run directory: the pid from its pid file, only when that process's command line
 * names this directory (the pid may have been reused since).
 */
async function killQemuOf(dir: string, logger: Logger): Promise<void> {
  const pid = Number((await fs.readFile(path.join(dir, QEMU_PID_FILE), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.split('\0').some((arg) => arg.includes(`${dir}/`))) return;
  try {
    process.kill(pid, 'SIGKILL');
    logger.info('vm janitor: killed an orphaned VM', { pid, path: dir });
  } catch {
    // Gone meanwhile.
  }
  // Its disks are deleted next; wait (briefly) until the process is gone so nothing writes them after.
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A new run directory `<parentDir>/executor-vm-<label>-XXXXXX` (0700) with this process's owner marker,
 * registered in `active` so that this process's janitor leaves it alone until the caller deletes it.
 */
export async function createVmRunDir(parentDir: string, label: string, owner: ProcessOwner, active: Set<string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(parentDir, `${VM_RUN_DIR_PREFIX}${label}-`));
  active.add(dir);
  try {
    await fs.chmod(dir, 0o700);
    // Before any disk or QEMU: a marker-less directory is left alone by every janitor.
    await writeOwnerMarker(dir, owner);
    return dir;
  } catch (err) {
    active.delete(dir);
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}
