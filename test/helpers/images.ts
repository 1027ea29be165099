// The container images for tests: `npm run images -- --local-base` (the base image from Debian's packages,
// cached by its inputs; no registry is reachable here) under a tag of this test run's own, so concurrent
// runs and other checkouts never replace each other's images. remove() deletes only those tags.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { buildImages } from '../../scripts/build/images.js';
import { requireDockerDaemon } from './docker.js';

const run = promisify(execFile);

export interface TestImages {
  /** The tag both images have, e.g. `test-1a2b3c4d`. */
  tag: string;
  executor: string;
  coordinator: string;
  remove(): Promise<void>;
}

export async function buildTestImages(): Promise<TestImages> {
  await requireDockerDaemon();
  const tag = `test-${randomBytes(4).toString('hex')}`;
  const made = await buildImages({ localBase: true, tags: [tag], quiet: true });
  return {
    tag,
    executor: `executors/executor:${tag}`,
    coordinator: `executors/coordinator:${tag}`,
    remove: async () => {
      // Untag only: the layers stay cached for the next build.
      await run('docker', ['rmi', ...made]).catch(() => {});
    },
  };
}
