// Workspaces an earlier executor process on this host left behind (it crashed or was killed before its
// teardown, reference §4.13): each workspace carries an owner marker, and on start those whose owner is
// gone are deleted. A workspace without a marker is not ours to judge and is left alone.
import { constants as fsConstants, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';

/** The owner marker's file name, at the root of each workspace. */
export const OWNER_MARKER_FILE = '.executor-owner';

/** Workspace directory names under the parent (`workspace-<jobId>-XXXXXX`, workspace.ts). */
const WORKSPACE_PREFIX = 'workspace-';

/**
 * Slack, in ms, when comparing a live process's start time with a marker's `startedAt`: /proc gives the
 * boot time in whole seconds and the start in clock ticks, and `process.uptime()` starts a little
 * after exec. A pid reused within this long of the old process's start is not plausible.
 */
const START_TIME_SLACK_MS = 5_000;

/** The content of `.executor-owner`. */
export interface WorkspaceOwner {
  /** The executor process that created the workspace. */
  pid: number;
  /** When that process started, in ms since the epoch. */
  startedAt: number;
  /** Its executor name (`<hostname>-<uuid>`), for people reading the marker; empty when unknown. */
  executorName: string;
}

/** This process as a workspace owner. */
export function currentWorkspaceOwner(executorName = ''): WorkspaceOwner {
  return { pid: process.pid, startedAt: processStartedAt(), executorName };
}

/** This process's start, in ms since the epoch. */
function processStartedAt(): number {
  return Math.round(Date.now() - process.uptime() * 1000);
}

/** Writes the marker into a new workspace; the file must not exist yet. */
export async function writeOwnerMarker(workspaceDir: string, owner: WorkspaceOwner): Promise<void> {
  await fs.writeFile(path.join(workspaceDir, OWNER_MARKER_FILE), `${JSON.stringify(owner)}\n`, { flag: 'wx', mode: 0o600 });
}

/**
 * Deletes the `workspace-*` directories under `parentDir` whose marker names a process that is gone: its
 * pid is not alive, or is alive but started after the marker's `startedAt` (the pid was reused, as for
 * an executor that is pid 1 of a restarted container). Symlinks are never followed. Never throws: a
 * directory it cannot read or delete is logged and skipped. Resolves to the number deleted.
 */
export async function removeLeftoverWorkspaces(parentDir: string, logger: Logger): Promise<number> {
  let entries;
  try {
    entries = await fs.readdir(parentDir, { withFileTypes: true });
  } catch (err) {
    logger.warn('cannot list the workspace parent directory for leftover workspaces', { path: parentDir, error: err });
    return 0;
  }
  let removed = 0;
  for (const entry of entries) {
    // Dirent types come from lstat: a symlink named workspace-* is a symlink here, never a directory.
    if (!entry.isDirectory() || !entry.name.startsWith(WORKSPACE_PREFIX)) continue;
    const dir = path.join(parentDir, entry.name);
    const owner = await readOwnerMarker(dir);
    if (!owner) continue;
    if (ownerIsAlive(owner)) continue;
    try {
      // rm does not follow symlinks inside the tree: it unlinks them.
      await fs.rm(dir, { recursive: true, force: true });
      removed++;
      logger.info('removed a leftover workspace', { path: dir, ownerPid: owner.pid, ownerExecutor: owner.executorName });
    } catch (err) {
      logger.warn('cannot remove a leftover workspace', { path: dir, error: err });
    }
  }
  return removed;
}

/** The marker of `dir`, or undefined when it is missing, a symlink, or not a marker. */
async function readOwnerMarker(dir: string): Promise<WorkspaceOwner | undefined> {
  let text: string;
  try {
    const handle = await fs.open(path.join(dir, OWNER_MARKER_FILE), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<WorkspaceOwner>;
    if (!Number.isSafeInteger(value.pid) || value.pid! <= 0 || typeof value.startedAt !== 'number' || !Number.isFinite(value.startedAt)) return undefined;
    return { pid: value.pid!, startedAt: value.startedAt, executorName: typeof value.executorName === 'string' ? value.executorName : '' };
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `owner` still runs. */
function ownerIsAlive(owner: WorkspaceOwner): boolean {
  if (owner.pid === process.pid) return Math.abs(processStartedAt() - owner.startedAt) <= START_TIME_SLACK_MS;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: alive, owned by another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const startedAt = linuxProcessStartedAt(owner.pid);
  // Without /proc, an alive pid counts as the owner: keeping a leftover is safer than deleting a live job's workspace.
  return startedAt === undefined || startedAt <= owner.startedAt + START_TIME_SLACK_MS;
}

/** Linux's USER_HZ: /proc reports start times in these ticks; 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
let bootTimeMs: number | undefined | null = null;

/** When `pid` started, in ms since the epoch, from /proc; undefined where /proc cannot tell. */
function linuxProcessStartedAt(pid: number): number | undefined {
  try {
    if (bootTimeMs === null) {
      const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
      bootTimeMs = btime === undefined ? undefined : Number(btime) * 1000;
    }
    if (bootTimeMs === undefined) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]); // field 22, starttime
    return Number.isFinite(startTicks) ? bootTimeMs + (startTicks / CLOCK_TICKS_PER_SECOND) * 1000 : undefined;
  } catch {
    return undefined;
  }
}
