// Workspaces an earlier executor process on this host left behind (it crashed or was killed before its
// teardown, reference §4.13): each workspace carries an owner marker, and on start those whose owner is
// gone are deleted. A workspace without a marker is not ours to judge and is left alone.
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { currentProcessOwner, processOwnerIsAlive, type ProcessOwner } from '../process-owner.js';

/** The owner marker's file name, at the root of each workspace. */
export const OWNER_MARKER_FILE = '.executor-owner';

/** Workspace directory names under the parent (`workspace-<jobId>-XXXXXX`, workspace.ts). */
const WORKSPACE_PREFIX = 'workspace-';

/** A job's registry credentials for `docker --config`, beside its workspace (docker runtime), with the same marker. */
export const DOCKER_CONFIG_DIR_PREFIX = 'executor-docker-';

/** A shell job's HOME and TMPDIR, beside its workspace (shell runtime), with the same marker. */
export const SHELL_HOME_DIR_PREFIX = 'executor-shell-';

/** The directories under the parent that carry an owner marker and are removed when their owner is gone. */
const OWNED_DIR_PREFIXES = [WORKSPACE_PREFIX, DOCKER_CONFIG_DIR_PREFIX, SHELL_HOME_DIR_PREFIX];

/** The content of `.executor-owner`. */
export type WorkspaceOwner = ProcessOwner;

/** This process as a workspace owner. */
export function currentWorkspaceOwner(executorName = ''): WorkspaceOwner {
  return currentProcessOwner(executorName);
}

/** Writes the marker into a new workspace; the file must not exist yet. */
export async function writeOwnerMarker(workspaceDir: string, owner: WorkspaceOwner): Promise<void> {
  await fs.writeFile(path.join(workspaceDir, OWNER_MARKER_FILE), `${JSON.stringify(owner)}\n`, { flag: 'wx', mode: 0o600 });
}

/**
 * Deletes the `workspace-*`, `executor-docker-*` and `executor-shell-*` directories under `parentDir` whose marker names a process that is gone: its
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
    if (!entry.isDirectory() || !OWNED_DIR_PREFIXES.some((prefix) => entry.name.startsWith(prefix))) continue;
    const dir = path.join(parentDir, entry.name);
    const owner = await readOwnerMarker(dir);
    if (!owner) continue;
    if (processOwnerIsAlive(owner)) continue;
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
export async function readOwnerMarker(dir: string): Promise<WorkspaceOwner | undefined> {
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
