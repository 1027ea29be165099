// Runs git against one of the coordinator's bare repositories for batch changes (resolution, the diff
// check, and through changesets/bare-git.ts the changeset side): bounded output and time, nothing from the coordinator's environment but a fixed PATH, and no
// prompt. A git that does not finish in time is killed.
import { spawn } from 'node:child_process';
import { AppError } from '../../shared/errors.js';

export interface GitRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface BareGitOptions {
  input?: string | Buffer;
  /** Extra variables (GIT_INDEX_FILE). */
  env?: Record<string, string>;
  /** Default 30 s: a `git grep` over a big repository is the slowest call here. */
  timeoutMs?: number;
  /** Output beyond this fails the call (`batches.git_output_too_large`). Default 64 MiB. */
  maxBytes?: number;
}

export const DEFAULT_GIT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export function runBareGit(repositoryDir: string, args: readonly string[], options: BareGitOptions = {}): Promise<GitRun> {
  return runBounded('git', ['--git-dir', repositoryDir, ...args], `git ${args[0]}`, options);
}

/**
 * Several git commands in one process start: `script` run by /bin/sh with GIT_DIR set to the repository
 * and `args` as $1…, under the same bounds. A start from the coordinator costs it a fork of its whole
 * process; from sh, little. `label` names it in errors.
 */
export function runBareGitScript(repositoryDir: string, label: string, script: string, args: readonly string[], options: BareGitOptions = {}): Promise<GitRun> {
  return runBounded('/bin/sh', ['-c', script, label, ...args], label, { ...options, env: { ...options.env, GIT_DIR: repositoryDir } });
}

function runBounded(command: string, argv: readonly string[], label: string, options: BareGitOptions): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      // No system or global git configuration (no hooks, aliases or signing of the host's), no prompt.
      env: { GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', PATH: '/usr/local/bin:/usr/bin:/bin', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let why: AppError | undefined;
    const timer = setTimeout(() => {
      why = new AppError('batches.git_timeout', `${label} did not finish within ${Math.round((options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS) / 1000)} s`);
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        why ??= new AppError('batches.git_output_too_large', `${label} printed more than ${max} bytes`);
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 16_384) stderr += c.toString('utf8');
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new AppError('batches.git_failed', `${command === 'git' ? 'git' : label} could not start: ${err.message}`, { cause: err }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (why) return reject(why);
      resolve({ code: code ?? 1, stdout: Buffer.concat(chunks), stderr: stderr.trim() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
