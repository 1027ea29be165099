// `npm run step-image`: the step image a newcomer without a registry makes for their jobs, and the one
// the test suite builds its images with. Each test here uses a tag of its own and removes it after.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerTestsEnabled, requireDockerDaemon, STEP_IMAGE_SCRIPT } from '../helpers/docker.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Skipped only where EXECUTORS_TEST_SKIP_DOCKER=1 says a machine has no docker, and never in CI (CI=true).
describe.skipIf(!dockerTestsEnabled())('npm run step-image', () => {
  const run_id = randomBytes(4).toString('hex');
  const tags: string[] = [];
  const tag = (name: string) => {
    const t = `executors-test/step-image-${name}-${run_id}:1`;
    tags.push(t);
    return t;
  };
  afterAll(async () => {
    // Only the images this file made: their tags are unique to this run.
    for (const t of tags) await run('docker', ['rmi', t]).catch(() => {});
  });

  it('builds a busybox step image under the tag given, with its ENV, that docker runs', async () => {
    await requireDockerDaemon();
    const image = tag('run');
    const built = await run('npm', ['run', '--silent', 'step-image', '--', image, 'GREETING=hello there'], { cwd: ROOT, timeout: 120_000 });
    expect(built.stdout).toMatch(new RegExp(`^step-image: built ${image.replace(/[/.:]/g, '\\$&')} \\(sha256:[0-9a-f]{64}\\)`));
    const ran = await run('docker', ['run', '--rm', image, 'sh', '-c', 'echo "$GREETING"; echo "$PATH"; ls -d /tmp /etc/passwd; wc -l < /etc/passwd']);
    expect(ran.stdout.split('\n')).toEqual(['hello there', '/bin', '/etc/passwd', '/tmp', '2', '']);
    // Run again: it is there already.
    expect((await run('sh', [STEP_IMAGE_SCRIPT, image])).stdout).toBe(`step-image: ${image} exists already\n`);
  });

  it('leaves one image and no untagged one when two builds of a tag race', async () => {
    await requireDockerDaemon();
    const image = tag('race');
    const label = `executors.test-run=${run_id}`;
    await Promise.all([run('sh', [STEP_IMAGE_SCRIPT, '--label', label, image], { timeout: 120_000 }), run('sh', [STEP_IMAGE_SCRIPT, '--label', label, image], { timeout: 120_000 })]);
    const { stdout } = await run('docker', ['images', '--all', '--quiet', '--no-trunc', '--filter', `label=${label}`]);
    const ids = [...new Set(stdout.split('\n').filter(Boolean))];
    expect(ids).toHaveLength(1);
    const { stdout: tagged } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
    expect(tagged.trim()).toBe(ids[0]);
  });

  it('says what is wrong with its arguments', async () => {
    const bad = await run('sh', [STEP_IMAGE_SCRIPT, 'executors-test/x:1', 'NOT-A-PAIR']).catch((err: { code: number; stderr: string }) => err);
    expect(bad).toMatchObject({ code: 2, stderr: 'step-image: NOT-A-PAIR: expected NAME=value (an ENV of the image)\n' });
  });
});
