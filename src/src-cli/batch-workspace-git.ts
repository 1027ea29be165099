// What `src batch-helper` asks git about the job's clone of the repository: the tree after a step (every
// change staged, so new files count), the files a step changed, and the whole diff against the base
// commit. The clone may belong to another user than the one running the helper (a container's root, a
// shell user): safe.directory is opened for these commands only.
import { execFile } from 'node:child_process';
import { parseNameStatus, type FileChanges } from '../shared/git-name-status.js';

export type { FileChanges };


/** The most output one git command may print here (a diff included). */
const MAX_GIT_OUTPUT_BYTES = 512 * 1024 * 1024;

export class WorkspaceGit {
  constructor(
    /** The repository's directory (the workspace's `repository/`). */
    readonly dir: string,
    private readonly env: Record<string, string | undefined>,
  ) {}

  run(args: readonly string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        ['-C', this.dir, '-c', 'core.quotepath=off', ...args],
        {
          env: {
            ...(this.env.PATH !== undefined ? { PATH: this.env.PATH } : {}),
            ...(this.env.HOME !== undefined ? { HOME: this.env.HOME } : {}),
            GIT_TERMINAL_PROMPT: '0',
            GIT_CONFIG_COUNT: '1',
            GIT_CONFIG_KEY_0: 'safe.directory',
            GIT_CONFIG_VALUE_0: '*',
          },
          maxBuffer: MAX_GIT_OUTPUT_BYTES,
          encoding: 'utf8',
        },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`git ${args[0]}: ${(stderr || err.message).trim()}`));
          else resolve(stdout);
        },
      );
    });
  }

  async headCommit(): Promise<string> {
    return (await this.run(['rev-parse', 'HEAD'])).trim();
  }

  /** Stages everything (new, changed, deleted; ignored files stay out). */
  async stageAll(): Promise<void> {
    await this.run(['add', '--all']);
  }

  /** The index's tree (after stageAll: the tree of everything in the clone). */
  async writeTree(): Promise<string> {
    return (await this.run(['write-tree'])).trim();
  }

  /** What changed from `from` (a tree or commit) to the index (renames detected). */
  async stagedChanges(from: string): Promise<FileChanges> {
    return parseNameStatus(await this.run(['diff-index', '--cached', '-z', '-M', '--name-status', from]));
  }

  /** `git diff --binary` of the staged tree against the base commit: what the coordinator checks and stores. */
  async diffAgainst(commit: string): Promise<string> {
    return this.run(['diff', '--cached', '--binary', '--no-color', '--no-ext-diff', '--no-renames', commit]);
  }
}
