// The executor's container image built from this checkout for tests (deploy/docker/executor.Dockerfile,
// through `npm run images`' own code), under a tag of its own so another checkout's build of
// executors/executor:latest on a shared docker daemon is never what a test runs. FROM the official node
// image when the daemon has it, else from the base image made of Debian's packages (no registry here).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildImages } from '../../scripts/build/images.js';

const run = promisify(execFile);

/** The tests' executor image. */
export const TEST_EXECUTOR_IMAGE = 'executors-test-k8s/executor:latest';

/** The Dockerfile's default base; used when the daemon has it. */
const OFFICIAL_BASE = 'node:20-trixie-slim';

let built: Promise<string> | undefined;

/**
 * Builds TEST_EXECUTOR_IMAGE from the current source (once per test process; docker's layer cache makes a
 * rebuild of unchanged sources quick) and resolves with its tag. Concurrent test processes take turns.
 */
export function ensureTestExecutorImage(): Promise<string> {
  built ??= (async () => {
    const release = await lock(path.join(os.tmpdir(), 'executors-test-k8s-image.lock'));
    try {
      const haveOfficial = await run('docker', ['image', 'inspect', OFFICIAL_BASE]).then(() => true, () => false);
      const [repository, tag] = TEST_EXECUTOR_IMAGE.split('/executor:');
      if (!repository || !tag) throw new Error(`TEST_EXECUTOR_IMAGE must be <repository>/executor:<tag>, not ${TEST_EXECUTOR_IMAGE}`);
      await buildImages({ only: ['executor'], repository, tags: [tag], quiet: true, ...(haveOfficial ? {} : { localBase: true }) });
      return TEST_EXECUTOR_IMAGE;
    } finally {
      await release();
    }
  })();
  return built;
}

/** A lock shared by processes on this machine: a directory made atomically, taken over when its holder is gone. */
async function lock(dir: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'pid'), String(process.pid));
      return () => fs.rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(path.join(dir, 'pid'), 'utf8').catch(() => ''));
      const alive = Number.isInteger(holder) && holder > 0 && (() => {
        try {
          process.kill(holder, 0);
          return true;
        } catch {
          return false;
        }
      })();
      if (!alive && holder > 0) await fs.rm(dir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`waited 15 minutes for ${dir}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
