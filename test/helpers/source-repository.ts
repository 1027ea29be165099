// A throwaway git repository for tests to register as a coordinator repository and clone through it.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const git = async (cwd: string, ...args: string[]) => (await run('git', args, { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })).stdout.trim();

export interface SourceCommit {
  message: string;
  /** Path (may name subdirectories) → content, written before the commit. */
  files: Record<string, string>;
}

/** A tag's target commit index: a number for a lightweight tag; with a message, an annotated one. */
export type SourceTag = number | { commit: number; message: string };

export interface SourceRepositoryOptions {
  /** Tag name → the index in `commits` it points at. */
  tags?: Record<string, SourceTag>;
}

/**
 * `git init -q -b main` in `dir` (created if missing), with a local user, then one commit per entry of
 * `commits` (its files written, `git add -A`), then the tags. Returns the commits' shas in order.
 */
export async function createSourceRepository(
  dir: string,
  commits: SourceCommit[],
  options: SourceRepositoryOptions = {},
): Promise<{ path: string; commits: string[] }> {
  await fs.mkdir(dir, { recursive: true });
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'config', 'user.email', 't@example.com');
  await git(dir, 'config', 'user.name', 'T');
  const shas: string[] = [];
  for (const { message, files } of commits) {
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, name);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, content);
    }
    await git(dir, 'add', '-A');
    await git(dir, 'commit', '-qm', message);
    shas.push(await git(dir, 'rev-parse', 'HEAD'));
  }
  for (const [name, tag] of Object.entries(options.tags ?? {})) {
    const index = typeof tag === 'number' ? tag : tag.commit;
    const sha = shas[index];
    if (sha === undefined) throw new Error(`tag ${name}: no commit at index ${index}`);
    if (typeof tag === 'number') await git(dir, 'tag', name, sha);
    else await git(dir, 'tag', '-a', name, '-m', tag.message, sha);
  }
  return { path: dir, commits: shas };
}
