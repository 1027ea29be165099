// existingContainers against a real docker daemon: what the runtime's removal loop asks after a
// `docker rm --force` that failed ("removal already in progress", a timeout) to know whether it is done.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, dockerTestsEnabled, ensureBusyboxImage } from '../../../../test/helpers/docker.js';
import { dockerCliEnv, existingContainers } from './docker-cli.js';

const run = promisify(execFile);

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, and never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('existingContainers', () => {
  const name = `executors-test-exists-${randomBytes(4).toString('hex')}`;
  let id = '';
  beforeAll(async () => {
    await ensureBusyboxImage();
    id = (await run('docker', ['create', '--name', name, BUSYBOX_IMAGE, 'true'])).stdout.trim();
  }, 120_000);
  afterAll(async () => {
    await run('docker', ['rm', '--force', name]).catch(() => undefined);
  });

  it('names the containers that exist, by name or by id prefix, and leaves out those that do not', async () => {
    const env = dockerCliEnv();
    expect(await existingContainers([name, `${name}-gone`], env)).toEqual([name]);
    expect(await existingContainers([id.slice(0, 12), 'executors-test-no-such-container'], env)).toEqual([id.slice(0, 12)]);
    await run('docker', ['rm', '--force', name]);
    expect(await existingContainers([name, id.slice(0, 12)], env)).toEqual([]);
  });

  it('assumes they all exist when the daemon cannot be asked', async () => {
    const env = { ...dockerCliEnv(), DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
    expect(await existingContainers([name], env)).toEqual([name]);
  });
});
