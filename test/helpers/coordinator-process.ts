// Runs bin/coordinator as a real child process (built JavaScript, as users run it) and finds its URL.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const COORDINATOR_BIN = path.join(ROOT, 'bin/coordinator');

export interface CoordinatorProcess {
  child: ChildProcess;
  url: string;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export async function spawnCoordinator(env: Record<string, string>, timeoutMs = 60_000): Promise<CoordinatorProcess> {
  if (!fs.existsSync(path.join(ROOT, 'dist/bin/coordinator.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
  const child = spawn(COORDINATOR_BIN, ['serve'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', COORDINATOR_ADDR: '127.0.0.1:0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /coordinator listening url=(\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited with ${code} before listening:\n${stderr}`));
    });
  });
  return { child, url, log: () => stderr, exited };
}
