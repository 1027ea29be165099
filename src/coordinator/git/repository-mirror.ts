// Keeps bare mirrors of source repositories under the coordinator's data directory, for jobs to clone.
// A first mirror is cloned into a temporary directory and renamed into place, so readers never see half of one.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** Longest repository name accepted, in characters. */
const NAME_MAX_CHARS = 255;
const SEGMENT_PATTERN = /^[A-Za-z0-9._-]+$/;
/** How much of git's stderr an error message carries, in bytes. */
const STDERR_MAX_BYTES = 2048;
/** Temporary clones live beside the mirrors (same filesystem, so the rename is atomic). */
const TEMP_PREFIX = '.mirror-tmp-';

/**
 * Why `name` is not a valid repository name, or null when it is. Valid: `/`-separated relative segments
 * of `[A-Za-z0-9._-]`, none empty, `.` or `..`, at most 255 characters, e.g. `github.com/foo/bar`.
 */
export function validateRepositoryName(name: string): string | null {
  if (name === '') return 'must not be empty';
  if (name.length > NAME_MAX_CHARS) return `must be at most ${NAME_MAX_CHARS} characters, not ${name.length}`;
  if (name.startsWith('/')) return "must be relative (no leading '/')";
  const segments = name.split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '') return "must not have an empty segment ('//' or a trailing '/')";
    if (segment === '.' || segment === '..') return `must not have a '${segment}' segment`;
    if (!SEGMENT_PATTERN.test(segment)) return `segment ${JSON.stringify(segment)} has characters outside [A-Za-z0-9._-]`;
    // `<name>.git` is a bare repository; another name must not put a mirror inside it.
    if (i < segments.length - 1 && segment.endsWith('.git')) {
      return `segment ${JSON.stringify(segment)} must not end in '.git' (repositories cannot nest)`;
    }
  }
  return null;
}

/**
 * The mirror's directory for `name`: `<repositoriesDir>/<name>.git`.
 * @throws AppError `repository.invalid_name` when `name` is not valid (see {@link validateRepositoryName}).
 */
export function repositoryDirFor(repositoriesDir: string, name: string): string {
  const problem = validateRepositoryName(name);
  if (problem !== null) throw new AppError('repository.invalid_name', `invalid repository name ${JSON.stringify(name)}: ${problem}`);
  return path.join(repositoriesDir, `${name}.git`);
}

export interface MirrorRepositoryOptions {
  /** Absolute directory holding every mirror. Created when missing. */
  repositoriesDir: string;
  /** Repository name, e.g. `github.com/foo/bar`; the mirror lands at `<repositoriesDir>/<name>.git`. */
  name: string;
  /** What to clone: a URL or a local path. Must not start with `-`. */
  sourceUrl: string;
  logger: Logger;
}

// Mirror operations on one directory run one at a time: two fetches would race on ref locks.
const inFlight = new Map<string, Promise<unknown>>();

/**
 * Creates or refreshes the bare mirror of `sourceUrl` at `<repositoriesDir>/<name>.git`: `git clone
 * --mirror` when absent (into a temporary directory, then renamed into place), otherwise
 * `git fetch --prune origin '+refs/*:refs/*'` from `sourceUrl`.
 * @returns the mirror's directory, and whether this call created it.
 * @throws AppError `repository.invalid_name`, `repository.invalid_source_url`, or `repository.clone_failed`
 *   (its message carries git's stderr, at most 2 KB).
 */
export async function mirrorRepository(options: MirrorRepositoryOptions): Promise<{ repositoryDir: string; created: boolean }> {
  const repositoryDir = repositoryDirFor(options.repositoriesDir, options.name);
  const { sourceUrl } = options;
  if (sourceUrl === '' || sourceUrl.startsWith('-')) {
    throw new AppError('repository.invalid_source_url', `invalid source URL ${JSON.stringify(sourceUrl)}: must be a URL or path not starting with '-'`);
  }
  const previous = inFlight.get(repositoryDir) ?? Promise.resolve();
  const current = previous
    .catch(() => undefined)
    .then(() => mirrorUnlocked(repositoryDir, { ...options, sourceUrl: absoluteSource(sourceUrl) }));
  inFlight.set(repositoryDir, current);
  try {
    return await current;
  } finally {
    if (inFlight.get(repositoryDir) === current) inFlight.delete(repositoryDir);
  }
}

async function mirrorUnlocked(repositoryDir: string, options: MirrorRepositoryOptions): Promise<{ repositoryDir: string; created: boolean }> {
  const logger = options.logger.with({ repository: options.name, source: redactUrl(options.sourceUrl) });
  const started = Date.now();
  if (await exists(repositoryDir)) {
    await fetchInto(repositoryDir, options.sourceUrl);
    logger.info('repository mirror fetched', { durationMs: Date.now() - started });
    return { repositoryDir, created: false };
  }

  await mkdir(path.dirname(repositoryDir), { recursive: true });
  const tempDir = await mkdtemp(path.join(options.repositoriesDir, TEMP_PREFIX));
  try {
    const tempRepository = path.join(tempDir, 'repository.git');
    await runGit(['clone', '--mirror', '--quiet', '--', options.sourceUrl, tempRepository], 'git clone --mirror');
    try {
      await rename(tempRepository, repositoryDir);
    } catch (err) {
      // Another process created it meanwhile: theirs stands, and it is as fresh as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await exists(repositoryDir))) {
        logger.info('repository mirror appeared concurrently; kept the existing one');
        return { repositoryDir, created: false };
      }
      throw new AppError('repository.clone_failed', `could not move the mirror into ${repositoryDir}: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
  logger.info('repository mirror created', { durationMs: Date.now() - started });
  return { repositoryDir, created: true };
}

async function fetchInto(repositoryDir: string, sourceUrl: string): Promise<void> {
  // The source may have moved (or its URL's credentials rotated) since the clone.
  await runGit(['-C', repositoryDir, 'config', 'remote.origin.url', sourceUrl], 'git config remote.origin.url');
  await runGit(['-C', repositoryDir, 'fetch', '--prune', '--quiet', 'origin', '+refs/*:refs/*'], 'git fetch');
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Runs git without a terminal prompt; a non-zero exit becomes `repository.clone_failed` with its stderr. */
function runGit(args: string[], what: string): Promise<void> {
  // `ext::` URLs run arbitrary commands; git already refuses them by default, this makes it explicit.
  const fullArgs = ['-c', 'protocol.ext.allow=never', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('git', fullArgs, {
      // Passed through, not read: clones over the network may need proxies, CA bundles, an SSH agent.
      // eslint-disable-next-line no-restricted-properties
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = Buffer.alloc(0);
    let truncated = false;
    child.stderr.on('data', (chunk: Buffer) => {
      // Keep the tail: git's `fatal:` line comes last.
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_MAX_BYTES) {
        stderr = stderr.subarray(stderr.length - STDERR_MAX_BYTES);
        truncated = true;
      }
    });
    child.once('error', (err) => reject(new AppError('repository.clone_failed', `${what} could not start: ${err.message}`, { cause: err })));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const output = redactUrl((truncated ? '…' : '') + stderr.toString('utf8').trim());
      const how = signal !== null ? `was killed by ${signal}` : `exited with ${code}`;
      reject(new AppError('repository.clone_failed', `${what} ${how}${output ? `: ${output}` : ''}`));
    });
  });
}

/** Text with the userinfo of any URL in it removed: `https://user:token@host/x` → `https://host/x`. */
function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}

/**
 * A relative local path made absolute (the fetch runs with `-C <mirror>`, where it would mean something
 * else); URLs and scp-like `host:path` sources, which have a `:`, are kept as they are.
 */
function absoluteSource(sourceUrl: string): string {
  return path.isAbsolute(sourceUrl) || sourceUrl.includes(':') ? sourceUrl : path.resolve(sourceUrl);
}
