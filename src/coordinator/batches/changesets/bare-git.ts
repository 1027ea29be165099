// Runs one git command in a coordinator's bare repository for the changeset side: input on stdin, output
// and exit code back (a non-zero exit is an answer here, not an exception: `merge-base --is-ancestor`
// answers with it), under a deadline, with the host's git configuration kept out of the way.
import { spawn } from 'node:child_process';
import { AppError } from '../../../shared/errors.js';

/** Deadline of one command, in ms: applying a large patch to a large tree takes seconds, not minutes. */
export const BARE_GIT_TIMEOUT_MS = 120_000;
/** The most stdout bytes kept (ref listings and shas; never file contents). */
const STDOUT_MAX_BYTES = 16 * 1024 * 1024;
/** How much of stderr an error message carries. */
const STDERR_MAX_BYTES = 4096;

export interface BareGitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface BareGitOptions {
  /** Written to git's stdin (a patch, a commit message, update-ref instructions). */
  input?: string;
  /** Added to the environment (GIT_INDEX_FILE, GIT_AUTHOR_*, GIT_COMMITTER_*). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * `git -C <repositoryDir> <args>`. The environment is only PATH and what `options.env` adds: no
 * system or global config (no hooks, signing or aliases of the host's), no prompts.
 * @throws AppError `changesets.git_failed` when git cannot start, runs past its deadline or prints too much.
 */
export function runBareGit(repositoryDir: string, args: readonly string[], options: BareGitOptions = {}): Promise<BareGitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', repositoryDir, ...args], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timeoutMs = options.timeoutMs ?? BARE_GIT_TIMEOUT_MS;
    let failure: string | undefined;
    const deadline = setTimeout(() => {
      failure = `git ${args[0]} did not finish within ${timeoutMs / 1000}s and was killed`;
      child.kill('SIGKILL');
    }, timeoutMs);
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > STDOUT_MAX_BYTES) {
        failure = `git ${args[0]} printed more than ${STDOUT_MAX_BYTES} bytes`;
        child.kill('SIGKILL');
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_MAX_BYTES) stderr = (stderr + chunk.toString('utf8')).slice(0, STDERR_MAX_BYTES);
    });
    child.once('error', (err) => {
      clearTimeout(deadline);
      reject(new AppError('changesets.git_failed', `git could not start: ${err.message}`, { cause: err }));
    });
    child.once('close', (code) => {
      clearTimeout(deadline);
      if (failure !== undefined) return reject(new AppError('changesets.git_failed', failure));
      resolve({ code: code ?? 1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: stderr.trim() });
    });
    // git may exit before reading all of its input (a patch it refused at once).
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
