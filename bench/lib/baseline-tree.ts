// The project as it was at an earlier commit, for benches that measure a change against the code before it
// in the same run: `git archive` of that commit into a temporary directory (no worktree, so the shared git
// metadata is not touched), linked to this checkout's node_modules, then compiled like this checkout.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { compileProject, type CompiledTree } from './compiled.js';
import { REPO_ROOT } from './coordinator-process.js';

const run = promisify(execFile);

export interface BaselineTree {
  /** The commit, as `git rev-parse --short` names it. */
  commit: string;
  compiled: CompiledTree;
  remove(): Promise<void>;
}

/** Exports and compiles `ref`; throws when it does not emit `required` (e.g. `bin/coordinator.js`). */
export async function buildBaseline(ref: string, required: string): Promise<BaselineTree> {
  const commit = (await run('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: REPO_ROOT })).stdout.trim();
  const src = await fs.mkdtemp(path.join(os.tmpdir(), `executors-bench-baseline-${commit}-`));
  try {
    await run('sh', ['-c', `git archive --format=tar "${commit}" | tar -x -C "${src}"`], { cwd: REPO_ROOT, maxBuffer: 1 << 20 });
    await fs.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(src, 'node_modules'));
    const compiled = await compileProject(required, src);
    if (!compiled) throw new Error(`the baseline ${commit} did not compile to ${required}`);
    return {
      commit,
      compiled,
      remove: async () => {
        await compiled.remove();
        await fs.rm(src, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await fs.rm(src, { recursive: true, force: true });
    throw err;
  }
}
