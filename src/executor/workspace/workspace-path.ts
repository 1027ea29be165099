// Paths a job names inside its workspace: refused when they escape it, lexically (`..`, absolute) or
// through a symlink (a cloned repository may carry one that points anywhere).
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';

/** The reference's message for a file outside the workspace (`files.GetWorkspaceFiles`). */
export const OUTSIDE_WORKSPACE_MESSAGE = 'refusing to write outside of working directory';

/** A path a job named escapes the workspace. Code `workspace.path_outside`. */
export class WorkspacePathError extends AppError {
  constructor(
    /** The path as the job named it. */
    readonly requestedPath: string,
  ) {
    super('workspace.path_outside', `${OUTSIDE_WORKSPACE_MESSAGE}: ${JSON.stringify(requestedPath)}`);
  }
}

/**
 * The absolute path of `relativePath` under `rootDir`, checked lexically only: refused when absolute,
 * when it climbs out with `..`, when it names the root itself, or holds a NUL byte.
 */
export function resolveWorkspacePath(rootDir: string, relativePath: string): string {
  if (relativePath === '' || relativePath.includes('\0') || path.isAbsolute(relativePath)) throw new WorkspacePathError(relativePath);
  const resolved = path.resolve(rootDir, relativePath);
  if (!isInside(path.resolve(rootDir), resolved)) throw new WorkspacePathError(relativePath);
  return resolved;
}

/**
 * `mkdir -p dir`, where `dir` is under `rootDir`, without following a symlink out of the root: the
 * deepest existing ancestor is checked before anything is created, and the result after.
 * @returns the real path of `dir`.
 */
export async function makeDirectoryInside(rootDir: string, dir: string, requestedPath: string): Promise<string> {
  const realRoot = await fs.realpath(rootDir);
  let existing = dir;
  let realExisting = await realpathIfExists(existing);
  while (realExisting === undefined) {
    // A dangling symlink reads as missing too; mkdir below then fails with EEXIST rather than follow it.
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
    realExisting = await realpathIfExists(existing);
  }
  if (realExisting === undefined || !isInside(realRoot, realExisting, true)) throw new WorkspacePathError(requestedPath);
  await fs.mkdir(dir, { recursive: true });
  const realDir = await fs.realpath(dir);
  // Something swapped a directory for a symlink between the check and mkdir.
  if (!isInside(realRoot, realDir, true)) throw new WorkspacePathError(requestedPath);
  return realDir;
}

/**
 * What writing several files into one workspace learned: the root's real path, and the directories made
 * (and checked) already with their real paths. Only for files written before any step runs, when
 * nothing else changes the workspace: a directory checked once stays what it was.
 */
export interface KnownDirectories {
  realRoot: string;
  /** Directory (absolute, as named) → its real path, inside the root. */
  dirs: Map<string, string>;
}

export async function knownDirectories(rootDir: string): Promise<KnownDirectories> {
  return { realRoot: await fs.realpath(rootDir), dirs: new Map() };
}

/**
 * Where to write the file `absPath` (under `rootDir`): its parent is created inside the root, and a
 * symlink in its place is followed only when it stays inside. With `known`, the root and a parent met
 * before are not looked up again.
 * @returns the real path to write to; open it with O_NOFOLLOW.
 */
export async function prepareFileInside(rootDir: string, absPath: string, requestedPath: string, known?: KnownDirectories): Promise<string> {
  const realRoot = known?.realRoot ?? (await fs.realpath(rootDir));
  const dir = path.dirname(absPath);
  let realParent = known?.dirs.get(dir);
  if (realParent === undefined) {
    realParent = await makeDirectoryInside(rootDir, dir, requestedPath);
    known?.dirs.set(dir, realParent);
  }
  const target = path.join(realParent, path.basename(absPath));
  const stat = await fs.lstat(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stat?.isSymbolicLink()) return target;
  // A dangling link cannot be resolved: refuse it rather than create whatever it names.
  const real = await fs.realpath(target).catch(() => undefined);
  if (real === undefined || !isInside(realRoot, real)) throw new WorkspacePathError(requestedPath);
  return real;
}

async function realpathIfExists(p: string): Promise<string | undefined> {
  try {
    return await fs.realpath(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether `child` is strictly below `parent` (or equal to it, with `orEqual`); both absolute and normalized. */
export function isInside(parent: string, child: string, orEqual = false): boolean {
  const rel = path.relative(parent, child);
  if (rel === '') return orEqual;
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}
