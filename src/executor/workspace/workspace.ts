// A job's workspace on the executor host (reference §4.5, docker and shell runtimes): a fresh temp
// directory with the repository checked out through the git proxy, the job's files, and the step scripts.
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { CoordinatorClient, DequeuedJob } from '../client/coordinator-client.js';
import { cloneRepository, type HostEnv } from './git-clone.js';
import { startGitProxy } from './git-proxy.js';
import { currentWorkspaceOwner, OWNER_MARKER_FILE, writeOwnerMarker } from './leftover-workspaces.js';
import { spawnCommand, type RunCommand } from './spawn-command.js';
import { writeStepScripts } from './step-scripts.js';
import { writeWorkspaceFiles } from './workspace-files.js';
import { isInside, makeDirectoryInside } from './workspace-path.js';

/** A log entry the workspace writes itself (`setup.fs.extras`); the worker's log streamer provides it. */
export interface WorkspaceLogEntry {
  /** Appends output to the entry. */
  write(text: string): void;
  /** Sets the exit code and duration; called once. */
  finalize(exitCode: number): void;
}

export interface PrepareWorkspaceOptions {
  job: DequeuedJob;
  /** The coordinator: git upstream and credentials for the proxy, and the files store. */
  client: Pick<CoordinatorClient, 'gitBaseUrl' | 'gitProxyHeaders' | 'getFile'> & Partial<Pick<CoordinatorClient, 'executorName'>>;
  /** Where workspaces are created (the config's workspaceParentDir: TMPDIR or the system default). */
  tmpDir: string;
  /**
   * Prepare this existing directory instead of a new one under `tmpDir` (the kubernetes job pod's volume):
   * no owner marker is written (no executor on this host will look for leftovers), and `remove` and a
   * failure leave it (its owner, the pod, goes away with it).
   */
  workspaceDir?: string;
  /** Written into the workspace's owner marker (leftover-workspaces.ts). Default the client's `executorName`, else empty. */
  executorName?: string;
  /** Runs each git command as its own log entry. Default `spawnCommand` (output collected, not logged). */
  runCommand?: RunCommand;
  /** The job's signal: aborting it kills a running git command and stops preparation. */
  signal: AbortSignal;
  logger: Logger;
  /** Extra CA certificates (PEM) for an https coordinator, as given to the CoordinatorClient. */
  ca?: ReadonlyArray<string | Buffer>;
  /** PATH and HOME for git. Default the executor's own. */
  hostEnv?: HostEnv;
  /** Opens the `setup.fs.extras` entry, only when the job has files. Default: none, lines go to the debug log. */
  openLogEntry?: (key: string, command: string[]) => WorkspaceLogEntry;
}

/** A prepared workspace. */
export interface Workspace {
  /** Absolute path of the workspace directory (`<tmpDir>/workspace-<jobId>-XXXXXX`). */
  readonly path: string;
  /** One script per docker step, relative to `path`, in step order. */
  readonly scriptPaths: readonly string[];
  /**
   * Deletes the workspace unless `keep` (EXECUTOR_KEEP_WORKSPACES, then its path is logged). Never
   * throws: a cleanup failure is logged, never a job failure (reference §4.13). Idempotent.
   */
  remove(keep: boolean): Promise<void>;
}

/**
 * Creates the workspace: when the job names a repository, clones it at `commit` into the workspace or
 * `<workspace>/<repositoryDirectory>` through a git proxy closed right after; then writes the job's
 * files and one script per docker step. On failure the directory is deleted and the error rethrown:
 * `workspace.command_failed` (a git command), `workspace.path_outside`, `workspace.invalid_job`,
 * `workspace.invalid_file`, a CoordinatorError from the files store, or `signal.reason`.
 */
export async function prepareWorkspace(options: PrepareWorkspaceOptions): Promise<Workspace> {
  const { job, signal } = options;
  const logger = options.logger.with({ jobId: job.id, queue: job.queue });
  signal.throwIfAborted();
  const given = options.workspaceDir !== undefined;
  const workspaceDir = options.workspaceDir ?? (await fs.mkdtemp(path.join(options.tmpDir, `workspace-${job.id}-`)));
  let removed: Promise<void> | undefined;
  const remove = (keep: boolean): Promise<void> => {
    if (given) return Promise.resolve();
    if (keep) {
      logger.info('keeping the workspace', { path: workspaceDir });
      return Promise.resolve();
    }
    removed ??= fs.rm(workspaceDir, { recursive: true, force: true }).catch((err: unknown) => logger.warn('cannot remove the workspace', { path: workspaceDir, error: err }));
    return removed;
  };

  try {
    // First, so a workspace left by a crash at any later point is recognised as ours on the next start.
    if (!given) await writeOwnerMarker(workspaceDir, currentWorkspaceOwner(options.executorName ?? options.client.executorName ?? ''));
    if (job.repositoryName) {
      const repositoryDir = await repositoryDirectory(workspaceDir, job.repositoryDirectory);
      const proxy = await startGitProxy({ client: options.client, job, repositoryName: job.repositoryName, ca: options.ca, logger });
      try {
        await cloneRepository({
          dir: repositoryDir,
          remoteUrl: proxy.url,
          spec: job,
          runCommand: options.runCommand ?? spawnCommand,
          signal,
          hostEnv: options.hostEnv,
        });
      } finally {
        await proxy.close();
      }
      // Cloned at the workspace root, the marker would be an untracked file in the steps' `git status` and diffs.
      if (repositoryDir === workspaceDir && !given) await excludeFromGit(workspaceDir, OWNER_MARKER_FILE);
    }

    if (Object.keys(job.files).length > 0) {
      signal.throwIfAborted();
      const entry = options.openLogEntry?.('setup.fs.extras', []);
      try {
        await writeWorkspaceFiles({
          workspaceDir,
          job,
          client: options.client,
          signal,
          onLine: (line) => (entry ? entry.write(line) : logger.debug(line.trimEnd())),
        });
        entry?.finalize(0);
      } catch (err) {
        entry?.write(`${err instanceof Error ? err.message : String(err)}\n`);
        entry?.finalize(1);
        throw err;
      }
    }

    signal.throwIfAborted();
    const scriptPaths = await writeStepScripts(workspaceDir, job);
    return { path: workspaceDir, scriptPaths, remove };
  } catch (err) {
    await remove(false);
    throw err;
  }
}

/** The absolute clone directory, created: the workspace itself, or `repositoryDirectory` inside it. */
async function repositoryDirectory(workspaceDir: string, relative: string): Promise<string> {
  if (!relative) return workspaceDir;
  const resolved = path.resolve(workspaceDir, relative);
  if (relative.includes('\0') || path.isAbsolute(relative) || !isInside(workspaceDir, resolved, true)) {
    throw new AppError('workspace.path_outside', `repositoryDirectory: ${JSON.stringify(relative)} is not inside the workspace`);
  }
  return makeDirectoryInside(workspaceDir, resolved, relative);
}

/** Adds `/<name>` to the repository's `.git/info/exclude` (which `git init` templates may not create). */
async function excludeFromGit(repositoryDir: string, name: string): Promise<void> {
  const infoDir = path.join(repositoryDir, '.git', 'info');
  await fs.mkdir(infoDir, { recursive: true });
  await fs.appendFile(path.join(infoDir, 'exclude'), `\n/${name}\n`);
}
