// Docker for tests: whether the suite may skip docker tests (never in CI), and step images built locally
// with `docker import` of a busybox root filesystem: no registry is reachable from these machines.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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

/** Whether the ELF file at `file` is statically linked: it has no PT_INTERP program header (64-bit little-endian). */
async function isStaticElf(file: string): Promise<boolean> {
  const bytes = await fs.readFile(file).catch(() => undefined);
  if (!bytes || bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (bytes.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP: needs a dynamic loader
  }
  return true;
}

/** The statically linked busybox that the image is made of (Debian's busybox-static). */
async function staticBusybox(): Promise<string> {
  for (const candidate of ['/bin/busybox', '/usr/bin/busybox']) {
    if (await isStaticElf(candidate)) return candidate;
  }
  throw new Error('docker tests build their image from a static busybox: apt-get install -y busybox-static');
}

/**
 * Builds `tag` unless the daemon has it: a root filesystem of a static busybox with every applet linked
 * in /bin, /tmp, /etc/passwd, and `env` entries (`NAME=value`) as the image's ENV. Idempotent.
 */
export async function ensureBusyboxImage(tag = BUSYBOX_IMAGE, env: readonly string[] = []): Promise<string> {
  await requireDockerDaemon();
  const exists = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]).then(() => true, () => false);
  if (exists) return tag;
  const busybox = await staticBusybox();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-test-rootfs-'));
  try {
    await fs.mkdir(path.join(root, 'bin'), { recursive: true });
    await fs.mkdir(path.join(root, 'etc'));
    await fs.mkdir(path.join(root, 'tmp'), { mode: 0o1777 });
    await fs.chmod(path.join(root, 'tmp'), 0o1777);
    await fs.copyFile(busybox, path.join(root, 'bin/busybox'));
    await fs.chmod(path.join(root, 'bin/busybox'), 0o755);
    const { stdout } = await run(busybox, ['--list']);
    for (const applet of stdout.split('\n').filter((a) => a && a !== 'busybox')) {
      await fs.symlink('busybox', path.join(root, 'bin', applet)).catch(() => {});
    }
    await fs.writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    await fs.writeFile(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const tar = path.join(os.tmpdir(), `${path.basename(root)}.tar`);
    await run('tar', ['-C', root, '-cf', tar, '.']);
    const changes = ['ENV PATH=/bin', ...env.map((pair) => `ENV ${pair}`)].flatMap((c) => ['--change', c]);
    await run('docker', ['import', ...changes, tar, tag], { timeout: 120_000 });
    await fs.rm(tar, { force: true });
    return tag;
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

/** IDs of the containers (running or not) that carry label `key=value`. */
export async function containersLabelled(key: string, value: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${key}=${value}`]);
  return stdout.split('\n').filter(Boolean);
}
