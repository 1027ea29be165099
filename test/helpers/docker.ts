// Docker for tests: whether the suite may skip docker tests (never in CI), and step images built locally
// by scripts/step-image.sh (`docker import` of a busybox root filesystem): no registry is reachable here.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The image most docker tests run their steps in: busybox's sh and tools, no bash. */
export const BUSYBOX_IMAGE = 'executors-test/busybox:1';

/**
 * Whether docker tests run. Always in CI (a missing daemon fails them there, with a message naming it);
 * elsewhere too, unless EXECUTORS_TEST_SKIP_DOCKER=1 says this machine has no docker.
 */
export function dockerTestsEnabled(): boolean {
  return process.env.CI === 'true' || process.env.EXECUTORS_TEST_SKIP_DOCKER !== '1';
}

/** Throws a message that says what to do when the docker daemon does not answer. */
export async function requireDockerDaemon(): Promise<string> {
  try {
    const { stdout } = await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 20_000 });
    return stdout.trim();
  } catch (err) {
    throw new Error(
      `docker tests need a docker daemon: start dockerd (apt-get install -y docker.io; dockerd &), or set EXECUTORS_TEST_SKIP_DOCKER=1 outside CI. (${(err as Error).message.split('\n')[0]})`,
    );
  }
}

/** The command the project ships for a step image without a registry (README, Quick start). */
export const STEP_IMAGE_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/step-image.sh');

/**
 * Builds `tag` unless the daemon has it, with the project's own `scripts/step-image.sh`: a root filesystem
 * of a static busybox with every applet linked in /bin, /tmp, /etc/passwd, and `env` entries
 * (`NAME=value`) as the image's ENV. Idempotent, and safe to call from several test files at once: the
 * tags are the suite's (`executors-test/…`), reused from run to run, and a race leaves no untagged image.
 */
export async function ensureBusyboxImage(tag = BUSYBOX_IMAGE, env: readonly string[] = [], options: { labels?: Record<string, string> } = {}): Promise<string> {
  await requireDockerDaemon();
  const exists = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]).then(() => true, () => false);
  if (exists) return tag;
  const labels = Object.entries(options.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  try {
    await run('sh', [STEP_IMAGE_SCRIPT, ...labels, tag, ...env], { timeout: 120_000 });
  } catch (err) {
    throw new Error(`building the step image ${tag} failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
  }
  return tag;
}

/** IDs of the containers (running or not) that carry label `key=value`. */
export async function containersLabelled(key: string, value: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${key}=${value}`]);
  return stdout.split('\n').filter(Boolean);
}
