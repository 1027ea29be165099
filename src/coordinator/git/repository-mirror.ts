// Keeps bare mirrors of source repositories under the coordinator's data directory, for jobs to clone.
// A first mirror is cloned into a temporary directory and renamed into place, so readers never see half of one.
// Branches the coordinator published into a mirror (changesets) survive its re-mirroring (published-branches.ts).
// Every git command runs in its own process group under a deadline, is killed with its helpers when the
// deadline passes or the caller gives up, and may use only the protocols of ALLOWED_GIT_PROTOCOLS.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { publishedBranchRefspecs } from './published-branches.js';
import { ALLOWED_GIT_PROTOCOLS, parseRepositorySource, redactSourceUrl, RepositoryUrlError, type RepositorySource } from './repository-url.js';

/** Longest repository name accepted, in characters. */
const NAME_MAX_CHARS = 255;
const SEGMENT_PATTERN = /^[A-Za-z0-9._-]+$/;
/** How much of git's stderr an error message carries, in bytes. */
const STDERR_MAX_BYTES = 2048;
/** Temporary clones live beside the mirrors (same filesystem, so the rename is atomic). */
const TEMP_PREFIX = '.mirror-tmp-';
/** Default deadline of one git command (COORDINATOR_MIRROR_TIMEOUT). */
export const DEFAULT_MIRROR_TIMEOUT_MS = 10 * 60_000;
/** Between SIGTERM to a git command's process group and SIGKILL. */
const KILL_GRACE_MS = 1_000;

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
  /**
   * What to clone: a URL (https, http, ssh, git, file), `[user@]host:path`, or a local path. An http(s)
   * URL may carry a credential (`https://user:token@host/…`): it is given to git through a credential
   * helper and never written into the mirror's config.
   */
  sourceUrl: string;
  /** The stored credential of `sourceUrl` (which then has none of its own). */
  credential?: { username: string; password: string };
  logger: Logger;
  /** Deadline of each git command, in ms (default 10 minutes); past it git and its helpers are killed. */
  timeoutMs?: number;
  /** Aborted when the caller gives up (the client went away): the running git command is killed. */
  signal?: AbortSignal;
}

// Operations on one mirror run one at a time: two fetches would race on ref locks, and a fetch must not
// list the published branches it keeps (published-branches.ts) while a changeset is being pushed.
const inFlight = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` once no other mirror operation or changeset push on `repositoryDir` is running in this
 * process, and holds the others off until it settles. (Replicas of the coordinator do not share it: each
 * fetches its own data directory's mirrors.)
 */
export async function withRepositoryLock<T>(repositoryDir: string, fn: () => Promise<T>): Promise<T> {
  const previous = inFlight.get(repositoryDir) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(fn);
  inFlight.set(repositoryDir, current);
  try {
    return await current;
  } finally {
    if (inFlight.get(repositoryDir) === current) inFlight.delete(repositoryDir);
  }
}

/**
 * Creates or refreshes the bare mirror of `sourceUrl` at `<repositoriesDir>/<name>.git`: `git clone
 * --mirror` when absent (into a temporary directory, then renamed into place), otherwise
 * `git fetch --prune origin '+refs/*:refs/*'` from `sourceUrl`, less the branches changesets published
 * here (kept as they are: see published-branches.ts).
 * @returns the mirror's directory, whether this call created it, and the source as parsed.
 * @throws AppError `repository.invalid_name`, `repository.invalid_source_url` (a source git must not be
 *   asked to fetch), `repository.clone_failed` (its message carries git's stderr, at most 2 KB),
 *   `repository.clone_timeout` or `repository.clone_aborted`.
 */
export async function mirrorRepository(options: MirrorRepositoryOptions): Promise<{ repositoryDir: string; created: boolean; source: RepositorySource }> {
  const repositoryDir = repositoryDirFor(options.repositoriesDir, options.name);
  let source: RepositorySource;
  try {
    source = parseRepositorySource(options.sourceUrl);
  } catch (err) {
    if (!(err instanceof RepositoryUrlError)) throw err;
    throw new AppError('repository.invalid_source_url', `invalid source URL ${JSON.stringify(redactSourceUrl(options.sourceUrl))}: ${err.message}`);
  }
  if (!source.credential && options.credential) source = { ...source, credential: options.credential };
  return { ...(await withRepositoryLock(repositoryDir, () => mirrorUnlocked(repositoryDir, source, options))), source };
}

async function mirrorUnlocked(repositoryDir: string, source: RepositorySource, options: MirrorRepositoryOptions): Promise<{ repositoryDir: string; created: boolean }> {
  const logger = options.logger.with({ repository: options.name, source: source.url });
  const run = (args: string[], what: string) =>
    runGit(args, what, { timeoutMs: options.timeoutMs ?? DEFAULT_MIRROR_TIMEOUT_MS, signal: options.signal, credential: source.credential });
  options.signal?.throwIfAborted();
  const started = Date.now();
  if (await exists(repositoryDir)) {
    // The source may have moved (or its credential changed) since the clone; the remote never holds a credential.
    await run(['-C', repositoryDir, 'config', 'remote.origin.url', source.url], 'git config remote.origin.url');
    // The branches changesets pushed here are not upstream's: neither pruned nor overwritten by a fetch.
    const keep = await publishedBranchRefspecs(repositoryDir);
    await run(['-C', repositoryDir, 'fetch', '--prune', '--quiet', 'origin', '+refs/*:refs/*', ...keep], 'git fetch');
    logger.info('repository mirror fetched', { durationMs: Date.now() - started });
    return { repositoryDir, created: false };
  }

  await mkdir(path.dirname(repositoryDir), { recursive: true });
  const tempDir = await mkdtemp(path.join(options.repositoriesDir, TEMP_PREFIX));
  try {
    const tempRepository = path.join(tempDir, 'repository.git');
    await run(['clone', '--mirror', '--quiet', '--', source.url, tempRepository], 'git clone --mirror');
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

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * `-c` options before every mirror command: no protocol but the allowed ones (git's `fd::` and `ext::`
 * transports, or any `<helper>::` remote, never run), and no credential helper of the host's.
 */
const PROTOCOL_CONFIG = ['protocol.allow=never', ...ALLOWED_GIT_PROTOCOLS.map((p) => `protocol.${p}.allow=always`)].flatMap((c) => ['-c', c]);

/** Answers git's `get` with the username and password from the environment, never from a file or argv. */
const CREDENTIAL_HELPER = '!f() { test "$1" = get || return 0; printf "username=%s\\npassword=%s\\n" "$EXECUTORS_MIRROR_USERNAME" "$EXECUTORS_MIRROR_PASSWORD"; }; f';

/** The environment of a git command: the coordinator's, no prompts, and the credential for its helper. */
function gitEnv(credential: RepositorySource['credential']): NodeJS.ProcessEnv {
  // Passed through, not read: clones over the network may need proxies, CA bundles, an SSH agent.
  // eslint-disable-next-line no-restricted-properties
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
  // ssh would ask about an unknown host key or a passphrase on a terminal that is not there.
  if (env.GIT_SSH_COMMAND === undefined && env.GIT_SSH === undefined) env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes';
  if (credential) {
    // Command-line-scope config (git >= 2.31), after whatever the operator set the same way. The empty
    // value first resets the helpers of the host's config, so the credential goes to this helper only.
    const base = Number(env.GIT_CONFIG_COUNT ?? 0) || 0;
    env[`GIT_CONFIG_KEY_${base}`] = 'credential.helper';
    env[`GIT_CONFIG_VALUE_${base}`] = '';
    env[`GIT_CONFIG_KEY_${base + 1}`] = 'credential.helper';
    env[`GIT_CONFIG_VALUE_${base + 1}`] = CREDENTIAL_HELPER;
    env.GIT_CONFIG_COUNT = String(base + 2);
    env.EXECUTORS_MIRROR_USERNAME = credential.username;
    env.EXECUTORS_MIRROR_PASSWORD = credential.password;
  }
  return env;
}

interface RunGitOptions {
  timeoutMs: number;
  signal: AbortSignal | undefined;
  credential: RepositorySource['credential'];
}

/**
 * Runs git in a process group of its own; a non-zero exit becomes `repository.clone_failed` with its
 * stderr. Past `timeoutMs`, or once `signal` aborts, the whole group (git, git-remote-https, ssh) gets
 * SIGTERM, then SIGKILL, and the promise settles only after git has exited.
 */
function runGit(args: string[], what: string, options: RunGitOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new AppError('repository.clone_aborted', `${what} was not started: the request was aborted`));
      return;
    }
    const child = spawn('git', [...PROTOCOL_CONFIG, ...args], { env: gitEnv(options.credential), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = Buffer.alloc(0);
    let truncated = false;
    let stopped: 'timeout' | 'aborted' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // The group is gone already.
      }
    };
    const stop = (why: 'timeout' | 'aborted') => {
      if (stopped) return;
      stopped = why;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const deadline = setTimeout(() => stop('timeout'), options.timeoutMs);
    const onAbort = () => stop('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr.on('data', (chunk: Buffer) => {
      // Keep the tail: git's `fatal:` line comes last.
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > STDERR_MAX_BYTES) {
        stderr = stderr.subarray(stderr.length - STDERR_MAX_BYTES);
        truncated = true;
      }
    });
    const settle = () => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err) => {
      settle();
      reject(new AppError('repository.clone_failed', `${what} could not start: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      settle();
      // A helper left behind by git (it should not happen) goes with the group.
      killGroup('SIGKILL');
      const output = redactSourceUrl((truncated ? '…' : '') + stderr.toString('utf8').trim());
      if (stopped === 'timeout') return reject(new AppError('repository.clone_timeout', `${what} did not finish within ${formatMs(options.timeoutMs)} (COORDINATOR_MIRROR_TIMEOUT) and was killed${output ? `: ${output}` : ''}`));
      if (stopped === 'aborted') return reject(new AppError('repository.clone_aborted', `${what} was killed: the request was aborted`));
      if (code === 0) return resolve();
      const how = signal !== null ? `was killed by ${signal}` : `exited with ${code}`;
      reject(new AppError('repository.clone_failed', `${what} ${how}${output ? `: ${output}` : ''}`));
    });
  });
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}
