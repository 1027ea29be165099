// The project compiled with its own tsc into a temporary directory (beside a link to this checkout's
// node_modules): benches measure the JavaScript users run, not tsx's loader, without touching dist/.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './coordinator-process.js';

export interface CompiledTree {
  /** The output directory: `bin/coordinator.js`, `bin/executor.js`, … */
  dir: string;
  remove(): Promise<void>;
}

/**
 * Compiles tsconfig.build.json of `root` (default this checkout) into a new temporary directory; null
 * when `required` (a path in it) was not emitted.
 */
export async function compileProject(required: string, root = REPO_ROOT): Promise<CompiledTree | null> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-dist-'));
  await fs.writeFile(path.join(dir, 'package.json'), '{"type":"module"}\n');
  await fs.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
  await new Promise<void>((resolve) => {
    // Type errors elsewhere in a tree being edited still emit JavaScript (noEmitOnError is off).
    spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', dir], { cwd: root, stdio: 'ignore' }).once('exit', () => resolve());
  });
  const remove = () => fs.rm(dir, { recursive: true, force: true });
  try {
    await fs.access(path.join(dir, required));
    return { dir, remove };
  } catch {
    await remove();
    return null;
  }
}
