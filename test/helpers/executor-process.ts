// Runs bin/executor as a real child process (built JavaScript, as users run it).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXECUTOR_BIN = path.join(ROOT, 'bin/executor');

export interface ExecutorProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

export function spawnExecutor(env: Record<string, string>): ExecutorProcess {
  if (!fs.existsSync(path.join(ROOT, 'dist/bin/executor.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
  const child = spawn(EXECUTOR_BIN, ['run'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, log: () => output, exited };
}

/** Polls `check` every 100 ms until it returns a value, or fails after `timeoutMs` saying `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * bin/executor on the shell runtime serving `batches` as its own user (the steps run `src batch-helper`
 * of this checkout from node_modules/.bin) until it has taken `totalJobs` jobs; `slots` at once.
 */
export function spawnBatchesShellExecutor(coordinator: { url: string; executorToken: string }, options: { tmpDir: string; totalJobs: number; slots?: number }): ExecutorProcess {
  return spawnExecutor({
    EXECUTOR_FRONTEND_URL: coordinator.url,
    EXECUTOR_FRONTEND_PASSWORD: coordinator.executorToken,
    EXECUTOR_QUEUE_NAME: 'batches',
    EXECUTOR_RUNTIME: 'shell',
    EXECUTOR_SHELL_ALLOW_SAME_USER: 'true',
    EXECUTOR_NUM_TOTAL_JOBS: String(options.totalJobs),
    ...(options.slots === undefined ? {} : { EXECUTOR_MAXIMUM_NUM_JOBS: String(options.slots) }),
    TMPDIR: options.tmpDir,
  });
}
