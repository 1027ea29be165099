// The git command sequence that checks a job's commit out into its workspace (reference §4.5), each
// command one log entry, run through the caller's RunCommand with an environment that leaks nothing.
import { AppError } from '../../shared/errors.js';
import type { DequeuedJob } from '../client/coordinator-client.js';
import { runCommandOrThrow, type RunCommand } from './spawn-command.js';

/** What to clone: the job's fields that shape the git commands. */
export type CloneSpec = Pick<DequeuedJob, 'repositoryName' | 'commit' | 'fetchTags' | 'shallowClone' | 'sparseCheckout'>;

/** One command of the sequence: its log key and argv. */
export interface GitCommand {
  /** `setup.git.init`, `setup.git.fetch`, …: the log entry key. */
  key: string;
  argv: string[];
}

/** The variables of the executor's own environment that git gets: where to find it, and the operator's config. */
export interface HostEnv {
  PATH?: string;
  HOME?: string;
}

export interface CloneRepositoryOptions {
  /** Absolute, existing directory to clone into (the workspace or `<workspace>/<repositoryDirectory>`). */
  dir: string;
  /** The remote git fetches from: the git proxy's `http://127.0.0.1:<port>/<repositoryName>`. */
  remoteUrl: string;
  spec: CloneSpec;
  runCommand: RunCommand;
  signal: AbortSignal;
  /** PATH and HOME for git; default the executor's own. */
  hostEnv?: HostEnv;
}

/**
 * The reference's sequence: init, add-remote, disable-gc, fetch, [sparse-checkout-config,
 * sparse-checkout-set,] checkout, set-remote. Fetch flags: `--tags` with fetchTags; `--no-tags`
 * (unless fetchTags) and `--depth=1` with shallowClone; `--filter=blob:none` with sparse patterns, whose
 * checkout then runs with `-c protocol.version=2` as it fetches blobs lazily.
 */
export function gitCloneCommands(dir: string, remoteUrl: string, spec: CloneSpec): GitCommand[] {
  const git = (...args: string[]) => ['git', '-C', dir, ...args];
  const sparse = spec.sparseCheckout.length > 0;
  const fetchFlags = [
    ...(spec.fetchTags ? ['--tags'] : []),
    ...(spec.shallowClone ? [...(spec.fetchTags ? [] : ['--no-tags']), '--depth=1'] : []),
    ...(sparse ? ['--filter=blob:none'] : []),
  ];
  return [
    { key: 'setup.git.init', argv: git('init') },
    { key: 'setup.git.add-remote', argv: git('remote', 'add', 'origin', remoteUrl) },
    // gc never pays off in a throw-away clone.
    { key: 'setup.git.disable-gc', argv: git('config', '--local', 'gc.auto', '0') },
    { key: 'setup.git.fetch', argv: git('-c', 'protocol.version=2', 'fetch', '--progress', '--no-recurse-submodules', ...fetchFlags, 'origin', spec.commit) },
    ...(sparse
      ? [
          { key: 'setup.git.sparse-checkout-config', argv: git('config', '--local', 'core.sparseCheckout', '1') },
          { key: 'setup.git.sparse-checkout-set', argv: git('sparse-checkout', 'set', '--no-cone', '--', ...spec.sparseCheckout) },
        ]
      : []),
    { key: 'setup.git.checkout', argv: git(...(sparse ? ['-c', 'protocol.version=2'] : []), 'checkout', '--progress', '--force', spec.commit) },
    // Code-intel tools read the repository name from origin; this also drops the proxy's URL.
    { key: 'setup.git.set-remote', argv: git('remote', 'set-url', 'origin', spec.repositoryName) },
  ];
}

/** The environment of every git command: never prompt, skip LFS (the git proxy has no LFS endpoint). */
export function gitEnv(hostEnv: HostEnv): Record<string, string> {
  return {
    ...(hostEnv.PATH !== undefined ? { PATH: hostEnv.PATH } : {}),
    ...(hostEnv.HOME !== undefined ? { HOME: hostEnv.HOME } : {}),
    GIT_TERMINAL_PROMPT: '0',
    GIT_LFS_SKIP_SMUDGE: '1',
  };
}

/** PATH and HOME of the executor's own environment, the only variables git gets from it. */
export function executorHostEnv(): HostEnv {
  // eslint-disable-next-line no-restricted-properties -- passed on to git, never interpreted (like the coordinator's git-http-backend)
  const { PATH, HOME } = process.env;
  return { PATH, HOME };
}

/**
 * Runs the sequence of `gitCloneCommands` in `dir`, stopping at the first failure with
 * `workspace.command_failed` (`running command "<key>": exit code N`). A commit or repository name
 * that git would read as an option is refused first (`workspace.invalid_job`).
 */
export async function cloneRepository(options: CloneRepositoryOptions): Promise<void> {
  const { spec } = options;
  assertGitArgument('commit', spec.commit);
  assertGitArgument('repositoryName', spec.repositoryName);
  const env = gitEnv(options.hostEnv ?? executorHostEnv());
  for (const { key, argv } of gitCloneCommands(options.dir, options.remoteUrl, spec)) {
    options.signal.throwIfAborted();
    await runCommandOrThrow(options.runCommand, key, argv, { env, signal: options.signal });
  }
}

/** `git fetch origin --upload-pack=…` would be an option, not a revision: refuse such values. */
function assertGitArgument(field: string, value: string): void {
  if (value === '' || value.startsWith('-') || [...value].some((ch) => ch < ' ' || ch === '\x7f')) {
    throw new AppError('workspace.invalid_job', `${field}: ${JSON.stringify(value)} is not a usable git ${field === 'commit' ? 'revision' : 'repository name'}`);
  }
}
