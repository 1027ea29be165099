// Runs one git command in a coordinator's bare repository for the changeset side: input on stdin, output
// and exit code back (a non-zero exit is an answer here, not an exception: `merge-base --is-ancestor`
// answers with it). The bounded runner of batches/bare-git.ts with the changeset side's bounds and error
// code: patches and commits take longer than resolution's calls, and their output is refs and shas.
import { AppError } from '../../../shared/errors.js';
import { runBareGit as runBoundedBareGit } from '../bare-git.js';

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
 * `git` on `repositoryDir`. The environment is only PATH and what `options.env` adds: no system or
 * global config, no prompts.
 * @throws AppError `changesets.git_failed` when git cannot start, runs past its deadline or prints too much.
 */
export async function runBareGit(repositoryDir: string, args: readonly string[], options: BareGitOptions = {}): Promise<BareGitResult> {
  try {
    const run = await runBoundedBareGit(repositoryDir, args, { input: options.input, env: options.env, timeoutMs: options.timeoutMs ?? BARE_GIT_TIMEOUT_MS, maxBytes: STDOUT_MAX_BYTES });
    return { code: run.code, stdout: run.stdout.toString('utf8'), stderr: run.stderr.slice(0, STDERR_MAX_BYTES) };
  } catch (err) {
    if (err instanceof AppError) throw new AppError('changesets.git_failed', err.message, { cause: err });
    throw err;
  }
}
