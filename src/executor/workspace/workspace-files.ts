// Writes a job's `files` into its workspace (reference §3.1, §4.5): content from the payload or the files
// store, mode 0777, `modifiedAt` as atime and mtime, one `Wrote <path> in <duration>` line per file.
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import { AppError } from '../../shared/errors.js';
import { formatGoDuration } from '../../shared/go-duration.js';
import type { CoordinatorClient, DequeuedJob } from '../client/coordinator-client.js';
import { knownDirectories, prepareFileInside, resolveWorkspacePath } from './workspace-path.js';

export interface WriteWorkspaceFilesOptions {
  /** The workspace root: file paths are relative to it (reference §4.5), not to the repository directory. */
  workspaceDir: string;
  job: Pick<DequeuedJob, 'id' | 'queue' | 'token' | 'files'>;
  /** Downloads the files that name a `bucket` and `key`. */
  client: Pick<CoordinatorClient, 'getFile'>;
  signal: AbortSignal;
  /** Receives each `Wrote <path> in <duration>\n` line as it happens, for the `setup.fs.extras` log entry. */
  onLine?: (line: string) => void;
}

/** One file as written. */
export interface WrittenFile {
  /** As the job named it, relative to the workspace. */
  relativePath: string;
  /** Absolute path in the workspace. */
  path: string;
  sizeBytes: number;
}

/** Go's zero `time.Time`, which a Go coordinator sends for a file without `modifiedAt`. */
const GO_ZERO_TIME_MS = Date.parse('0001-01-01T00:00:00Z');
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
/** O_NOFOLLOW: a symlink swapped in after the checks fails the open instead of being followed. */
const OPEN_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW;

/**
 * Writes every file of `job.files`. All paths and times are checked before anything is fetched or
 * written: a path that escapes the workspace throws `workspace.path_outside` (`refusing to write outside
 * of working directory`), a bad `modifiedAt` throws `workspace.invalid_file`. A symlink met on the way
 * is followed only while it stays inside. Store errors (CoordinatorError) pass through.
 */
export async function writeWorkspaceFiles(options: WriteWorkspaceFilesOptions): Promise<WrittenFile[]> {
  const { workspaceDir, job, signal } = options;
  const planned = Object.entries(job.files).map(([relativePath, file]) => ({
    relativePath,
    file,
    path: resolveWorkspacePath(workspaceDir, relativePath),
    modifiedAtMs: parseModifiedAt(relativePath, file.modifiedAt),
  }));

  const written: WrittenFile[] = [];
  // Nothing runs in the workspace yet: the root and each directory are looked up once for all files.
  const known = planned.length > 1 ? await knownDirectories(workspaceDir) : undefined;
  for (const { relativePath, file, path, modifiedAtMs } of planned) {
    signal.throwIfAborted();
    // bucket+key win over inline content, as in the reference's getContent.
    const content = file.bucket && file.key ? await options.client.getFile(job, file.bucket, file.key, signal) : (file.content ?? Buffer.alloc(0));
    const startedMs = performance.now();
    const target = await prepareFileInside(workspaceDir, path, relativePath, known);
    const handle = await fs.open(target, OPEN_FLAGS, 0o777);
    try {
      await handle.writeFile(content);
      // The mode given to open is reduced by the umask; jobs run as other users in containers.
      await handle.chmod(0o777);
      if (modifiedAtMs !== undefined) {
        const when = new Date(modifiedAtMs);
        await handle.utimes(when, when);
      }
    } finally {
      await handle.close();
    }
    const elapsedMs = Math.round((performance.now() - startedMs) * 1000) / 1000;
    options.onLine?.(`Wrote ${path} in ${formatGoDuration(elapsedMs)}\n`);
    written.push({ relativePath, path, sizeBytes: content.length });
  }
  return written;
}

/** `modifiedAt` in ms since the epoch; undefined when absent or Go's zero time. */
function parseModifiedAt(relativePath: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = RFC3339.test(value) ? Date.parse(value.replace(' ', 'T')) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new AppError('workspace.invalid_file', `files[${JSON.stringify(relativePath)}].modifiedAt: ${JSON.stringify(value)} is not an RFC 3339 time`);
  }
  return ms === GO_ZERO_TIME_MS ? undefined : ms;
}
